/**
 * The printers: those configured and those whose agent has been seen, with what each agent last said.
 * Status messages are written one at a time per printer; every change is announced as a `printer` event.
 */
import type { Logger } from '../../runtime/logger';
import { EventBus, type EventChannel } from '../event-bus';
import type { AgentFault, StatusMessage } from '../../protocol/messages';
import type { SessionEvent } from '../broker/agent-sessions';
import type { PrintStore, PrinterRecord } from '../store/print-store';

export interface PrinterInfo {
  id: string;
  state: 'online' | 'offline' | 'unknown';
  /** What the agent last said of the printer itself (`ok`, `paper-out`, ...: protocol PRINTER_CONDITIONS), while online. */
  condition: string | null;
  detail: string | null;
  columns: number | null;
  codepage: string | null;
  lastSeenAt: string | null;
  /** In the printer registry (printer-registry.ts). */
  configured: boolean;
  /** What the agent said of itself in its last status; null for an agent older than issue 14. */
  agent: AgentInfo | null;
  /** The last time a second agent with this printer's id and token was refused or took over (since the server started). */
  session: SessionEvent | null;
  /**
   * While online: `degraded` when the agent says something keeps it from moving jobs (`fault` says what:
   * a full disk, a printer it cannot open...); null for agents older than issue 25, and while offline.
   */
  health: 'ok' | 'degraded' | null;
  fault: AgentFault | null;
  /** Jobs the stall watchdog has published again several times without progress (jobs/stall-watchdog.ts). */
  stalled: StalledJobs | null;
}

export interface StalledJobs {
  /** How many jobs of this printer have not moved after several publications. */
  count: number;
  /** The oldest of them, and since when nothing has moved. */
  firstJobId: number;
  since: string;
}

/** What the stall watchdog knows of a printer's stalled jobs (this instance's own watch). */
export type StalledJobsSource = (printerId: string) => StalledJobs | null;

export interface AgentInfo {
  version?: string;
  /** The machine it runs on (issue 24). */
  host?: string;
  /** `linux-arm64`, `win32-x64`, …, from agents of issue 23 on. */
  platform?: string;
  /** Seconds since the agent started, when it sent its status at `reportedAt`. */
  uptimeS?: number;
  journalSize?: number;
  lastJob?: { id: number; at: string; ms: number };
  reportedAt?: string;
  health?: 'ok' | 'degraded';
  fault?: AgentFault;
}

/** Which printers exist: the printer registry (printers/printer-registry.ts), or a fixed list in tests. */
export interface PrinterRoster {
  activeIds(): string[];
  isActive(id: string): boolean;
  isRemoved(id: string): boolean;
  /** Asks the database when the id is not known here (another instance may have added it). */
  lookup(id: string): Promise<boolean>;
}

/** A fixed list (tests, tools): nothing is ever removed. */
export function fixedRoster(ids: readonly string[]): PrinterRoster {
  return {
    activeIds: () => [...ids].sort(),
    isActive: (id) => ids.includes(id),
    isRemoved: () => false,
    lookup: async (id) => ids.includes(id),
  };
}

export type PrinterStatusListEvents = {
  /** A printer's status, agent, session or registry entry changed: the page and the streams show it. */
  printer: [PrinterInfo];
};

export class PrinterStatusList {
  private readonly log: Logger;
  /** Printers whose agent has been seen, so that accepting a job needs no query. */
  private readonly seen = new Set<string>();
  private readonly statusWrites = new Map<string, Promise<PrinterInfo>>();
  private readonly sessionEvents = new Map<string, SessionEvent>();

  private readonly roster: PrinterRoster;
  private stalls: StalledJobsSource = () => null;

  constructor(
    private readonly store: PrintStore,
    roster: PrinterRoster | readonly string[],
    log: Logger,
    /** Where it says a printer changed (the server's one bus; its own when absent). */
    readonly events: EventChannel<PrinterStatusListEvents> = new EventBus<PrinterStatusListEvents>(),
  ) {
    this.log = log.child({ module: 'printers' });
    this.roster = Array.isArray(roster) ? fixedRoster(roster as readonly string[]) : (roster as PrinterRoster);
  }

