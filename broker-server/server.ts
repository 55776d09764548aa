/**
 * The server's composition root. Each area builds itself from one context and what the areas built before
 * it offer (areas/: storage, jobs, broker, printers, delivery, webhooks, http); this file only says the
 * order their parts start in (stopped in reverse, each stop on its own, a failed start rolled back).
 */
import type { ServerConfig } from '../config';
import { Lifecycle, type Part } from '../runtime/lifecycle';
import type { Logger } from '../runtime/logger';
import type { AdminPassword } from './admin/admin-password';
import { WEBSOCKET_PATH } from './broker/embedded-broker';
import type { MqttAccounts } from './broker/tokens';
import { newInstanceId } from './cluster/instance-id';
import type { AgentFiles } from './downloads/agent-files';
import type { PrinterRegistry } from './printers/printer-registry';
import { type BrokerArea, buildBroker } from './areas/broker';
import type { ServerContext, ServerEvents } from './areas/context';
import { EventBus } from './event-bus';
import { buildHttp, type HttpArea } from './areas/http';
import { buildDelivery, buildJobs, type DeliveryArea, type JobsArea } from './areas/jobs';
import { buildPrinters, type PrintersArea } from './areas/printers';
import { buildStorage, type StorageArea } from './areas/storage';
import { buildWebhooks, type WebhooksArea } from './areas/webhooks';

/** What main.ts needs of a started server: where it listens, what its banner shows, and how to stop it. */
export interface RunningServer {
  readonly httpPort: number;
  readonly mqttPort: number | null;
  /** This process, in logs and in its printer claims. */
  readonly instanceId: string;
  /** The MQTT accounts; their tokens never go to the log. */
  readonly accounts: MqttAccounts;
  /** The printer registry (add, rotate, remove printers live). */
  readonly registry: PrinterRegistry;
  /** The admin password and where it is kept; never logged. */
  readonly admin: AdminPassword;
  /** The agents served at /agents/. */
  readonly agentFiles: AgentFiles;
  stop(): Promise<void>;
}

/** Every area as built, for whoever composes a server and looks inside it (the tests' harness). */
export interface ServerAreas {
  storage: StorageArea;
  jobs: JobsArea;
  broker: BrokerArea;
  printers: PrintersArea;
  delivery: DeliveryArea;
  webhooks: WebhooksArea;
  http: HttpArea;
}

export interface BuiltServer {
  readonly context: ServerContext;
  readonly areas: ServerAreas;
  /** The parts, in start order. */
  readonly parts: readonly Part[];
}

export function buildServer(config: ServerConfig, log: Logger): BuiltServer {
  const context: ServerContext = { config, log, instanceId: newInstanceId(), events: new EventBus<ServerEvents>() };
  const storage = buildStorage(context);
  const jobs = buildJobs(context, storage);
  const broker = buildBroker(context);
  const printers = buildPrinters(context, { storage, jobs, broker });
  const delivery = buildDelivery(context, { storage, jobs, bus: broker.bus, printers: printers.status });
  const webhooks = buildWebhooks(context, { storage, jobs });
  const http = buildHttp(context, { storage, jobs, delivery, broker, printers, webhooks });
  const parts: Part[] = [
    storage.parts.database,
    printers.parts.offline,
    // Before everything that follows changes; stopped after them.
    jobs.parts.changes,
    storage.parts.claims,
    broker.parts.accounts,
    broker.parts.throttle,
    printers.parts.registry,
    broker.parts.broker,
    ...broker.parts.dynsec,
    jobs.parts.retention,
    http.parts.idempotency,
    delivery.parts.dispatcher,
    delivery.parts.watchdog,
    // After the dispatcher (it sends what it committed) and before HTTP; stopped after HTTP, before the database.
    webhooks.parts.key,
    webhooks.parts.dispatcher,
    storage.parts.health,
    ...http.parts.keys,
    http.parts.app,
    http.parts.listener,
    http.parts.live,
  ];
  return { context, areas: { storage, jobs, broker, printers, delivery, webhooks, http }, parts };
}

/** Starts a built server's parts in order; a part that fails stops those already started, and throws. */
export async function startBuilt(built: BuiltServer): Promise<RunningServer> {
  const { context, areas } = built;
  const { config, log, instanceId } = context;
  const lifecycle = new Lifecycle(log);
  await lifecycle.start(built.parts);
  const mqttPort = areas.broker.embedded?.tcpPort ?? null;
  const httpPort = areas.http.listener.port;
  log.info(
    {
      module: 'server',
      instance: instanceId,
      port: httpPort,
      mqttPort,
      websocket: areas.broker.embedded ? WEBSOCKET_PATH : undefined,
      broker: config.mqttUrl ?? 'embedded',
      database: areas.storage.db.location,
    },
    'server ready',
  );
  return {
    httpPort,
    mqttPort,
    instanceId,
    accounts: areas.broker.accounts,
    registry: areas.printers.accounts,
    admin: areas.http.admin.value,
    agentFiles: areas.http.agentFiles,
    stop: () => lifecycle.stop(),
  };
}

export function startServer(config: ServerConfig, log: Logger): Promise<RunningServer> {
  return startBuilt(buildServer(config, log));
}
