/** Server-Sent Events: one open response per watcher, with a heartbeat so proxies keep it open. */
import type { Request, Response } from 'express';

export interface EventStream {
  send(event: string, data: string): void;
}

const HEARTBEAT_MS = 15_000;

export function openEventStream(req: Request, res: Response, onClose: () => void): EventStream {
  res.status(200).set({
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    Connection: 'keep-alive',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  res.write(': connected\n\n');
  const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
  heartbeat.unref();
  req.on('close', () => {
    clearInterval(heartbeat);
    onClose();
  });
  return {
    send(event, data) {
      // Each line of data needs its own "data:" prefix in the SSE format.
      res.write(`event: ${event}\ndata: ${data.replace(/\n/g, '\ndata: ')}\n\n`);
    },
  };
}
