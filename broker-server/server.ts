/**
 * The server's composition root: starts the database, the broker, the dispatcher and HTTP in that
 * order, and stops them in reverse, each stop on its own so one failure does not leave the rest open.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ServerConfig } from '../config';
import type { Logger } from '../config/logger';
import { createAccessHooks } from './broker/access';
import { AuthThrottle } from './broker/auth-throttle';
import { ConnectionLimits } from './broker/limits';
import { EmbeddedBroker, WEBSOCKET_PATH } from './broker/embedded-broker';
import { loadTokens, type MqttAccounts, serverBrokerCredentials } from './broker/tokens';
import { ExternalBroker } from './broker/external-broker';
import type { MessageBus } from './broker/message-bus';
import { type Cluster, PostgresCluster, SingleInstance } from './db/cluster';
import { Database } from './db/database';
import { Dispatcher } from './jobs/dispatcher';
import { JobService } from './jobs/job-service';
import { JobRetention } from './jobs/retention';
import { createApp, PUBLIC_DIR } from './http/app';
import { LiveUpdates } from './http/live-updates';
import { HostCheck } from './http/host-check';
import { FormTokens, loadFormTokenKey } from './http/cross-site';
import { StreamLimits } from './http/stream-limits';
import { ensurePrivateDir } from '../config/file-modes';

export interface RunningServer {
  readonly httpPort: number;
  readonly mqttPort: number | null;
  readonly jobs: JobService;
  readonly dispatcher: Dispatcher;
  /** The embedded broker, or null when the server uses an external one. */
  readonly broker: EmbeddedBroker | null;
  readonly bus: MessageBus;
  /** The MQTT accounts; their tokens never go to the log. */
  readonly accounts: MqttAccounts;
  readonly live: LiveUpdates;
  readonly cluster: Cluster;
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
    // Data folder 0700 (its files are 0600 each): a folder left open to others is closed, with a warning.
    if (ensurePrivateDir(config.dataDir)) log.warn({ module: 'server', dir: config.dataDir }, 'the data folder was open to other users; its mode is now 0700');
    const db = new Database({ dataDir: config.dataDir, databaseUrl: config.databaseUrl }, log.child({ module: 'db' }));
    await db.start();
    stops.push({ name: 'database', stop: () => db.stop() });

    const cluster: Cluster = config.databaseUrl ? new PostgresCluster(config.databaseUrl, log) : new SingleInstance();
    await cluster.start();
    stops.push({ name: 'cluster', stop: () => cluster.stop() });

    const jobs = new JobService(db, config.printers, log, cluster);
    // Other instances' agents stay connected to an external broker, whose retained statuses tell.
    if (!config.mqttUrl) await jobs.markAllOffline();

    const { accounts, modeFixed } = loadTokens(config);
    if (modeFixed) log.warn({ module: 'server', file: accounts.file }, 'the MQTT token file was readable by others; its mode is now 0600');
    log.info({ module: 'server', file: accounts.file, printers: accounts.printerIds, generated: accounts.generated.length ? accounts.generated : undefined }, 'mqtt accounts ready');
    const { mqttLimits } = config;
    const throttle = new AuthThrottle({ maxFailures: mqttLimits.authMaxFailures, blockMs: mqttLimits.authBlockSeconds * 1000 }, log.child({ module: 'access' }));
    stops.push({ name: 'auth throttle', stop: async () => throttle.stop() });
    const connections = new ConnectionLimits(mqttLimits.maxConnectionsPerAccount);
    const hooks = createAccessHooks(accounts, { debugCanPublish: config.debugCanPublish }, log, { throttle, connections });
    const broker = config.mqttUrl
      ? null
      : new EmbeddedBroker({ host: config.host, tcpPort: config.mqttPort, hooks, maxInflight: mqttLimits.maxInflight, onClientGone: (client) => connections.release(client) }, log);
    const bus: MessageBus = broker ?? new ExternalBroker({ url: config.mqttUrl!, ...serverBrokerCredentials(config, accounts) }, log);
    await bus.start();
    stops.push({ name: 'broker', stop: () => bus.stop() });

    const retention = new JobRetention(jobs, config.jobRetentionDays, log);
    retention.start();
    stops.push({ name: 'retention', stop: () => retention.stop() });

    const dispatcher = new Dispatcher(bus, jobs, log, { cluster, republishStaleMs: config.republishStaleMs });
    stops.push({ name: 'dispatcher', stop: () => dispatcher.stop() });
    await dispatcher.start();

    const live = new LiveUpdates(jobs, { defaultPrinterId: config.defaultPrinterId }, log);
    const hostCheck = new HostCheck(config.allowedHosts);
    const formKey = loadFormTokenKey(config.formTokenSecret, config.dataDir);
    if (formKey.modeFixed) log.warn({ module: 'server', file: 'form-token.key' }, 'the form token key was readable by others; its mode is now 0600');
    const app = createApp({
      jobs,
      dispatcher,
      live,
      defaultPrinterId: config.defaultPrinterId,
      paperColumns: config.paperColumns,
      bodyLimitBytes: config.bodyLimitBytes,
      printRate: config.printRate,
      trustProxy: config.trustProxy,
      publicDir: PUBLIC_DIR,
      log,
      protections: {
        hostCheck,
        formTokens: new FormTokens(formKey.key),
        streamLimits: new StreamLimits(config.eventStreams),
        receiptMaxLines: config.receiptMaxLines,
        previewRate: config.previewRate,
      },
    });
    const server = http.createServer(app);
    // HTTP connections, so that stop() can wait for requests in flight; MQTT-over-WebSocket
    // connections leave this set once upgraded: the broker closes those.
    const sockets = new Set<Socket>();
    let onSocketClosed: (() => void) | null = null;
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.on('close', () => {
        sockets.delete(socket);
        onSocketClosed?.();
      });
    });
    server.on('upgrade', (req, socket, head) => {
      sockets.delete(socket as Socket);
      if (hostCheck.refuseUpgrade(req, socket)) return;
      if (broker && new URL(req.url ?? '/', 'http://localhost').pathname === WEBSOCKET_PATH) broker.handleUpgrade(req, socket, head);
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
          // Stop taking connections and drop idle keep-alive ones first, so that a page whose live stream
          // ends now cannot reconnect to a server on its way out; then let requests in flight finish (5 s at most).
          server.close();
          server.closeIdleConnections();
          void live.stop();
          const timer = setTimeout(() => {
            for (const socket of sockets) socket.destroy();
          }, 5000);
          timer.unref();
          onSocketClosed = () => {
            server.closeIdleConnections();
            if (sockets.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          };
          onSocketClosed();
        }),
    });
    // Stopped by the HTTP stop above, once no new connection can come in.
    live.start();
    const httpPort = (server.address() as AddressInfo).port;
    const mqttPort = broker?.tcpPort ?? null;
    log.info(
      { module: 'server', instance: cluster.instanceId, port: httpPort, mqttPort, websocket: broker ? WEBSOCKET_PATH : undefined, broker: config.mqttUrl ?? 'embedded', database: db.location },
      'server ready',
    );

    return { httpPort, mqttPort, jobs, dispatcher, broker, bus, accounts, live, cluster, stop: stopAll };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
