/**
 * The printers area: the printer registry (PrinterRegistry: add, rotate, remove, verify tokens) and the
 * printers' status list (PrinterStatusList), told of the broker's session events and of registry changes.
 */
import { part, type Part } from '../../runtime/lifecycle';
import { PairingService } from '../pairing/pairing-service';
import { PrinterRegistry } from '../printers/printer-registry';
import { PrinterStatusList } from '../printers/printer-status-list';
import type { BrokerArea } from './broker';
import { printerSeed } from './broker';
import type { ServerContext } from './context';
import type { JobsArea } from './jobs';
import type { StorageArea } from './storage';

export interface PrintersArea {
  /** The printer registry (add, rotate, remove printers live). */
  accounts: PrinterRegistry;
  /** Each printer's status, agent and session, as the page and GET /printers show them. */
  status: PrinterStatusList;
  /** Agents pairing with a code printed on their printer, approved by the admin. */
  pairing: PairingService;
  parts: { offline: Part; registry: Part };
}

export function buildPrinters(
  { config, log, events }: ServerContext,
  needs: { storage: StorageArea; jobs: JobsArea; broker: BrokerArea },
): PrintersArea {
  const { storage, jobs, broker } = needs;
  const accounts = new PrinterRegistry(
    storage.db.createPrinterAccountStore(),
    jobs.service,
    {
      seed: () => printerSeed(broker.accounts),
      control: broker.control,
      refreshMs: config.databaseUrl ? config.registryRefreshMs : 0,
      keepToken: (id, token) => broker.accounts.replacePrinterToken(id, token),
    },
    log,
    events,
  );
  broker.accounts.usePrinterRegistry(accounts);
  const status = new PrinterStatusList(storage.store, accounts, log, events);
  broker.sessions.onEvent = (event) => status.noteSession(event);
  broker.sessions.onTakeover = async (event) => {
    await jobs.service.interruptUnfinished(
      event.printerId,
      `unfinished when the agent on ${event.other.host} took this printer's session from the agent on ${event.holder.host} (--takeover): it may have been printed there; reprint it if it is not on paper`,
    );
  };
  events.on(
    'printer-account',
    ({ printerId }) =>
      void status
        .announce(printerId)
        .catch((err: unknown) => log.error({ err, printerId }, 'printer change not announced')),
  );
  const pairing = new PairingService(
    storage.db.createPairingStore(),
    accounts,
    { enabled: config.pairing.enabled, codeMs: config.pairing.codeMs, ratePerMinute: config.pairing.ratePerMinute },
    log,
  );
  return {
    accounts,
    status,
    pairing,
    parts: {
      // Other instances' agents stay connected to an external broker, whose retained statuses tell.
      offline: part(
        'printers',
        () => (config.mqttUrl ? undefined : status.markAllOffline()),
        () => undefined,
      ),
      registry: part(
        'printer registry',
        () => accounts.start(),
        () => accounts.stop(),
      ),
    },
  };
}
