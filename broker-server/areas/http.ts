/**
 * The HTTP area: the live streams, Idempotency-Key records, the metrics, the guards, and the app with its
 * listener (the embedded broker's WebSocket upgrades go through it too). The admin password and the form
 * token key are read when their parts start, and the app is made then, just before HTTP listens.
 */
import path from 'node:path';
import type { Express } from 'express';
import { part, type Part } from '../../runtime/lifecycle';
import { AdminSessions, LoginThrottle } from '../admin/admin-auth';
import { ADMIN_PASSWORD_FILE, type AdminPassword, loadAdminPassword } from '../admin/admin-password';
import { AgentFiles } from '../downloads/agent-files';
import { apiKeyLimiter } from '../http/api/api-keys';
import { Idempotency } from '../http/api/idempotency';
import { createApp, PUBLIC_DIR } from '../http/app';
import { FormTokens, loadFormTokenKey } from '../http/guards/cross-site';
import { HostCheck } from '../http/guards/host-check';
import { StreamLimits } from '../http/guards/stream-limits';
import { HttpListener } from '../http/http-server';
import { LiveStreams } from '../http/live-streams';
import { ServerMetrics } from '../metrics';
import type { BrokerArea } from './broker';
import { type ServerContext, KeyFile } from './context';
import type { DeliveryArea, JobsArea } from './jobs';
import type { PrintersArea } from './printers';
import type { StorageArea } from './storage';
import type { WebhooksArea } from './webhooks';
import { WebhookAdmin } from '../webhooks/webhook-admin';

export interface HttpNeeds {
  storage: StorageArea;
  jobs: JobsArea;
  delivery: DeliveryArea;
  broker: BrokerArea;
  printers: PrintersArea;
  webhooks: WebhooksArea;
}

export interface HttpArea {
  live: LiveStreams;
  idempotency: Idempotency;
  metrics: ServerMetrics;
  /** The agents served at /agents/. */
  agentFiles: AgentFiles;
  /** The admin password and where it is kept (read once started); never logged. */
  admin: KeyFile<AdminPassword>;
  listener: HttpListener;
  parts: { idempotency: Part; keys: Part[]; app: Part; listener: Part; live: Part };
}

export function buildHttp(ctx: ServerContext, needs: HttpNeeds): HttpArea {
  const { config, log } = ctx;
  const { jobs, printers, delivery, storage } = needs;
  const live = new LiveStreams(
    jobs.service,
    jobs.changes,
    printers.status,
    { defaultPrinterId: config.defaultPrinterId, replayMs: config.eventReplayMs, replay: config.eventReplay },
    log,
  );
  const idempotency = new Idempotency(storage.db.createIdempotencyStore(), { keyMs: config.idempotencyKeyMs }, log);
  const metrics = new ServerMetrics({
    jobs: jobs.service,
    printers: printers.status,
    live,
    brokerClients: () => needs.broker.embedded?.clientCount ?? null,
    stalls: delivery.watchdog,
    observeCommits: storage.store.observeCommits?.bind(storage.store),
  });
  const admin = new KeyFile(
    'admin password file',
    adminFile(config),
    () => {
      const value = loadAdminPassword(config.dataDir, config.adminPassword);
      return { value, modeFixed: value.modeFixed };
    },
    log,
  );
  const formKey = new KeyFile(
    'form token key',
    'form-token.key',
    () => {
      const { key, modeFixed } = loadFormTokenKey(config.formTokenSecret, config.dataDir);
      return { value: key, modeFixed };
    },
    log,
  );
  const hostCheck = new HostCheck(config.allowedHosts);
  const agentFiles = new AgentFiles(config.agentsDir ?? undefined);
  let app: Express | null = null;
  const made = { idempotency, live, metrics, agentFiles, hostCheck };
  // The live streams end as HTTP stops, once no new connection can come in.
  const listener = new HttpListener((req, res) => app!(req, res), {
    port: config.port,
    host: config.host,
    broker: needs.broker.embedded,
    hostCheck,
    beforeDrain: () => void live.stop(),
  });
  return {
    live,
    idempotency,
    metrics,
    agentFiles,
    admin,
    listener,
    parts: {
      idempotency,
      keys: [admin, formKey],
      app: part(
        'http app',
        () => {
          app = appOf(ctx, needs, made, { admin: admin.value, formKey: formKey.value });
        },
        () => undefined,
      ),
      listener,
      live: part(
        'live updates',
        () => live.start(),
        () => undefined,
      ),
    },
  };
}

const adminFile = (config: ServerContext['config']) => path.join(config.dataDir, ADMIN_PASSWORD_FILE);

function appOf(
  { config, log }: ServerContext,
  needs: HttpNeeds,
  made: {
    idempotency: Idempotency;
    live: LiveStreams;
    metrics: ServerMetrics;
    agentFiles: AgentFiles;
    hostCheck: HostCheck;
  },
  keys: { admin: AdminPassword; formKey: Buffer },
): Express {
  const { storage, jobs, printers, broker } = needs;
  const agentMqttUrl = config.agentMqttUrl ?? config.mqttUrl;
  return createApp({
    jobs: jobs.service,
    printers: printers.status,
    intake: needs.delivery.intake,
    live: made.live,
    defaultPrinterId: config.defaultPrinterId,
    bodyLimitBytes: config.bodyLimitBytes,
    printRate: config.printRate,
    trustProxy: config.trustProxy,
    publicDir: PUBLIC_DIR,
    apiKeys: storage.db.createApiKeyStore(),
    apiKeyLimiter: apiKeyLimiter(config.apiKeyRatePerMinute, storage.db),
    apiKeysRequired: config.apiKeysRequired,
    idempotency: made.idempotency,
    webhooks: needs.webhooks.store,
    log,
    storage: storage.health,
    operations: {
      metrics: made.metrics,
      metricsToken: config.metricsToken,
      checks: [
        {
          name: 'database',
          check: async () => (storage.db.migrated ? await storage.db.ping() : 'migrations have not run yet'),
        },
        { name: 'broker', check: () => broker.bus.notReady() },
        { name: 'storage', check: () => storage.health.problem() },
      ],
    },
    admin: {
      accounts: printers.accounts,
      password: keys.admin.password,
      sessions: new AdminSessions({ ttlMs: config.admin.sessionMs }),
      throttle: new LoginThrottle({ attempts: config.admin.lockoutAttempts, lockMs: config.admin.lockoutMs }),
      sessionMs: config.admin.sessionMs,
      agentMqttUrl,
      webhooks: new WebhookAdmin(needs.webhooks.store, needs.webhooks.key.value, {
        allowPrivate: config.webhooks.allowPrivate,
        wake: () => needs.webhooks.dispatcher()?.wake(),
      }),
    },
    pairing: { service: printers.pairing, agentMqttUrl },
    agentFiles: made.agentFiles,
    protections: {
      hostCheck: made.hostCheck,
      formTokens: new FormTokens(keys.formKey),
      streamLimits: new StreamLimits(config.eventStreams),
      previewRate: config.previewRate,
    },
  });
}
