/**
 * The printers: those configured and those whose agent has been seen, with what each agent last said.
 * Status messages are written one at a time per printer; every change is announced as a `printer` event.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../../config/logger';
import type { StatusMessage } from '../../protocol/messages';
import type { JobStore, PrinterRecord } from '../store/job-store';

export interface PrinterInfo {
  id: string;
  state: 'online' | 'offline' | 'unknown';
  /** What the agent last said of the printer itself (`ok`, `paper-out`, ...: protocol PRINTER_CONDITIONS), while online. */
  condition: string | null;
  detail: string | null;
  columns: number | null;
  codepage: string | null;
  lastSeenAt: string | null;
  configured: boolean;
}

export interface PrinterRegistryEvents {
  printer: [PrinterInfo];
}

export class PrinterRegistry extends EventEmitter<PrinterRegistryEvents> {
  private readonly log: Logger;
  /** Printers whose agent has been seen, so that accepting a job needs no query. */
  private readonly seen = new Set<string>();
  private readonly statusWrites = new Map<string, Promise<PrinterInfo>>();

  constructor(
    private readonly store: JobStore,
    private readonly configured: readonly string[],
    log: Logger,
  ) {
    super();
    this.setMaxListeners(0); // one listener per open event stream
    this.log = log.child({ module: 'printers' });
  }

  async list(): Promise<PrinterInfo[]> {
    const byId = new Map((await this.store.printers()).map((r) => [r.id, r]));
    const ids = [...new Set([...this.configured, ...byId.keys()])].sort();
    return ids.map((id) => this.toPrinter(id, byId.get(id)));
  }

  async get(id: string): Promise<PrinterInfo | null> {
    const record = await this.store.printer(id);
    if (!record && !this.configured.includes(id)) return null;
    return this.toPrinter(id, record ?? undefined);
  }

  /** A printer may receive jobs once configured or once its agent has been seen. */
  async isKnown(id: string): Promise<boolean> {
    if (this.configured.includes(id) || this.seen.has(id)) return true;
    // Another server instance may have seen it: the database has the last word.
    if (!(await this.store.printer(id))) return false;
    this.seen.add(id);
    return true;
  }

  /**
   * Applied one at a time per printer, in arrival order: the broker hands messages over concurrently,
   * and an older status written last would hide the newer one (`ok` over `paper-out`).
   */
  recordStatus(printerId: string, status: StatusMessage): Promise<PrinterInfo> {
    const previous = this.statusWrites.get(printerId) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.writeStatus(printerId, status));
    this.statusWrites.set(printerId, run);
    void run.finally(() => {
      if (this.statusWrites.get(printerId) === run) this.statusWrites.delete(printerId);
    }).catch(() => undefined);
    return run;
  }

  /** At start-up no agent is connected to a fresh embedded broker yet (an external broker's retained statuses say who is). */
  markAllOffline(): Promise<void> {
    return this.store.markAllOffline();
  }

  private async writeStatus(printerId: string, status: StatusMessage): Promise<PrinterInfo> {
    await this.store.writePrinterStatus(printerId, {
      state: status.state,
      detail: status.detail ?? null,
      condition: status.state === 'online' ? (status.printer ?? null) : null,
      at: new Date(),
      ...(status.columns ? { columns: status.columns } : {}),
      ...(status.codepage ? { codepage: status.codepage } : {}),
    });
    this.seen.add(printerId);
    const info = (await this.get(printerId))!;
    this.log.info({ printerId, state: info.state, condition: info.condition ?? undefined, detail: info.detail ?? undefined }, 'printer status');
    this.emit('printer', info);
    return info;
  }

  private toPrinter(id: string, record: PrinterRecord | undefined): PrinterInfo {
    return {
      id,
      state: record ? (record.state === 'online' ? 'online' : 'offline') : 'unknown',
      condition: record?.state === 'online' ? record.condition : null,
      detail: record?.detail ?? null,
      columns: record?.columns ?? null,
      codepage: record?.codepage ?? null,
      lastSeenAt: record?.lastSeenAt ?? null,
      configured: this.configured.includes(id),
    };
  }
}
