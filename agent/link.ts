/**
 * The agent's MQTT connection: a stable client id and a persistent session (clean: false), a QoS 1
 * subscription to its jobs, a retained `online` status with a Last Will `offline`, and reconnection
 * with exponential backoff and jitter. Status and will name this agent (its machine, and a random id for
 * this run), so that the broker tells a second agent with the same printer id from this one reconnecting.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import os from 'node:os';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { AgentConfig } from '../config';
import { type Logger, urlForLog } from '../runtime/logger';
import { mqttConnectOptions } from '../config/mqtt-url';
import { agentClientId } from '../protocol/accounts';
import { type AckMessage, type AgentIdentity, encodeMessage, type StatusMessage } from '../protocol/messages';
import { noDelayOnEachConnection } from '../runtime/tcp-nodelay';
import { topics } from '../protocol/topics';
import { oneFramePerTick } from '../runtime/websocket-frames';

export type JobHandler = (payload: Buffer) => Promise<void>;

export interface LinkEvents {
  connect: [];
}

/** What the print agent needs of its connection: the real one is `BrokerLink`, tests use an in-memory fake. */
export interface AgentLink {
  /** Starts connecting; `onJob` resolves before the job's PUBACK is sent. */
  start(onJob: JobHandler, initialStatus: StatusMessage): void;
  /** `connect`: connected and subscribed (again), so unconfirmed acks can be sent. */
  on(event: 'connect', listener: () => void): unknown;
  /** Resolves when the broker confirmed it (PUBACK). */
  publishAck(ack: AckMessage): Promise<void>;
  /** Keeps the status for every later connect, and publishes it now if connected. */
  updateStatus(status: StatusMessage): void;
  /**
   * While a backlog prints (`true`), what is written in one turn waits BATCHED_WRITES_MS for the next turns'
   * writes and leaves with them: one socket write for several jobs' acks and PUBACKs instead of one a job.
   */
  batchWrites?(on: boolean): void;
}

/** How long a backlog's acks and PUBACKs wait for the next jobs' to leave together (batchWrites). */
export const BATCHED_WRITES_MS = 4;

/**
 * Passed to mqtt.js's handleMessage callback: any error there means "do not send the PUBACK" and go on
 * with the next message (mqtt.js 5, handlers/publish.js); the link sends it itself once the job is durable.
 */
const PUBACK_SENT_BY_LINK = Object.assign(new Error('PUBACK sent by the link once the job is journaled'), {
  pubackByLink: true,
});

/** mqtt.js's own packet writer (not in its typings): the PUBACK goes through the same path as its own. */
function sendPuback(client: MqttClient, messageId: number): void {
  (
    client as unknown as { _sendPacket(packet: { cmd: 'puback'; messageId: number }, cb?: () => void): void }
  )._sendPacket({ cmd: 'puback', messageId });
}

export class BrokerLink extends EventEmitter<LinkEvents> implements AgentLink {
  private client: MqttClient | null = null;
  private readonly log: Logger;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private offline = false;
  private status: StatusMessage = { state: 'online' };
  /** This run of the agent: its machine and a random id. */
  readonly identity: AgentIdentity = { instance: randomUUID(), host: os.hostname() };
  /** Set while the broker refuses this agent because another one holds the printer's session. */
  private refused = false;
  /** The test-only fault hook (config.testDropJobs): job messages still to drop after their PUBACK. */
  private dropJobs: number;
  /** The stream corked until the end of this turn of the event loop (corkForTurn). */
  private corked: unknown = null;
  /** A backlog prints: a cork lasts BATCHED_WRITES_MS instead of one turn (batchWrites). */
  private batched = false;

  constructor(
    private readonly config: AgentConfig,
    log: Logger,
    /** `takeover` (--takeover): replace an agent that holds the printer's session, once, at the first connection. */
    private readonly options: { takeover?: boolean } = {},
  ) {
    super();
    this.log = log.child({ module: 'link', printerId: config.printerId });
    this.dropJobs = config.testDropJobs ?? 0;
  }

  private will(takeover: boolean): Buffer {
    return Buffer.from(
      encodeMessage({ state: 'offline', agent: { ...this.identity, ...(takeover ? { takeover } : {}) } }),
    );
  }

  private get connected(): boolean {
    return this.client?.connected ?? false;
  }

  /** Starts connecting; does not wait for the broker, which may be down for now. */
  start(onJob: JobHandler, initialStatus: StatusMessage): void {
    this.status = initialStatus;
    const frames = /^wss?:/.test(this.config.mqttUrl) ? oneFramePerTick() : null;
    const client = mqtt.connect(this.connectOptions(frames));
    this.client = client;
    noDelayOnEachConnection(client);
    frames?.attach(client);
    this.takeJobs(client, onJob);
    this.reconnectOnClose(client);
    this.onConnect(client);
    this.onError(client);
    client.connect();
  }

