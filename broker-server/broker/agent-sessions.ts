/**
 * One agent per printer (issue 24). MQTT lets a second client with the same id take the session of the
 * first, so two agents started with one printer's id and token (a service and a manual run, settings
 * copied to a second PC) take it from each other again and again, and a job in flight can reach both. The
 * embedded broker asks here, at CONNECT, before that happens: the same agent reconnecting (same `instance`
 * in its Last Will) goes through; another one is refused (CONNACK 2) while the first is connected, unless it
 * was started with --takeover, in which case the first is closed, the printer's unfinished jobs are ended
 * `interrupted` (the first agent may hold them) before the newcomer is let in, and it starts a clean session.
 * Either way the server logs it with both machines' names, and the page and GET /printers show it.
 */
import type { Logger } from '../../runtime/logger';
import { type AgentIdentity, parseStatusMessage } from '../../protocol/messages';

export interface SessionEvent {
  printerId: string;
  /** `refused`: a second agent was kept out; `taken-over`: it replaced the first (--takeover). */
  outcome: 'refused' | 'taken-over';
  /** The agent that held the session, and the other one. */
  holder: { host: string; instance: string };
  other: { host: string; instance: string };
  at: string;
  /**
   * `refused`: how many times `other` has been refused so far (it tries again from time to time);
   * `taken-over`: how many times the replaced agent (`holder`) has been refused since (0: not yet).
   */
  attempts: number;
}

interface Will {
  payload?: Buffer | string;
}

/** The agent a CONNECT's Last Will names, if it is an agent of issue 24 or later. */
export function agentOfWill(will: Will | null | undefined): AgentIdentity | null {
  if (!will?.payload) return null;
  const parsed = parseStatusMessage(Buffer.isBuffer(will.payload) ? will.payload : Buffer.from(will.payload));
  return parsed.ok ? (parsed.value.agent ?? null) : null;
}

/** Refusals of the same agent are logged at most this often. */
const REFUSAL_LOG_EVERY_MS = 60_000;

export class AgentSessions {
  private readonly log: Logger;
  private readonly last = new Map<string, SessionEvent>();
  private readonly logged = new Map<string, number>();
  /** Told of each event (the printer registry shows the last one). */
  onEvent: (event: SessionEvent) => void = () => undefined;
  /** Ends the printer's unfinished jobs after a takeover; resolves once committed. */
  onTakeover: (event: SessionEvent) => Promise<void> = async () => undefined;

  constructor(log: Logger) {
    this.log = log.child({ module: 'sessions' });
  }

  /** The last event of a printer, if any since the server started. */
  lastEvent(printerId: string): SessionEvent | null {
    return this.last.get(printerId) ?? null;
  }

  /**
   * Whether a printer's agent, connecting with `newcomer` as its will, may take the session `holder`'s will
   * belongs to (the client connected now with that id, if any). `closeHolder` closes that client.
   */
  async admit(
    printerId: string,
    newcomerWill: Will | null | undefined,
    holderWill: Will | null | undefined,
    closeHolder: () => void,
  ): Promise<boolean> {
    const newcomer = agentOfWill(newcomerWill);
    const holder = agentOfWill(holderWill);
    // Agents older than issue 24 say nothing of themselves: MQTT's own rule (the newcomer wins) applies.
    if (!newcomer || !holder || newcomer.instance === holder.instance) return true;
    const previous = this.last.get(printerId);
    if (!newcomer.takeover && previous?.outcome === 'taken-over' && previous.holder.instance === newcomer.instance) {
      // The replaced agent trying again: refused, and the takeover stays what the page shows.
      previous.attempts++;
      this.logRefusal(printerId, newcomer, holder, previous.attempts);
      this.onEvent(previous);
      return false;
    }
    const event: SessionEvent = {
      printerId,
      outcome: newcomer.takeover ? 'taken-over' : 'refused',
      holder: { host: holder.host, instance: holder.instance },
      other: { host: newcomer.host, instance: newcomer.instance },
      at: new Date().toISOString(),
      attempts: newcomer.takeover
        ? 0
        : previous?.outcome === 'refused' && previous.other.instance === newcomer.instance
          ? previous.attempts + 1
          : 1,
    };
    this.last.set(printerId, event);
    const fields = { printerId, holderHost: holder.host, otherHost: newcomer.host, attempts: event.attempts };
    if (event.outcome === 'taken-over') {
      this.log.warn(
        fields,
        `the agent on ${newcomer.host} took ${printerId}'s session from the agent on ${holder.host} (--takeover); ${printerId}'s unfinished jobs end interrupted`,
      );
      closeHolder(); // nothing more reaches the first agent from here on
      await this.onTakeover(event);
    } else {
      this.logRefusal(printerId, newcomer, holder, event.attempts);
    }
    this.onEvent(event);
    return event.outcome === 'taken-over';
  }

  private logRefusal(printerId: string, newcomer: AgentIdentity, holder: AgentIdentity, attempts: number): void {
    const key = `${printerId}|${newcomer.instance}`;
    if (Date.now() - (this.logged.get(key) ?? 0) < REFUSAL_LOG_EVERY_MS) return;
    this.logged.set(key, Date.now());
    this.log.warn(
      { printerId, holderHost: holder.host, otherHost: newcomer.host, attempts },
      `a second agent for ${printerId}, on ${newcomer.host}, was refused: the agent on ${holder.host} holds its session (stop one of them, or start the new one with --takeover)`,
    );
  }
}
