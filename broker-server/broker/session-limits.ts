/**
 * Persistent MQTT sessions of the embedded broker, bounded (issue 20): Aedes keeps a `clean=false` session
 * (its subscriptions and every QoS 1 message for it while it is away) until the same client id connects
 * clean, which an abandoned session never does. Here, as Mosquitto 2 has them
 * (`persistent_client_expiration`, `max_queued_messages`):
 *
 * - an account may hold MQTT_MAX_SESSIONS_PER_ACCOUNT persistent sessions; a new one beyond is refused
 *   (CONNACK 3), while an existing one may always come back, and an agent's own client id
 *   (`printhop-agent-<id>`) is always admitted, so a printer's token cannot crowd its agent out;
 * - a session whose client has been away for MQTT_SESSION_EXPIRY is dropped, subscriptions and queue;
 * - a session queues at most MQTT_MAX_QUEUED_PER_SESSION messages while its client is away; beyond, new
 *   messages are not queued for it. Nothing is lost for an agent: the server publishes a printer's
 *   unfinished jobs again when its agent comes online.
 */
import type { Client } from 'aedes';

export interface SessionLimitOptions {
  maxPerAccount: number;
  expiryMs: number;
  maxQueued: number;
}

interface Session {
  username: string;
  /** The client connected under this id now; null while away. */
  client: Client | null;
  /** When its client left (ms). */
  awaySince: number;
  /** Messages in the broker's outgoing queue for it. */
  queued: number;
}

export class PersistentSessions {
  private readonly sessions = new Map<string, Session>();

  constructor(
    readonly options: SessionLimitOptions,
    private readonly now: () => number = Date.now,
  ) {}

  /** The account a persistent session's client id belongs to, if one is kept. */
  ownerOf(clientId: string): string | undefined {
    return this.sessions.get(clientId)?.username;
  }

  /** May `username` open (or come back to) a persistent session under `clientId`? `reserved`: its own agent id. */
  mayOpen(username: string, clientId: string, reserved: boolean): boolean {
    if (reserved || this.sessions.has(clientId)) return true;
    let count = 0;
    for (const s of this.sessions.values()) if (s.username === username) count++;
    return count < this.options.maxPerAccount;
  }

  /** A `clean=false` client is in. */
  opened(username: string, client: Client): void {
    const known = this.sessions.get(client.id);
    if (known) known.client = client;
    else this.sessions.set(client.id, { username, client, awaySince: 0, queued: 0 });
  }

  /** A `clean=true` client took this id: the broker drops whatever session it had. */
  cleaned(clientId: string): void {
    this.sessions.delete(clientId);
  }

  /** A client left (a replaced connection of the same id is ignored). */
  left(client: Client): void {
    const session = this.sessions.get(client.id);
    if (!session || session.client !== client) return;
    session.client = null;
    session.awaySince = this.now();
  }

  /** The client ids away for longer than the expiry, forgotten here; the broker drops their state. */
  expired(): string[] {
    const before = this.now() - this.options.expiryMs;
    const gone: string[] = [];
    for (const [id, s] of this.sessions)
      if (s.client === null && s.awaySince <= before) {
        this.sessions.delete(id);
        gone.push(id);
      }
    return gone;
  }

  /** Whether a message may be queued for this client id (any client id not kept here: yes). */
  mayQueue(clientId: string): boolean {
    const session = this.sessions.get(clientId);
    return !session || session.queued < this.options.maxQueued;
  }

  queuedFor(clientId: string, delta: number): void {
    const session = this.sessions.get(clientId);
    if (session) session.queued = Math.max(0, session.queued + delta);
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Messages queued for `clientId` now (0 when no session is kept). */
  queued(clientId: string): number {
    return this.sessions.get(clientId)?.queued ?? 0;
  }
}

/** The parts of Aedes's persistence (aedes-persistence) that hold a session. */
export interface SessionPersistence {
  outgoingEnqueue(sub: { clientId: string }, packet: unknown): Promise<void>;
  outgoingEnqueueCombi(subs: Array<{ clientId: string }>, packet: unknown): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: unknown): Promise<unknown>;
  outgoingStream(client: { id: string }): AsyncIterable<unknown>;
  cleanSubscriptions(client: { id: string }): Promise<void>;
}

/**
 * Wraps `persistence` (in place, and returns it) so that queues are counted per session and a session's
 * offline queue stops at its cap. Aedes calls these without callbacks and awaits their promises.
 */
export function boundQueues<P extends SessionPersistence>(persistence: P, sessions: PersistentSessions): P {
  const enqueue = persistence.outgoingEnqueue.bind(persistence);
  const enqueueCombi = persistence.outgoingEnqueueCombi.bind(persistence);
  const clear = persistence.outgoingClearMessageId.bind(persistence);
  persistence.outgoingEnqueue = async (sub, packet) => {
    await enqueue(sub, packet);
    sessions.queuedFor(sub.clientId, 1);
  };
  persistence.outgoingEnqueueCombi = async (subs, packet) => {
    const wanted = subs.filter((sub) => sessions.mayQueue(sub.clientId));
    if (!wanted.length) return;
    await enqueueCombi(wanted, packet);
    for (const sub of wanted) sessions.queuedFor(sub.clientId, 1);
  };
  persistence.outgoingClearMessageId = async (client, packet) => {
    const cleared = await clear(client, packet);
    if (cleared) sessions.queuedFor(client.id, -1);
    return cleared;
  };
  return persistence;
}

/** Drops what the broker keeps for a session that expired: its subscriptions and its queue. */
export async function dropSession(persistence: SessionPersistence, clientId: string): Promise<void> {
  const client = { id: clientId };
  await persistence.cleanSubscriptions(client);
  // Queued messages are cleared one by one, as aedes does when such a client comes back clean.
  for await (const packet of persistence.outgoingStream(client))
    await persistence.outgoingClearMessageId(client, packet);
}