  private connectOptions(frames: ReturnType<typeof oneFramePerTick> | null): IClientOptions {
    const { config } = this;
    return mqttConnectOptions(config.mqttUrl, {
      ...(frames ? { createWebsocket: frames.createWebsocket } : {}),
      clientId: agentClientId(config.printerId),
      // A takeover starts a clean session: jobs the replaced agent was sent stay with it (the server
      // ends them `interrupted`), so that none is printed by both.
      clean: !!this.options.takeover,
      protocolVersion: 4,
      keepalive: 30,
      // A PINGREQ every 30 s, busy or not, rather than the keep-alive's interval timer cleared and set again at
      // each PUBACK received (two a job): a timer-list insertion and its allocation a packet (issue 22).
      reschedulePings: false,
      connectTimeout: 10_000,
      // mqtt.js retries at a fixed period; this link retries with its own backoff (reconnectOnClose).
      reconnectPeriod: 0,
      // Connected by start(), once Nagle is set to go off on each new socket.
      manualConnect: true,
      username: config.mqttUsername,
      password: config.mqttPassword || undefined,
      will: {
        topic: topics.status(config.printerId),
        payload: this.will(!!this.options.takeover),
        qos: 1,
        retain: true,
      },
      // No table of 65,536 pre-made packet-id buffers (about 6 MB of a 60 MB agent): built per packet instead.
      writeCache: false,
    });
  }

  private takeJobs(client: MqttClient, onJob: JobHandler): void {
    // PUBACK is sent only once the job is in the journal: the broker forgets it only then. mqtt.js hands
    // over one message at a time (the next one waits for this callback, which sends the PUBACK), so a
    // journal sync per message would serialise them. Instead each message is handed to onJob at once and
    // mqtt.js moves on (`done` with a marker, which mqtt.js takes as "no PUBACK"); the PUBACK is sent here
    // once onJob resolved, in the order the messages came (MQTT 3.1.1 §4.6), on the connection that
    // brought the message. Messages arriving while the journal syncs go to disk together in its next sync.
    let pubacks: Promise<unknown> = Promise.resolve();
    client.handleMessage = (packet, done) => {
      if (packet.cmd !== 'publish') return done();
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      if (this.dropJobs > 0 && packet.qos === 1 && packet.messageId !== undefined) {
        this.dropJobs--;
        this.log.warn({ topic: packet.topic }, 'test fault hook: job message dropped after its PUBACK');
        sendPuback(client, packet.messageId);
        return done(PUBACK_SENT_BY_LINK);
      }
      const taken = onJob(payload);
      const { messageId } = packet;
      if (packet.qos !== 1 || messageId === undefined) {
        taken.then(
          () => done(),
          (err: unknown) => done(err as Error),
        );
        return;
      }
      const stream = client.stream;
      const mine = Promise.all([pubacks, taken]).then(
        () => {
          // A message from a connection that has since closed: the broker delivers it again (the
          // journal knows it by then, so it is acknowledged without being printed twice).
          if (client.stream !== stream || !client.connected) return;
          this.corkForTurn(client);
          sendPuback(client, messageId);
        },
        (err: unknown) => {
          // Not acknowledged: the broker will deliver it again.
          this.log.error({ err, topic: packet.topic }, 'could not take a job; it will be delivered again');
        },
      );
      pubacks = mine;
      done(PUBACK_SENT_BY_LINK);
    };
  }

