/**
 * The printer registry's accounts: which printers exist and their MQTT tokens, managed live (add, rotate,
 * remove) from the admin page, the admin API and `npm run printers`. Tokens are generated here, shown once
 * to whoever asked, and stored only as their SHA-256; a check is constant-time. Each change takes effect at
 * once: the embedded broker authenticates against `verify`, and a `BrokerAccountControl` (the embedded
 * broker's kick, or Mosquitto's dynamic security) closes a rotated or removed printer's connection. The
 * jobs of a removed printer that never printed end `failed` through the job state machine.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from '../../runtime/logger';
import { EventBus, type EventChannel } from '../event-bus';
import { isPrinterAccount, RESERVED_USERNAMES } from '../../protocol/accounts';
import { generateToken } from '../broker/tokens';
import type { BrokerAccountControl } from '../broker/account-control';
import type { PrinterAccountStore } from '../store/printer-account-store';

export type { BrokerAccountControl } from '../broker/account-control';

/** What removing a printer asks of its jobs (jobs/job-service.ts answers): the unfinished ones, failed. */
export interface RemovedPrinterJobs {
  queries: { unfinished(printerId: string): Promise<Array<{ id: number }>> };
  transition(id: number, to: 'failed', opts: { printerId: string; error: string }): Promise<{ changed: boolean }>;
}

/** A refused registry operation: its HTTP status and what the French page shows. */
export class PrinterAdminError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly messageFr: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'PrinterAdminError';
  }
}

export interface PrinterAccountInfo {
  printerId: string;
  createdAt: string;
  updatedAt: string;
}

export interface IssuedToken {
  printerId: string;
  /** Shown once; never stored in clear, never logged. */
  token: string;
}

export interface RemovedPrinter {
  printerId: string;
  /** Unfinished jobs that ended `failed`. */
  failedJobs: number[];
}

export const REMOVED_PRINTER_ERROR = 'printer removed from the registry before the job was printed';

export const hashToken = (token: string | Buffer): string => createHash('sha256').update(token).digest('hex');

export type PrinterRegistryEvents = {
  /** A printer was added, rotated or removed (here or, once refreshed, by another instance). */
  'printer-account': [{ printerId: string; change: 'added' | 'rotated' | 'removed' }];
};

