/**
 * One socket write per turn of the event loop per connection. mqtt-packet writes a packet in pieces (a
 * PUBLISH: fixed header, length, topic, id, payload), and the broker writes a connection's packets from
 * different callbacks of the same turn (a job's PUBLISH, the PUBACK of an ack, another job of a backlog):
 * each was a system call of its own (`writev` on TCP, a WebSocket frame and its write on WebSocket). With
 * this, the pieces written to the connection in a turn are gathered here, not in the stream's own buffer
 * (a stream write per piece cost more than the bytes: its state, its callbacks, its buffering), and go
 * to the stream as one write at `setImmediate`, the check phase of the same turn (or of the next one, for
 * a write made there). The answer to each write is the stream's own "may I go on" (`writableNeedDrain`),
 * so a slow peer still holds the broker back through the stream's 'drain'.
 */
import type { Writable } from 'node:stream';

type WriteCallback = (err?: Error | null) => void;

export function oneWritePerTurn(stream: Writable): void {
  let pieces: Buffer[] = [];
  let callbacks: WriteCallback[] = [];
  let scheduled = false;
  const write = stream.write;
  const flush = (): void => {
    scheduled = false;
    if (!pieces.length) return;
    const data = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    const waiting = callbacks;
    pieces = [];
    callbacks = [];
    const done = waiting.length ? (err?: Error | null) => waiting.forEach((callback) => callback(err)) : undefined;
    // Destroyed since (its peer gone): what was gathered goes nowhere, as the stream's own buffer would.
    if (stream.destroyed) return done?.(new Error('the connection was closed before this write'));
    write.call(stream, data, done as never);
  };
  stream.write = function (this: Writable, ...args: unknown[]): boolean {
    // A closed stream answers for itself (its error, as before).
    if (stream.destroyed || stream.writableEnded) return write.apply(this, args as never);
    const [chunk, second, third] = args;
    const callback = (typeof second === 'function' ? second : third) as WriteCallback | undefined;
    const encoding = typeof second === 'string' ? (second as BufferEncoding) : 'utf8';
    pieces.push(
      Buffer.isBuffer(chunk)
        ? chunk
        : typeof chunk === 'string'
          ? Buffer.from(chunk, encoding)
          : Buffer.from(chunk as Uint8Array),
    );
    if (callback) callbacks.push(callback);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
    return !stream.writableNeedDrain;
  } as Writable['write'];
  // What was written before an end or a destroy in the same turn (a refused CONNACK, then the close) still goes out.
  const end = stream.end;
  stream.end = function (this: Writable, ...args: unknown[]) {
    flush();
    return end.apply(this, args as never);
  } as Writable['end'];
  const destroy = stream.destroy;
  stream.destroy = function (this: Writable, ...args: Parameters<Writable['destroy']>) {
    if (!stream.destroyed) flush();
    return destroy.apply(this, args);
  } as Writable['destroy'];
}
