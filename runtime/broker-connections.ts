/**
 * How a broker in this process takes an MQTT connection, on TCP or on WebSocket: the server's embedded Aedes, and
 * the bench's frame alone (bench/floor/), which must measure the same transport as the server.
 */
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, type WebSocket } from 'ws';
import { oneWritePerTurn } from './one-write-per-turn';
import { setNoDelay } from './tcp-nodelay';
import { sendCorkedWritesAsOneFrame } from './websocket-frames';

/** A TCP connection, ready for the broker's `handle`. */
export function brokerTcpConnection(socket: net.Socket): net.Socket {
  // Nagle off, as `ws` already has it on the WebSocket links: small packets are not held for the peer's delayed ACK.
  setNoDelay(socket);
  // The packets of one turn of the event loop in one `writev`.
  oneWritePerTurn(socket);
  return socket;
}

/** The stream of a WebSocket connection, for the broker's `handle`. */
export function brokerWebSocketStream(socket: WebSocket): Duplex {
  const stream = createWebSocketStream(socket);
  // The broker's pieces of a packet (and packets of one tick) as one frame and one socket write.
  sendCorkedWritesAsOneFrame(stream, socket);
  // And every packet written to it in one turn of the event loop, as one frame.
  oneWritePerTurn(stream);
  return stream;
}
