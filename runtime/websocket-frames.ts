/**
 * MQTT over WebSocket, one frame per tick. mqtt-packet writes a packet in pieces (fixed header, topic,
 * id, payload), corked until the next tick; `ws`'s stream (createWebSocketStream) has no _writev, so
 * each piece became a WebSocket frame and a socket write of its own (6 for a PUBLISH). With this, what
 * was corked goes as one binary frame: MQTT over WebSocket lets a frame carry several packets, or parts of one.
 */
import type { Duplex } from 'node:stream';
import type { MqttClient } from 'mqtt';
import WebSocket from 'ws';

export function sendCorkedWritesAsOneFrame(stream: Duplex, socket: WebSocket): void {
  stream._writev = (chunks, callback) => {
    const data =
      chunks.length === 1
        ? chunks[0]!.chunk
        : Buffer.concat(chunks.map(({ chunk }) => (Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string))));
    if (socket.readyState === WebSocket.CONNECTING) {
      // As ws's own _write: the CONNECT is written before the socket is open.
      socket.once('open', () => socket.send(data, callback));
      return;
    }
    socket.send(data, callback);
  };
}

/**
 * mqtt.js options for a ws:// or wss:// URL that let the same be done on its client side: it builds the
 * stream around the socket it is given here; once the CONNECT is being written, the stream is known.
 * `attach` works before `client.connect()` (`manualConnect`, as the agent's link does) and right after
 * `mqtt.connect()` too: that one has already built its stream and written its CONNECT, which stays corked until the
 * next tick, so the stream is taken at once (waiting for the CONNECT's `packetsend` would miss it, and every piece
 * of every packet would then be a frame and a socket write of its own, for the whole connection).
 */
export function oneFramePerTick(): {
  createWebsocket: (url: string, protocols: string[], options: { wsOptions?: unknown }) => WebSocket;
  attach: (client: MqttClient) => void;
} {
  let latest: WebSocket | null = null;
  return {
    createWebsocket: (url, protocols, options) => {
      latest = new WebSocket(url, protocols, options.wsOptions as WebSocket.ClientOptions | undefined);
      return latest;
    },
    attach: (client) => {
      const take = () => {
        if (!latest) return;
        sendCorkedWritesAsOneFrame(client.stream as unknown as Duplex, latest);
        latest = null;
      };
      // Already connecting (no manualConnect): the stream around `latest` is the client's.
      if ((client.stream as unknown) !== undefined) take();
      // Each (re)connection builds a new socket through createWebsocket, then writes its CONNECT.
      client.on('packetsend', (packet) => {
        if (packet.cmd === 'connect') take();
      });
    },
  };
}
