/**
 * Nagle's algorithm off on a connection's socket. MQTT's packets are small and each one waits for an
 * answer (PUBLISH → PUBACK, ack → `printed`): with Nagle on, a packet written while an earlier one is
 * not yet acknowledged waits for the peer's delayed ACK, about 40 ms per hop on Linux. WebSocket links
 * already have it off (the `ws` module sets it on every socket it takes).
 */
import type { MqttClient } from 'mqtt';

interface MaybeSocket {
  setNoDelay?: (noDelay?: boolean) => unknown;
}

/** Sets TCP_NODELAY where the stream is a TCP (or TLS) socket; a no-op for any other stream. */
export function setNoDelay(stream: unknown): void {
  const socket = stream as MaybeSocket | null | undefined;
  if (typeof socket?.setNoDelay === 'function') socket.setNoDelay(true);
}

/**
 * For an mqtt.js client, which has no option for it: on each (re)connection, before its CONNECT packet
 * is written, on the socket mqtt.js has just opened.
 */
export function noDelayOnEachConnection(client: MqttClient): void {
  client.on('packetsend', (packet) => {
    if (packet.cmd === 'connect') setNoDelay(client.stream);
  });
}
