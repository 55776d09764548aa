/** An in-memory MessageBus for the fast tests: what the dispatcher published, and messages delivered to its subscriptions by hand. */
import type { MessageBus, MessageHandler } from '../../broker-server/broker/message-bus';

export interface Publication {
  topic: string;
  payload: string;
  qos: 0 | 1;
}

/** MQTT topic matching with `+` and `#`. */
function matches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

export class MemoryBus implements MessageBus {
  readonly published: Publication[] = [];
  private readonly subscriptions: Array<{ filter: string; handler: MessageHandler }> = [];
  /** While true, publish rejects (a broker that is away). */
  failing = false;
  /** Connections of each printer's agent (connect); a printer never connected here: the bus cannot tell. */
  private readonly connections = new Map<string, number>();

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  async publish(topic: string, payload: string, options: { qos: 0 | 1 }): Promise<void> {
    if (this.failing) throw new Error('broker away');
    this.published.push({ topic, payload, qos: options.qos });
  }

  async subscribe(topic: string, handler: MessageHandler): Promise<void> {
    this.subscriptions.push({ filter: topic, handler });
  }

  /** The printer's agent (re)connects: its connection number changes (MessageBus#agentConnection). */
  connect(printerId: string): void {
    this.connections.set(printerId, (this.connections.get(printerId) ?? 0) + 1);
  }

  agentConnection(printerId: string): number | undefined {
    return this.connections.get(printerId);
  }

  /** Hands a message to every matching subscription, as the broker would; resolves once their handlers have. */
  async deliver(topic: string, payload: unknown): Promise<void> {
    const buffer = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload));
    await Promise.all(this.subscriptions.filter((s) => matches(s.filter, topic)).map((s) => s.handler(topic, buffer)));
  }

  /** The ids of the jobs published on `topic`, in order. */
  jobIds(topic: string): number[] {
    return this.published.filter((p) => p.topic === topic).map((p) => (JSON.parse(p.payload) as { id: number }).id);
  }
}
