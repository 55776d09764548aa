/**
 * The server's composition root: starts the database, the broker, the dispatcher and HTTP in that
 * order, and stops them in reverse, each stop on its own so one failure does not leave the rest open.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ServerConfig } from '../config';
import type { Logger } from '../config/logger';
import { EmbeddedBroker, WEBSOCKET_PATH } from './broker/embedded-broker';
import { Database } from './db/database';
import { Dispatcher } from './jobs/dispatcher';
import { JobService } from './jobs/job-service';
import { createApp, PUBLIC_DIR } from './http/app';
import { LiveUpdates } from './http/live-updates';

export interface RunningServer {
  readonly httpPort: number;
  readonly mqttPort: number | null;
  readonly jobs: JobService;
  readonly dispatcher: Dispatcher;
  readonly broker: EmbeddedBroker;
  readonly live: LiveUpdates;
  stop(): Promise<void>;
}

export async function startServer(config: ServerConfig, log: Logger): Promise<RunningServer> {
  const stops: Array<{ name: string; stop: () => Promise<void> }> = [];
  const stopAll = async () => {
    for (const { name, stop } of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        log.error({ err, part: name }, 'stop failed');
      }
    }
    stops.length = 0;
  };

  try {
    const db = new Database(config.dataDir, log.child({ module: 'db' }));
    await db.start();
    stops.push({ name: 'database', stop: () => db.stop() });

    const jobs = new JobService(db, config.printers, log);
    await jobs.markAllOffline();

    const broker = new EmbeddedBroker({ host: config.host, tcpPort: config.mqttPort }, log);
    await broker.start();
    stops.push({ name: 'broker', stop: () => broker.stop() });

    const dispatcher = new Dispatcher(broker, jobs, log);
    stops.push({ name: 'dispatcher', stop: () => dispatcher.stop() });
    await dispatcher.start();

    const live = new LiveUpdates(jobs, { defaultPrinterId: config.defaultPrinterId }, log);
    const app = createApp({
      jobs,
      dispatcher,
      live,
      defaultPrinterId: config.defaultPrinterId,
      paperColumns: config.paperColumns,
      bodyLimitBytes: config.bodyLimitBytes,
      publicDir: PUBLIC_DIR,
      log,
    });
    const server = http.createServer(app);
    const sockets = new Set<Socket>();
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    server.on('upgrade', (req, socket, head) => {
      if (new URL(req.url ?? '/', 'http://localhost').pathname === WEBSOCKET_PATH) broker.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    stops.push({
      name: 'http',
      stop: () =>
        new Promise<void>((resolve) => {
          // Stop taking requests, let those in flight finish, then drop idle keep-alive sockets.
          server.close(() => resolve());
          server.closeIdleConnections();
          setTimeout(() => {
            for (const socket of sockets) socket.destroy();
          }, 5000).unref();
        }),
    });
    // Stopped before HTTP (stops run in reverse): open pages' streams end, so the server can close.
    live.start();
    stops.push({ name: 'live updates', stop: () => live.stop() });
    const httpPort = (server.address() as AddressInfo).port;
    log.info({ module: 'server', port: httpPort, mqttPort: broker.tcpPort, websocket: WEBSOCKET_PATH, dataDir: config.dataDir }, 'server ready');

    return { httpPort, mqttPort: broker.tcpPort, jobs, dispatcher, broker, live, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
