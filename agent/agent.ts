/** The agent's composition root: its parts started in order (journal, broker link, print agent) and stopped in reverse. */
import type { AgentConfig } from '../config';
import { Lifecycle, part } from '../runtime/lifecycle';
import { type Logger, urlForLog } from '../runtime/logger';
import { Journal } from './journal';
import { BrokerLink } from './link';
import { PrintAgent } from './print-agent';
import { createTransport } from './printers';

export interface RunningAgent {
  readonly journal: Journal;
  readonly link: BrokerLink;
  stop(): Promise<void>;
}

const DAY_MS = 24 * 60 * 60 * 1000;

export async function startAgent(
  config: AgentConfig,
  log: Logger,
  options: { takeover?: boolean } = {},
): Promise<RunningAgent> {
  const journal = new Journal(config.dataDir, config.journalRetentionDays * DAY_MS, log.child({ module: 'journal' }));
  const transport = createTransport(config.printer, config.printerTimeoutMs, { cupsServer: config.cupsServer });
  const link = new BrokerLink(config, log, options);
  const agent = new PrintAgent(config, journal, transport, link, log);
  const lifecycle = new Lifecycle(log);
  await lifecycle.start([
    journal,
    // Connected by the print agent once it has recovered its journal, so that no job arrives before;
    // disconnected after it has finished the receipt in progress, so that its ack still goes out.
    part(
      'link',
      () => undefined,
      () => link.stop(),
    ),
    agent,
  ]);
  log.info(
    {
      module: 'agent',
      printerId: config.printerId,
      printer: transport.description,
      broker: urlForLog(config.mqttUrl),
      journal: journal.path,
    },
    'agent started',
  );

  return { journal, link, stop: () => lifecycle.stop() };
}
