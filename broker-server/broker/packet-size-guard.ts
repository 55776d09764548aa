/**
 * Aedes has no packet size limit: a client could announce a 256 MB PUBLISH and the broker would buffer it.
 * This watches the bytes aedes reads from a connection, follows the MQTT fixed headers, and closes the
 * connection as soon as a packet announces more than the limit, before its body is read.
 */
import type { Duplex } from 'node:stream';

/** Returns a function to feed with every chunk in order; it calls `onTooLarge` once, with the announced size. */
export function packetSizeWatcher(maxBytes: number, onTooLarge: (announced: number) => void): (chunk: Buffer) => void {
  let state: 'type' | 'length' | 'body' | 'stopped' = 'type';
  let length = 0;
  let multiplier = 1;
  let remaining = 0;
  return (chunk) => {
    let i = 0;
    while (i < chunk.length && state !== 'stopped') {
      if (state === 'type') {
        i++;
        state = 'length';
        length = 0;
        multiplier = 1;
      } else if (state === 'length') {
        const byte = chunk[i++]!;
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if (byte & 0x80) {
          if (multiplier >= 128 ** 4) {
            state = 'stopped'; // more than 4 length bytes: not MQTT
            onTooLarge(Infinity);
          }
          continue;
        }
        if (length > maxBytes) {
          state = 'stopped';
          onTooLarge(length);
          continue;
        }
        remaining = length;
        state = remaining > 0 ? 'body' : 'type';
      } else {
        const take = Math.min(remaining, chunk.length - i);
        i += take;
        remaining -= take;
        if (remaining === 0) state = 'type';
      }
    }
  };
}

/**
 * Destroys `conn` when a packet is over `maxBytes`. A 'data' listener next to aedes's 'readable' one sees
 * exactly the chunks aedes reads, without taking over the flow.
 */
export function guardPacketSize(conn: Duplex, maxBytes: number, onTooLarge: (announced: number) => void): void {
  const watch = packetSizeWatcher(maxBytes, (announced) => {
    onTooLarge(announced);
    conn.destroy();
  });
  conn.on('data', watch);
}