  private reconnectOnClose(client: MqttClient): void {
    const { config } = this;
    // Each failed attempt waits longer. The same stores are passed back: reconnect() would otherwise
    // start empty ones and forget the acks still waiting for their PUBACK.
    client.on('close', () => {
      if (this.client !== client) return; // stopped
      if (!this.offline) {
        this.offline = true;
        this.log.warn({ url: urlForLog(config.mqttUrl) }, 'broker unreachable; reconnecting');
      }
      if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        if (this.client === client)
          client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
      }, this.nextDelay());
    });
  }

  private onConnect(client: MqttClient): void {
    const { config } = this;
    client.on('connect', (connack) => {
      this.attempt = 0;
      this.offline = false;
      if (this.refused) this.log.info('the other agent has gone: this agent serves the printer again');
      this.refused = false;
      // Taken over once: from now on a persistent session, and reconnections do not take it again.
      if (client.options.clean) {
        client.options.clean = false;
        if (client.options.will) client.options.will.payload = this.will(false);
      }
      this.log.info({ url: urlForLog(config.mqttUrl), sessionPresent: connack.sessionPresent }, 'connected to broker');
      // Subscribe on every connect: a broker that restarted has forgotten the session.
      // An empty `granted` is mqtt.js skipping a topic it already holds (the broker kept the session,
      // or mqtt.js re-subscribed by itself): subscribed all the same. Only an error or 0x80 is a refusal.
      client.subscribe(topics.jobs(config.printerId), { qos: 1 }, (err, granted) => {
        if (err || granted?.some((g) => g.qos > 1)) {
          this.log.error({ err, granted }, 'subscription to jobs refused');
          return;
        }
        this.publishStatus(this.status).catch(() => undefined);
        this.emit('connect');
      });
    });
  }

  private onError(client: MqttClient): void {
    const { config } = this;
    client.on('error', (err) => {
      const code = (err as { code?: unknown }).code;
      if (code === 2) {
        // The server refuses a second agent while one holds this printer's session (or another took it).
        if (!this.refused)
          this.log.error(
            { host: this.identity.host },
            `another agent with this printer's id (${config.printerId}) and token is connected, or took its session: this agent does not fight for it and tries again every ${Math.round(config.reconnectMaxMs / 1000)} s; the server's page and GET /printers name both machines. Stop one of them, or start this one with --takeover to replace the other`,
          );
        this.refused = true;
      } else if (code === 4 || code === 5) {
        // Keeps retrying with backoff: the server may be restarted with the right token.
        this.log.error(
          { url: urlForLog(config.mqttUrl), username: config.mqttUsername },
          'the broker refused this agent: check MQTT_PASSWORD (the token the server printed for this printer) and PRINTER_ID',
        );
      } else {
        this.log.warn({ err: err.message }, 'mqtt error');
      }
    });
  }

  private nextDelay(): number {
    const { reconnectMinMs, reconnectMaxMs } = this.config;
    if (this.refused) return reconnectMaxMs; // not fighting: the longest wait, every time
    const base = Math.min(reconnectMaxMs, reconnectMinMs * 2 ** Math.min(this.attempt, 20));
    this.attempt++;
    // Full jitter in [base/2, base]: a fleet that lost the broker together does not return together.
    return Math.max(reconnectMinMs, Math.round(base / 2 + Math.random() * (base / 2)));
  }

  /** Resolves when the broker confirmed it (PUBACK). */
  publishAck(ack: AckMessage): Promise<void> {
    return this.publish(topics.acks(this.config.printerId), encodeMessage(ack), false);
  }

  /** Keeps the status for every later connect, and publishes it now if connected. */
  updateStatus(status: StatusMessage): void {
    this.status = status;
    if (this.connected) this.publishStatus(status).catch(() => undefined);
  }

  private publishStatus(status: StatusMessage): Promise<void> {
    return this.publish(
      topics.status(this.config.printerId),
      encodeMessage({ ...status, agent: this.identity, at: new Date().toISOString() }),
      true,
    );
  }

  /**
   * What the link writes in one turn of the event loop (the PUBACKs of the jobs one journal sync made
   * durable, their `received` acks, a `printed` ack) leaves in one socket write, one WebSocket frame,
   * instead of one each: the stream stays corked until the turn's setImmediate callbacks have run.
   */
  private corkForTurn(client: MqttClient): void {
    const stream = client.stream;
    if (!stream || !client.connected || this.corked === stream) return;
    stream.cork();
    this.corked = stream;
    const uncork = () => {
      if (this.corked === stream) this.corked = null;
      stream.uncork();
    };
    if (this.batched) setTimeout(uncork, BATCHED_WRITES_MS);
    else setImmediate(uncork);
  }

  batchWrites(on: boolean): void {
    this.batched = on;
  }

  private publish(topic: string, payload: string, retain: boolean): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new Error('link is not started'));
    this.corkForTurn(client);
    return new Promise((resolve, reject) => {
      client.publish(topic, payload, { qos: 1, retain }, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Publishes `offline` (so no Last Will is needed) and disconnects cleanly. */
  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    this.client = null;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    if (client.connected) {
      await Promise.race([
        new Promise<void>((resolve) =>
          client.publish(
            topics.status(this.config.printerId),
            encodeMessage({ state: 'offline', agent: this.identity, at: new Date().toISOString() }),
            { qos: 1, retain: true },
            () => resolve(),
          ),
        ),
        new Promise<void>((resolve) => setTimeout(resolve, 2000).unref()),
      ]);
    }
    // A clean end waits for in-flight messages; if the broker is already gone they never complete.
    let timer: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      new Promise<boolean>((resolve) => client.end(false, {}, () => resolve(true))),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 2000))),
    ]);
    clearTimeout(timer);
    if (!ended) await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
  }
}
