/**
 * Writes Server-Sent Events to many streams with one write per stream per turn of the event loop (a
 * burst of changes becomes one socket write, not one per message), and drops a stream whose reader
 * lets more than `maxBufferedBytes` pile up: its client reconnects and catches up.
 */
import type { Response } from 'express';
import type { Logger } from '../../../runtime/logger';

export class SseWriter {
  private readonly outbox = new Map<Response, string[]>();
  private flushing: NodeJS.Immediate | null = null;

  constructor(
    readonly maxBufferedBytes: number,
    private readonly log: Logger,
    /** Told of each stream dropped for not reading. */
    private readonly onDrop: (res: Response) => void,
  ) {}

  /** Queues `message` for `res`; false when the stream is gone or was dropped now. */
  send(res: Response, message: string): boolean {
    if (res.writableEnded || res.destroyed) return false;
    if (res.writableLength > this.maxBufferedBytes) {
      this.log.warn({ buffered: res.writableLength }, 'client not reading its live updates; dropped');
      this.outbox.delete(res);
      this.onDrop(res);
      res.destroy();
      return false;
    }
    const queued = this.outbox.get(res);
    if (queued) queued.push(message);
    else this.outbox.set(res, [message]);
    this.flushing ??= setImmediate(this.flush);
    return true;
  }

  /** Sends what each stream was given this turn, in one write (and one socket write) per stream. */
  readonly flush = (): void => {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = null;
    for (const [res, messages] of this.outbox) {
      if (!res.writableEnded && !res.destroyed) res.write(messages.length === 1 ? messages[0]! : messages.join(''));
    }
    this.outbox.clear();
  };
}
