/**
 * Caps on live-update streams (GET /events and /jobs/events): each one holds a socket and buffers, so
 * MAX_EVENT_STREAMS bounds them in all and MAX_EVENT_STREAMS_PER_ADDRESS per client address (`req.ip`,
 * the real client behind TRUST_PROXY). Beyond: 429 (this address) or 503 (the server), with the reason.
 */
import type { NextFunction, Request, Response } from 'express';

export interface StreamLimitOptions {
  total: number;
  perAddress: number;
}

export class StreamLimits {
  private open = 0;
  private readonly byAddress = new Map<string, number>();

  constructor(private readonly options: StreamLimitOptions) {}

  get count(): number {
    return this.open;
  }

  /** Middleware in front of a stream handler: admits the stream and frees its place when it closes. */
  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    const address = req.ip ?? 'unknown';
    const mine = this.byAddress.get(address) ?? 0;
    if (mine >= this.options.perAddress) {
      res
        .status(429)
        .set('Retry-After', '30')
        .type('text')
        .send(
          `too many live-update streams from your address (MAX_EVENT_STREAMS_PER_ADDRESS=${this.options.perAddress}); close other pages\n`,
        );
      return;
    }
    if (this.open >= this.options.total) {
      res
        .status(503)
        .set('Retry-After', '30')
        .type('text')
        .send(
          `too many live-update streams open on this server (MAX_EVENT_STREAMS=${this.options.total}); try again later\n`,
        );
      return;
    }
    this.open++;
    this.byAddress.set(address, mine + 1);
    let released = false;
    res.on('close', () => {
      if (released) return;
      released = true;
      this.open--;
      const left = (this.byAddress.get(address) ?? 1) - 1;
      if (left > 0) this.byAddress.set(address, left);
      else this.byAddress.delete(address);
    });
    next();
  };
}
