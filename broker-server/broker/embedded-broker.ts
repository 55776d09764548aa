/**
 * The Aedes broker inside the server, on plain TCP (for agents and mosquitto_sub/pub) and on
 * WebSocket at /mqtt of the HTTP port (for agents behind proxies that only pass HTTP).
 */
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import memoryPersistence from 'aedes-persistence';
import { WebSocketServer } from 'ws';
import type { Logger } from '../../runtime/logger';
import { agentClientId } from '../../protocol/accounts';
import { MAX_PAYLOAD_BYTES } from '../../protocol/messages';
import { brokerTcpConnection, brokerWebSocketStream } from '../../runtime/broker-connections';
import type { MessageBus, MessageHandler } from './message-bus';
import { guardPacketSize } from './packet-size-guard';
import { boundQueues, dropSession, type PersistentSessions, type SessionPersistence } from './session-limits';
import { rememberSubscriptionLookups, type SubscriptionStore } from './subscription-lookups';

export const WEBSOCKET_PATH = '/mqtt';
const AGENT_CLIENT_PREFIX = agentClientId('');
/** Largest MQTT packet a client may send: the largest payload the protocol reads, plus room for the topic and headers. */
export const MAX_PACKET_BYTES = MAX_PAYLOAD_BYTES + 4096;

export interface EmbeddedBrokerOptions {
  host: string;
  /** -1: no TCP listener. */
  tcpPort: number;
  hooks?: Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'>;
  /** Incoming QoS 1/2 messages a connection may leave unacknowledged (MQTT_MAX_INFLIGHT); aedes's own default is 1,000. */
  maxInflight?: number;
  /** Told when a client leaves (limits.ts counts connections per account). */
  onClientGone?: (client: Client) => void;
  /** Persistent sessions, bounded (session-limits.ts): queues capped and counted, expired ones dropped. */
  sessions?: PersistentSessions;
}