export class PrinterRegistry {
  readonly name = 'printer accounts';
  private readonly log: Logger;
  /** Active printers and their token hash; the embedded broker's authentication reads this. */
  private hashes = new Map<string, Buffer>();
  private removed = new Set<string>();
  /** Compared against for an unknown printer, so that it costs as long as a known one. */
  private readonly decoy = createHash('sha256').update(generateToken()).digest();
  /** One operation at a time per printer, so that nothing is half done by two admins at once. */
  private readonly locks = new Map<string, Promise<unknown>>();
  private refreshTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: PrinterAccountStore,
    private readonly jobs: RemovedPrinterJobs,
    private readonly options: {
      /** Printers of PRINTERS with their token (from the token file or PRINTER_TOKENS): created when absent. */
      seed: () => Record<string, string>;
      control?: BrokerAccountControl | null;
      /** Other instances may change the registry (PostgreSQL): read it again this often (0: never). */
      refreshMs?: number;
      /** Told of a rotated (new token) or removed (null) printer, for the token file of PRINTERS' printers. */
      keepToken?: (printerId: string, token: string | null) => void;
    },
    log: Logger,
    /** Where it says a printer was added, rotated or removed (the server's one bus; its own when absent). */
    readonly events: EventChannel<PrinterRegistryEvents> = new EventBus<PrinterRegistryEvents>(),
  ) {
    this.log = log.child({ module: 'printer-registry' });
  }

  async start(): Promise<void> {
    for (const [printerId, token] of Object.entries(this.options.seed())) {
      if (await this.store.seed(printerId, hashToken(token)))
        this.log.info({ printerId }, 'printer added to the registry from PRINTERS');
    }
    await this.refresh();
    const every = this.options.refreshMs ?? 0;
    if (every > 0) {
      this.refreshTimer = setInterval(
        () => void this.refresh().catch((err: unknown) => this.log.warn({ err }, 'registry refresh failed')),
        every,
      );
      this.refreshTimer.unref();
    }
  }

  stop(): void {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
  }

  /** Reads the registry again (changes made by other instances). */
  async refresh(): Promise<void> {
    const rows = await this.store.all();
    const hashes = new Map<string, Buffer>();
    const removed = new Set<string>();
    for (const row of rows) {
      if (row.tokenHash) hashes.set(row.printerId, Buffer.from(row.tokenHash, 'hex'));
      else removed.add(row.printerId);
    }
    const before = this.hashes;
    this.hashes = hashes;
    this.removed = removed;
    for (const id of hashes.keys())
      if (!before.has(id)) this.events.emit('printer-account', { printerId: id, change: 'added' });
    for (const id of before.keys())
      if (!hashes.has(id)) this.events.emit('printer-account', { printerId: id, change: 'removed' });
  }

  /** Printers of the registry, sorted. */
  activeIds(): string[] {
    return [...this.hashes.keys()].sort();
  }

  isActive(printerId: string): boolean {
    return this.hashes.has(printerId);
  }

  isRemoved(printerId: string): boolean {
    return !this.hashes.has(printerId) && this.removed.has(printerId);
  }

  /** Whether another instance added it since the last refresh: one query, for an id not known here. */
  async lookup(printerId: string): Promise<boolean> {
    if (this.hashes.has(printerId)) return true;
    const row = await this.store.get(printerId);
    if (!row?.tokenHash) return false;
    this.hashes.set(printerId, Buffer.from(row.tokenHash, 'hex'));
    this.removed.delete(printerId);
    return true;
  }

  /** Constant time: the password is hashed, and an unknown printer is compared against a decoy. */
  verify(printerId: string, password: string | Buffer): boolean {
    const expected = this.hashes.get(printerId);
    const given = createHash('sha256').update(password).digest();
    return timingSafeEqual(given, expected ?? this.decoy) && expected !== undefined;
  }

  async list(): Promise<PrinterAccountInfo[]> {
    return (await this.store.all())
      .filter((r) => r.tokenHash)
      .map((r) => ({ printerId: r.printerId, createdAt: r.createdAt, updatedAt: r.updatedAt }));
  }

  async add(printerId: unknown): Promise<IssuedToken> {
    const id = validId(printerId);
    return this.serially(id, async () => {
      if (this.hashes.has(id) || (await this.store.get(id))?.tokenHash) throw exists(id);
      const token = generateToken();
      // The broker first: if it refuses, nothing is stored.
      await this.options.control?.addPrinter(id, token);
      if (!(await this.store.add(id, hashToken(token)))) {
        await this.options.control?.removePrinter(id).catch(() => undefined);
        throw exists(id);
      }
      this.hashes.set(id, Buffer.from(hashToken(token), 'hex'));
      this.removed.delete(id);
      this.log.info({ printerId: id }, 'printer added');
      this.events.emit('printer-account', { printerId: id, change: 'added' });
      return { printerId: id, token };
    });
  }

  async rotate(printerId: unknown): Promise<IssuedToken> {
    const id = validId(printerId);
    return this.serially(id, async () => {
      await this.requireActive(id);
      const token = generateToken();
      const control = this.options.control;
      if (control && !control.readsRegistry) await control.setToken(id, token);
      // On the embedded broker the old token is refused from the moment this commits.
      if (!(await this.store.rotate(id, hashToken(token)))) throw unknown(id);
      this.hashes.set(id, Buffer.from(hashToken(token), 'hex'));
      if (control?.readsRegistry) await control.setToken(id, token);
      this.keepToken(id, token);
      this.log.info({ printerId: id }, 'printer token rotated; its connection was closed');
      this.events.emit('printer-account', { printerId: id, change: 'rotated' });
      return { printerId: id, token };
    });
  }

  /**
   * Removes the printer. With unfinished jobs, refused unless `force`: those that never printed then end
   * `failed` with the reason (a job the agent is printing right now may still be on paper).
   */
  async remove(printerId: unknown, options: { force?: boolean } = {}): Promise<RemovedPrinter> {
    const id = validId(printerId);
    return this.serially(id, async () => {
      await this.requireActive(id);
      const unfinished = await this.jobs.queries.unfinished(id);
      if (unfinished.length && !options.force) {
        throw new PrinterAdminError(
          409,
          `printer ${id} has ${unfinished.length} unfinished job(s); remove it with force to fail them`,
          `L’imprimante ${id} a ${unfinished.length} tâche(s) non imprimée(s) : confirmez la suppression, elles passeront en échec.`,
          { printerId: id, unfinishedJobs: unfinished.map((j) => j.id) },
        );
      }
      const control = this.options.control;
      if (control && !control.readsRegistry) await control.removePrinter(id);
      if (!(await this.store.remove(id))) throw unknown(id);
      this.hashes.delete(id);
      this.removed.add(id);
      if (control?.readsRegistry) await control.removePrinter(id);
      this.keepToken(id, null);
      const failedJobs: number[] = [];
      for (const job of unfinished) {
        const result = await this.jobs.transition(job.id, 'failed', { printerId: id, error: REMOVED_PRINTER_ERROR });
        if (result.changed) failedJobs.push(job.id);
      }
      this.log.info({ printerId: id, failedJobs: failedJobs.length }, 'printer removed; its connection was closed');
      this.events.emit('printer-account', { printerId: id, change: 'removed' });
      return { printerId: id, failedJobs };
    });
  }

  private keepToken(id: string, token: string | null): void {
    try {
      this.options.keepToken?.(id, token);
    } catch (err) {
      this.log.warn({ err, printerId: id }, 'the token file could not be updated');
    }
  }

  private async requireActive(id: string): Promise<void> {
    if (!(await this.lookup(id))) throw unknown(id);
  }

  private serially<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.locks.get(id) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(fn);
    this.locks.set(id, run);
    void run
      .finally(() => {
        if (this.locks.get(id) === run) this.locks.delete(id);
      })
      .catch(() => undefined);
    return run;
  }
}

