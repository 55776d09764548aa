/**
 * One socket write per turn of the event loop per connection. mqtt-packet corks a stream for each packet
 * it writes and uncorks it on the next tick, so the pieces of one packet go out together; but the broker
 * writes a connection's packets from different callbacks of the same turn (a job's PUBLISH, the PUBACK
 * of an ack, another job of a backlog), and each became a system call of its own (`writev` on TCP, a
 * WebSocket frame and its write on WebSocket). With this, the first write of a turn corks the stream
 * until `setImmediate`, the check phase of the same turn (or the next one's, for a write made there):
 * everything written to the connection meanwhile goes in one write.
 */
import type { Writable } from 'node:stream';

export function oneWritePerTurn(stream: Writable): void {
  let corked = false;
  const flush = (): void => {
    if (!corked) return;
    corked = false;
    stream.uncork();
  };
  const write = stream.write;
  stream.write = function (this: Writable, ...args: Parameters<Writable['write']>): boolean {
    if (!corked && !stream.destroyed && !stream.writableEnded) {
      corked = true;
      stream.cork();
      setImmediate(flush);
    }
    return write.apply(this, args);
  } as Writable['write'];
  // What was written before a destroy in the same turn (a refused CONNACK, then the close) still goes out.
  const destroy = stream.destroy;
  stream.destroy = function (this: Writable, ...args: Parameters<Writable['destroy']>) {
    flush();
    return destroy.apply(this, args);
  } as Writable['destroy'];
}