export class EmbeddedBroker implements MessageBus {
  private aedes: Aedes | null = null;
  private tcp: net.Server | null = null;
  // No permessage-deflate (ws's server default, said here): MQTT packets of a few hundred bytes would cost a
  // zlib stream per connection and a deflate per frame for next to nothing; agents offer it, it is declined.
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_PAYLOAD_BYTES * 2,
    perMessageDeflate: false,
  });
  private readonly log: Logger;
  private sessionSweep: NodeJS.Timeout | null = null;
  private persistence: SessionPersistence | null = null;
  /** Connections of each agent client id since the broker started (agentConnection). */
  private readonly agentConnections = new Map<string, number>();

  constructor(
    private readonly options: EmbeddedBrokerOptions,
    log: Logger,
  ) {
    this.log = log.child({ module: 'broker' });
  }

  get tcpPort(): number | null {
    const address = this.tcp?.address();
    return address && typeof address === 'object' ? address.port : null;
  }

  async start(): Promise<void> {
    // Client ids up to 128 characters: an agent's is `printhop-agent-` and a printer id of up to 64.
    const { sessions } = this.options;
    const persistence = rememberSubscriptionLookups(memoryPersistence() as unknown as SubscriptionStore);
    this.persistence = sessions ? boundQueues(persistence as unknown as SessionPersistence, sessions) : null;
    const aedes = await Aedes.createBroker({
      maxClientsIdLength: 128,
      maxInflightInbound: this.options.maxInflight ?? 20,
      persistence: persistence as unknown as AedesOptions['persistence'],
      ...this.options.hooks,
    });
    this.aedes = aedes;
    if (sessions) {
      const every = Math.min(300_000, Math.max(1000, sessions.options.expiryMs / 10));
      this.sessionSweep = setInterval(() => void this.expireSessions(), every);
      this.sessionSweep.unref();
    }
    aedes.on('clientReady', (client) => {
      // Emitted before any packet of this connection is handled: its first status finds the new number.
      if (client.id.startsWith(AGENT_CLIENT_PREFIX))
        this.agentConnections.set(client.id, (this.agentConnections.get(client.id) ?? 0) + 1);
      this.log.debug({ clientId: client.id }, 'mqtt client connected');
    });
    aedes.on('clientDisconnect', (client) => {
      this.options.onClientGone?.(client);
      this.options.sessions?.left(client);
      this.log.debug({ clientId: client.id }, 'mqtt client disconnected');
    });
    aedes.on('clientError', (client, err) =>
      this.log.debug({ clientId: client.id, err: err.message }, 'mqtt client error'),
    );
    aedes.on('connectionError', (client, err) =>
      this.log.debug({ clientId: client?.id, err: err.message }, 'mqtt connection error'),
    );
    this.wss.on('connection', (socket, req) => {
      const stream = brokerWebSocketStream(socket);
      stream.on('error', (err) => this.log.debug({ err: err.message }, 'websocket stream error'));
      this.guard(stream, req.socket.remoteAddress);
      aedes.handle(stream, req);
    });
    if (this.options.tcpPort >= 0) {
      const tcp = net.createServer((socket) => {
        brokerTcpConnection(socket);
        this.guard(socket, socket.remoteAddress);
        aedes.handle(socket);
      });
      this.tcp = tcp;
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(this.options.tcpPort, this.options.host, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
      this.log.info({ port: this.tcpPort }, 'mqtt listening on tcp');
    }
  }

  private guard(conn: Duplex, address: string | undefined): void {
    guardPacketSize(conn, MAX_PACKET_BYTES, (announced) =>
      this.log.warn(
        { address, announcedBytes: Number.isFinite(announced) ? announced : 'invalid', maxBytes: MAX_PACKET_BYTES },
        'mqtt packet too large: connection closed',
      ),
    );
  }

  /** For the HTTP server's `upgrade` event on WEBSOCKET_PATH. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  publish(topic: string, payload: string, options: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    const aedes = this.requireBroker();
    return new Promise((resolve, reject) => {
      aedes.publish(
        {
          cmd: 'publish',
          topic,
          payload: Buffer.from(payload),
          qos: options.qos,
          retain: options.retain ?? false,
          dup: false,
        },
        (err) => (err ? reject(err) : resolve()),
      );
    });
  }

  subscribe(topic: string, handler: MessageHandler): Promise<void> {
    const aedes = this.requireBroker();
    return new Promise((resolve) => {
      aedes.subscribe(
        topic,
        (packet, done) => {
          const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
          handler(packet.topic, payload).then(
            () => done(),
            (err: unknown) => {
              this.log.error({ err, topic: packet.topic }, 'message handler failed');
              done();
            },
          );
        },
        resolve,
      );
    });
  }

  agentConnection(printerId: string): number {
    return this.agentConnections.get(agentClientId(printerId)) ?? 0;
  }

  /** Closes the connections of the clients `match` picks (a rotated or removed printer's); returns how many. */
  disconnect(match: (client: Client) => boolean): number {
    const clients = Object.values(
      (this.aedes as unknown as { clients?: Record<string, Client> } | null)?.clients ?? {},
    );
    let closed = 0;
    for (const client of clients) {
      if (!match(client)) continue;
      client.close();
      closed++;
    }
    return closed;
  }

  /** Null when it takes connections, else why not (readiness). */
  notReady(): string | null {
    if (!this.aedes || this.aedes.closed) return 'the embedded broker is not started';
    if (this.options.tcpPort >= 0 && !this.tcp?.listening) return 'the MQTT TCP listener is not listening';
    return null;
  }

  /** Drops the persistent sessions whose client has been away for MQTT_SESSION_EXPIRY. */
  async expireSessions(): Promise<void> {
    const { sessions } = this.options;
    const persistence = this.persistence;
    if (!sessions || !persistence) return;
    for (const clientId of sessions.expired()) {
      try {
        await dropSession(persistence, clientId);
        this.log.info({ clientId }, 'persistent mqtt session expired (MQTT_SESSION_EXPIRY)');
      } catch (err) {
        this.log.error({ err, clientId }, 'expired mqtt session not dropped');
      }
    }
  }

  /** Persistent sessions kept now (connected or away). */
  get persistentSessions(): number {
    return this.options.sessions?.size ?? 0;
  }

  /** Clients connected now. */
  get clientCount(): number {
    return this.aedes?.connectedClients ?? 0;
  }

  async stop(): Promise<void> {
    if (this.sessionSweep) clearInterval(this.sessionSweep);
    this.sessionSweep = null;
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    // Aedes closes its clients' sockets, after which the TCP listener can close.
    const aedes = this.aedes;
    if (aedes) await new Promise<void>((resolve) => aedes.close(() => resolve()));
    const tcp = this.tcp;
    if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    this.aedes = null;
    this.tcp = null;
  }

  private requireBroker(): Aedes {
    if (!this.aedes) throw new Error('broker is not started');
    return this.aedes;
  }
}
