/** What the dispatcher needs of MQTT, whichever broker carries it. */
export type MessageHandler = (topic: string, payload: Buffer) => Promise<void>;

export interface MessageBus {
  /** Resolves once the broker has taken the message (for QoS 1, queued for every subscriber). */
  publish(topic: string, payload: string, options: { qos: 0 | 1; retain?: boolean }): Promise<void>;
  /** Calls the handler for each message whose topic matches `topic` (a filter with `+`/`#`). */
  subscribe(topic: string, handler: MessageHandler, options?: SubscribeOptions): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Which connection of a printer's agent (its own client id, agentClientId) the broker holds or held last: a
   * number that changes each time that agent connects (0: not yet since the broker started). Undefined: this
   * broker cannot tell (an external one), and every `online` of the agent is taken as a new connection.
   */
  agentConnection?(printerId: string): number | undefined;
}

export interface SubscribeOptions {
  /** One subscriber of the group gets each message (several server instances share the acks). */
  shared?: boolean;
}
