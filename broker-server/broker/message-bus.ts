/** What the dispatcher needs of MQTT, whichever broker carries it. */
export type MessageHandler = (topic: string, payload: Buffer) => Promise<void>;

export interface MessageBus {
  /** Resolves once the broker has taken the message (for QoS 1, queued for every subscriber). */
  publish(topic: string, payload: string, options: { qos: 0 | 1; retain?: boolean }): Promise<void>;
  /** The handler's promise settles before the message counts as delivered (PUBACK to the publisher). */
  subscribe(topic: string, handler: MessageHandler): Promise<void>;
}
