/**
 * Per-account limits of the embedded broker, as Mosquitto 2 has them: connections one account may
 * have open (MQTT_MAX_CONNECTIONS_PER_ACCOUNT), and who owns a client id while it is connected.
 * (In-flight messages are bounded by aedes's maxInflightInbound = MQTT_MAX_INFLIGHT, and QoS 2, which the
 * protocol never uses, is refused in access.ts.)
 */
import type { Client } from 'aedes';

export class ConnectionLimits {
  /** Live clients by account user name. */
  private readonly byAccount = new Map<string, Set<Client>>();
  /** Which account a connected client id belongs to, clean sessions included. */
  private readonly liveOwners = new Map<string, { username: string; client: Client }>();

  constructor(private readonly maxPerAccount: number) {}

  /** The account of a client id that is connected now, if any. */
  ownerOf(clientId: string): string | undefined {
    return this.liveOwners.get(clientId)?.username;
  }

  /** The client connected now with this id, if any. */
  liveClient(clientId: string): Client | undefined {
    return this.liveOwners.get(clientId)?.client;
  }

  /** False when the account already has its maximum, unless this connection replaces one of them (same client id). */
  mayConnect(username: string, clientId: string): boolean {
    const clients = this.byAccount.get(username);
    if (!clients || clients.size < this.maxPerAccount) return true;
    return [...clients].some((c) => c.id === clientId);
  }

  /** Counts `client` until its connection closes. */
  admit(username: string, client: Client): void {
    let clients = this.byAccount.get(username);
    if (!clients) this.byAccount.set(username, (clients = new Set()));
    clients.add(client);
    this.liveOwners.set(client.id, { username, client });
    const conn = (client as unknown as { conn?: { once?: (event: string, fn: () => void) => void } }).conn;
    conn?.once?.('close', () => this.release(client));
  }

  /** Also called on aedes's clientDisconnect; releasing twice is harmless. */
  release(client: Client): void {
    for (const [username, clients] of this.byAccount) {
      if (clients.delete(client) && clients.size === 0) this.byAccount.delete(username);
    }
    if (this.liveOwners.get(client.id)?.client === client) this.liveOwners.delete(client.id);
  }

  connections(username: string): number {
    return this.byAccount.get(username)?.size ?? 0;
  }
}