  /** Where `stalled` comes from: the stall watchdog, once it runs. */
  useStalls(source: StalledJobsSource): void {
    this.stalls = source;
  }

  /** A registry change: the page and the streams hear of it as a printer event. */
  async announce(id: string): Promise<void> {
    const info = (await this.get(id)) ?? this.toPrinter(id, undefined);
    this.events.emit('printer', info);
  }

  async list(): Promise<PrinterInfo[]> {
    const byId = new Map((await this.store.printers()).map((r) => [r.id, r]));
    const ids = [...new Set([...this.roster.activeIds(), ...byId.keys()])]
      .filter((id) => !this.roster.isRemoved(id))
      .sort();
    return ids.map((id) => this.toPrinter(id, byId.get(id)));
  }

  async get(id: string): Promise<PrinterInfo | null> {
    if (this.roster.isRemoved(id)) return null;
    const record = await this.store.printer(id);
    if (!record && !this.roster.isActive(id)) return null;
    return this.toPrinter(id, record ?? undefined);
  }

  /** A printer may receive jobs once configured or once its agent has been seen. */
  async isKnown(id: string): Promise<boolean> {
    if (this.roster.isActive(id)) return true;
    if (this.roster.isRemoved(id)) return false;
    if (this.seen.has(id) || (await this.roster.lookup(id))) return true;
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
    void run
      .finally(() => {
        if (this.statusWrites.get(printerId) === run) this.statusWrites.delete(printerId);
      })
      .catch(() => undefined);
    return run;
  }

  /** A second agent was refused, or took the session (broker/agent-sessions.ts): shown until the next one. */
  noteSession(event: SessionEvent): void {
    this.sessionEvents.set(event.printerId, event);
    void this.announce(event.printerId).catch((err: unknown) =>
      this.log.error({ err, printerId: event.printerId }, 'printer announcement failed'),
    );
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
      ...(status.state === 'online' && (status.uptimeS !== undefined || status.version || status.health)
        ? {
            agentInfo: JSON.stringify({
              version: status.version,
              host: status.agent?.host,
              platform: status.platform,
              uptimeS: status.uptimeS,
              journalSize: status.journalSize,
              lastJob: status.lastJob,
              reportedAt: status.at ?? new Date().toISOString(),
              health: status.health,
              fault: status.fault,
            }),
          }
        : {}),
    });
    this.seen.add(printerId);
    const info = (await this.get(printerId))!;
    this.log.info(
      {
        printerId,
        state: info.state,
        condition: info.condition ?? undefined,
        detail: info.detail ?? undefined,
        health: info.health ?? undefined,
        fault: info.fault?.detail,
      },
      'printer status',
    );
    this.events.emit('printer', info);
    return info;
  }

  private toPrinter(id: string, record: PrinterRecord | undefined): PrinterInfo {
    const agent = parseAgentInfo(record?.agentInfo ?? null);
    const online = record?.state === 'online';
    const { health, fault, ...said } = agent ?? {};
    return {
      id,
      state: record ? (record.state === 'online' ? 'online' : 'offline') : 'unknown',
      condition: record?.state === 'online' ? record.condition : null,
      detail: record?.detail ?? null,
      columns: record?.columns ?? null,
      codepage: record?.codepage ?? null,
      lastSeenAt: record?.lastSeenAt ?? null,
      configured: this.roster.isActive(id),
      agent: agent ? said : null,
      session: this.sessionEvents.get(id) ?? null,
      health: online ? (health ?? null) : null,
      fault: online ? (fault ?? null) : null,
      stalled: this.stalls(id),
    };
  }
}

function parseAgentInfo(text: string | null): AgentInfo | null {
  if (!text) return null;
  try {
    return JSON.parse(text) as AgentInfo;
  } catch {
    return null;
  }
}
