/**
 * An existing broker (Mosquitto, EMQX, HiveMQ) instead of the embedded one: the server is then one
 * more MQTT client. Acks can be consumed through a shared subscription, so that with several server
 * instances each ack is handled by one of them.
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { type Logger, urlForLog } from '../../runtime/logger';
import { mqttConnectOptions } from '../../config/mqtt-url';
import { noDelayOnEachConnection, setNoDelay } from '../../runtime/tcp-nodelay';
import type { MessageBus, MessageHandler, SubscribeOptions } from './message-bus';

export const SHARED_GROUP = 'printhop';

export interface ExternalBrokerOptions {
  url: string;
  /** Read when it connects (at start): the token file is loaded by then, not when the broker is built. */
  credentials?: () => { username: string; password: string };
}

/** MQTT topic filter matching (`+` one level, `#` the rest). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

export class ExternalBroker implements MessageBus {
  private client: MqttClient | null = null;
  private readonly handlers: Array<{ filter: string; handler: MessageHandler }> = [];
  private readonly log: Logger;

  constructor(
    private readonly options: ExternalBrokerOptions,
    log: Logger,
  ) {
    this.log = log.child({ module: 'broker', url: urlForLog(options.url) });
  }

  async start(): Promise<void> {
    const credentials = this.options.credentials?.();
    const client = await mqtt.connectAsync(
      mqttConnectOptions(this.options.url, {
        clientId: `printhop-server-${randomBytes(6).toString('hex')}`,
        clean: true,
        protocolVersion: 5,
        reconnectPeriod: 1000,
        username: credentials?.username || undefined,
        password: credentials?.password || undefined,
      }),
    );
    this.client = client;
    // Nagle off: on this connection now, and on each one a reconnect opens.
    setNoDelay(client.stream);
    noDelayOnEachConnection(client);
    client.on('message', (topic, payload) => {
      for (const { filter, handler } of this.handlers) {
        if (topicMatches(filter, topic)) {
          handler(topic, payload).catch((err: unknown) => this.log.error({ err, topic }, 'message handler failed'));
        }
      }
    });
    client.on('offline', () => this.log.warn('external broker unreachable; reconnecting'));
    client.on('connect', () => this.log.info('connected to external broker'));
    client.on('error', (err) => this.log.warn({ err: err.message }, 'external broker error'));
    this.log.info('using external broker');
  }

  async publish(topic: string, payload: string, options: { qos: 0 | 1; retain?: boolean }): Promise<void> {
    await this.requireClient().publishAsync(topic, payload, { qos: options.qos, retain: options.retain ?? false });
  }

  async subscribe(filter: string, handler: MessageHandler, options: SubscribeOptions = {}): Promise<void> {
    this.handlers.push({ filter, handler });
    const subscription = options.shared ? `$share/${SHARED_GROUP}/${filter}` : filter;
    const granted = await this.requireClient().subscribeAsync(subscription, { qos: 1 });
    if (granted.some((g) => g.qos > 2)) throw new Error(`the broker refused the subscription to ${subscription}`);
  }

  /** Null while connected to the broker, else why not (readiness). */
  notReady(): string | null {
    if (!this.client) return 'the link to the external broker is not started';
    return this.client.connected ? null : 'not connected to the external broker';
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = null;
    if (client) await client.endAsync();
  }

  private requireClient(): MqttClient {
    if (!this.client) throw new Error('external broker link is not started');
    return this.client;
  }
}
