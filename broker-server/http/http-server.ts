/**
 * The HTTP listener as a lifecycle part: serves the app, hands MQTT-over-WebSocket upgrades to the
 * embedded broker, and on stop lets requests in flight finish (5 s at most).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Part } from '../../runtime/lifecycle';
import { type EmbeddedBroker, WEBSOCKET_PATH } from '../broker/embedded-broker';
import type { HostCheck } from './guards/host-check';

const DRAIN_MS = 5000;

export class HttpListener implements Part {
  readonly name = 'http';
  private readonly server: http.Server;
  /**
   * HTTP connections, so that stop() can wait for requests in flight; MQTT-over-WebSocket connections
   * leave this set once upgraded: the broker closes those.
   */
  private readonly sockets = new Set<Socket>();
  private onSocketClosed: (() => void) | null = null;

  /** `app`: the Express app (any request listener), which may be made after this listener, before it starts. */
  constructor(
    app: http.RequestListener,
    private readonly options: {
      port: number;
      host: string;
      broker: EmbeddedBroker | null;
      hostCheck?: HostCheck;
      beforeDrain?: () => void;
    },
  ) {
    this.server = http.createServer(app);
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.onSocketClosed?.();
      });
    });
    this.server.on('upgrade', (req, socket, head) => {
      this.sockets.delete(socket as Socket);
      if (this.options.hostCheck?.refuseUpgrade(req, socket)) return;
      const broker = this.options.broker;
      if (broker && new URL(req.url ?? '/', 'http://localhost').pathname === WEBSOCKET_PATH)
        broker.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /**
   * Stops taking connections and drops idle keep-alive ones first, so that a page whose live stream ends
   * now cannot reconnect to a server on its way out; then lets requests in flight finish.
   */
  stop(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.server.close();
      this.server.closeIdleConnections();
      this.options.beforeDrain?.();
      const timer = setTimeout(() => {
        for (const socket of this.sockets) socket.destroy();
      }, DRAIN_MS);
      timer.unref();
      this.onSocketClosed = () => {
        this.server.closeIdleConnections();
        if (this.sockets.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      };
      this.onSocketClosed();
    });
  }
}
