/** The broker side of the agent's link, in memory: delivers job messages, confirms or loses acks, connects. */
import type { JobHandler, AgentLink } from '../../agent/link';
import type { AckMessage, JobMessage, StatusMessage } from '../../protocol/messages';

export class FakeLink implements AgentLink {
  /** Acks the broker confirmed (PUBACK), in order. */
  readonly acks: AckMessage[] = [];
  /** Every status the agent set, the one given at start first. */
  readonly statuses: StatusMessage[] = [];
  /** While false, acks fail as they do when the broker is unreachable. */
  connected = true;
  private onJob: JobHandler | null = null;
  private readonly connectListeners: Array<() => void> = [];

  /** `steps` is shared with the other fakes, to check the order of what happened. */
  constructor(private readonly steps: string[] = []) {}

  start(onJob: JobHandler, initialStatus: StatusMessage): void {
    this.onJob = onJob;
    this.statuses.push(initialStatus);
  }

  on(event: 'connect', listener: () => void): this {
    this.connectListeners.push(listener);
    return this;
  }

  publishAck(ack: AckMessage): Promise<void> {
    if (!this.connected) return Promise.reject(new Error('not connected'));
    this.steps.push(`ack ${ack.id} ${ack.status}`);
    this.acks.push(ack);
    return Promise.resolve();
  }

  updateStatus(status: StatusMessage): void {
    this.statuses.push(status);
  }

  /** Delivers a job message; resolves when mqtt.js would send its PUBACK (the handler resolved). */
  async deliver(message: JobMessage | string): Promise<void> {
    if (!this.onJob) throw new Error('the link is not started');
    await this.onJob(Buffer.from(typeof message === 'string' ? message : JSON.stringify(message)));
    this.steps.push(`PUBACK ${typeof message === 'string' ? '?' : message.id}`);
  }

  /** (Re)connected and subscribed. */
  connect(): void {
    this.connected = true;
    for (const listener of this.connectListeners) listener();
  }

  acksOf(id: number): string[] {
    return this.acks.filter((a) => a.id === id).map((a) => a.status);
  }
}