function validId(value: unknown): string {
  if (typeof value === 'string' && RESERVED_USERNAMES.includes(value)) {
    throw new PrinterAdminError(
      400,
      `${JSON.stringify(value)} is a reserved account name`,
      `« ${value} » est un nom réservé (compte MQTT du serveur).`,
    );
  }
  if (!isPrinterAccount(value)) {
    const shown = typeof value === 'string' ? value.slice(0, 80) : '';
    throw new PrinterAdminError(
      400,
      'a printer id is 1-64 characters of A-Z a-z 0-9 _ -',
      `Identifiant invalide${shown ? ` (« ${shown} »)` : ''} : 1 à 64 caractères parmi A-Z a-z 0-9 _ -.`,
    );
  }
  return value;
}

const exists = (id: string) =>
  new PrinterAdminError(409, `printer ${id} already exists`, `L’imprimante ${id} existe déjà.`);
const unknown = (id: string) =>
  new PrinterAdminError(404, `no printer ${id} in the registry`, `Aucune imprimante ${id} dans le registre.`);

/** An external broker with static password and ACL files cannot follow the registry: every change is refused. */
export const staticBrokerFilesRefusal = (): PrinterAdminError =>
  new PrinterAdminError(
    409,
    'the external broker uses static password and ACL files: set MQTT_DYNSEC=true (Mosquitto dynamic security), or change PRINTERS and run npm run mosquitto-files',
    'Le broker externe utilise des fichiers de mots de passe fixes : activez MQTT_DYNSEC (sécurité dynamique de Mosquitto) ou régénérez-les avec npm run mosquitto-files.',
  );
