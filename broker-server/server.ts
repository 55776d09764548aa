/**
 * The server's composition root: builds its parts (database, the event log's reader, cluster links,
 * broker, retention, dispatcher, HTTP, live updates) and starts them in that order; stops them in reverse, each stop on its
 * own so one failure does not leave the rest open.
 */
import type { ServerConfig } from '../config';
import { Lifecycle, part, type Part } from '../config/lifecycle';
import type { Logger } from '../config/logger';
import { createAccessHooks } from './broker/access';
import { AuthThrottle } from './broker/auth-throttle';
import { ConnectionLimits } from './broker/limits';
import { AgentSessions } from './broker/agent-sessions';
import { PersistentSessions } from './broker/session-limits';
import { EmbeddedBroker, WEBSOCKET_PATH } from './broker/embedded-broker';
import { ExternalBroker } from './broker/external-broker';
import type { MessageBus } from './broker/message-bus';
import { loadTokens, type MqttAccounts, serverBrokerCredentials } from './broker/tokens';
import { newInstanceId } from './cluster/instance-id';
import { PostgresEventLogNotices } from './cluster/event-log-notices';
import { PostgresPrinterClaims } from './cluster/postgres-printer-claims';
import { type PrinterClaims, SoleInstanceClaims } from './cluster/printer-claims';
import { Database } from './db/database';
import { createApp, PUBLIC_DIR } from './http/app';
import { HttpListener } from './http/http-server';
import { LiveUpdates } from './http/live-updates';
import { Dispatcher } from './jobs/dispatcher';
import { StallWatchdog } from './jobs/stall-watchdog';
import { JobChangeLog } from './jobs/job-change-log';
import { JobIntake } from './jobs/job-intake';
import { JobService } from './jobs/job-service';
import { JobRetention } from './jobs/retention';
import { PrinterRegistry } from './printers/printer-registry';
import { apiKeyLimiter } from './http/api-keys';
import { Idempotency } from './http/idempotency';
import { StorageHealth } from './store/storage-health';
import { HostCheck } from './http/host-check';
import { FormTokens, loadFormTokenKey } from './http/cross-site';
import { StreamLimits } from './http/stream-limits';
import { ensurePrivateDir } from '../config/file-modes';
import { AdminSessions, LoginThrottle } from './admin/admin-auth';
import { type AdminPassword, loadAdminPassword } from './admin/admin-password';
import { accountOf } from './broker/access';
import { DynamicSecurity } from './broker/dynamic-security';
import { ServerMetrics } from './metrics';
import { type BrokerAccountControl, PrinterAccounts, PrinterAdminError } from './printers/printer-accounts';
import { WebhookDispatcher } from './webhooks/webhook-dispatcher';
import { loadWebhookKey } from './webhooks/webhook-secrets';
import { SqlWebhookStore } from './webhooks/webhook-store';
import { webhookTargetProblem } from './webhooks/webhook-targets';
import { PairingService } from './pairing/pairing-service';
import { AgentFiles } from './downloads/agent-files';

export interface RunningServer {
  readonly httpPort: number;
  readonly mqttPort: number | null;
  readonly jobs: JobService;
  readonly printers: PrinterRegistry;
  readonly dispatcher: Dispatcher;
  readonly watchdog: StallWatchdog;
  /** The embedded broker, or null when the server uses an external one. */
  readonly broker: EmbeddedBroker | null;
  readonly bus: MessageBus;
  /** The MQTT accounts; their tokens never go to the log. */
  readonly accounts: MqttAccounts;
  readonly live: LiveUpdates;
  /** The printer registry (add, rotate, remove printers live). */
  readonly registry: PrinterAccounts;
  /** The admin password and where it is kept; never logged. */
  readonly admin: AdminPassword;
  readonly metrics: ServerMetrics;
  /** Mosquitto's dynamic security, when MQTT_DYNSEC drives it. */
  readonly dynsec: DynamicSecurity | null;
  /** This process, in logs and in its printer claims. */
  readonly instanceId: string;
  /** Idempotency-Key records (and their retention). */
  readonly idempotency: Idempotency;
  readonly webhooks: WebhookDispatcher;
  /** The agents served at /agents/. */
  readonly agentFiles: AgentFiles;
  stop(): Promise<void>;
}

export async function startServer(config: ServerConfig, log: Logger): Promise<RunningServer> {
  // Data folder 0700 (its files are 0600 each): a folder left open to others is closed, with a warning.
  if (ensurePrivateDir(config.dataDir))
    log.warn(
      { module: 'server', dir: config.dataDir },
      'the data folder was open to other users; its mode is now 0700',
    );
  const instanceId = newInstanceId();
  const db = new Database({ dataDir: config.dataDir, databaseUrl: config.databaseUrl }, log.child({ module: 'db' }));
  const store = db.createJobStore();
  const { notices, claims } = clusterLinks(config, instanceId, log);
  const jobs = new JobService(store, log);
  // A full DATA_DIR: 503 and /readyz failing until a write (or, on SQLite, a probe) goes through again.
  const storage = new StorageHealth(log, { dataDir: config.databaseUrl ? null : config.dataDir });
  jobs.on('stored', () => storage.succeeded());
  const changes = new JobChangeLog(store, log, notices);
  const accounts = mqttAccounts(config, log);
  const { mqttLimits } = config;
  const throttle = new AuthThrottle(
    { maxFailures: mqttLimits.authMaxFailures, blockMs: mqttLimits.authBlockSeconds * 1000 },
    log.child({ module: 'access' }),
  );
  const connections = new ConnectionLimits(mqttLimits.maxConnectionsPerAccount);
  const sessions = new AgentSessions(log);
  const persistent = mqttLimits.sessions ? new PersistentSessions(mqttLimits.sessions) : undefined;
  const hooks = createAccessHooks(accounts, { debugCanPublish: config.debugCanPublish }, log, {
    throttle,
    connections,
    sessions,
    persistent,
  });
  const broker = config.mqttUrl
    ? null
    : new EmbeddedBroker(
        {
          host: config.host,
          tcpPort: config.mqttPort,
          hooks,
          maxInflight: mqttLimits.maxInflight,
          onClientGone: (client) => connections.release(client),
          sessions: persistent,
        },
        log,
      );
  const serverCredentials = serverBrokerCredentials(config, accounts);
  const external = broker ? null : new ExternalBroker({ url: config.mqttUrl!, ...serverCredentials }, log);
  const bus: MessageBus = broker ?? external!;
  const dynsec =
    external && config.dynsec
      ? new DynamicSecurity(external, { serverUsername: serverCredentials.username }, log)
      : null;
  // The printers PRINTERS names and those of the token file enter the registry once, with their token.
  const seed = Object.fromEntries(
    accounts.printerIds.map((id) => [id, accounts.credentialsFor({ kind: 'printer', printerId: id }).password]),
  );
  const registry = new PrinterAccounts(
    db.createPrinterAccountStore(),
    jobs,
    {
      seed,
      control: brokerControl(broker, dynsec),
      refreshMs: config.databaseUrl ? config.registryRefreshMs : 0,
      keepToken: (id, token) => accounts.replacePrinterToken(id, token),
    },
    log,
  );
  accounts.usePrinterRegistry(registry);
  const printers = new PrinterRegistry(store, registry, log);
  sessions.onEvent = (event) => printers.noteSession(event);
  sessions.onTakeover = async (event) => {
    await jobs.interruptUnfinished(
      event.printerId,
      `unfinished when the agent on ${event.other.host} took this printer's session from the agent on ${event.holder.host} (--takeover): it may have been printed there; reprint it if it is not on paper`,
    );
  };
  registry.on(
    'changed',
    ({ printerId }) =>
      void printers
        .announce(printerId)
        .catch((err: unknown) => log.error({ err, printerId }, 'printer change not announced')),
  );
  const admin = loadAdminPassword(config.dataDir, config.adminPassword);
  if (admin.modeFixed)
    log.warn(
      { module: 'server', file: admin.file },
      'the admin password file was readable by others; its mode is now 0600',
    );
  const dispatcher = new Dispatcher(bus, jobs, printers, log, { claims });
  const watchdog = new StallWatchdog(jobs, printers, dispatcher, log, { stallAfterMs: config.stallAfterMs });
  const live = new LiveUpdates(
    jobs,
    changes,
    printers,
    { defaultPrinterId: config.defaultPrinterId, replayHours: config.eventReplayHours, replay: config.eventReplay },
    log,
  );
  const idempotency = new Idempotency(db.createIdempotencyStore(), { keyHours: config.idempotencyKeyHours }, log);
  const metrics = new ServerMetrics({
    jobs,
    printers,
    live,
    brokerClients: () => broker?.clientCount ?? null,
    stalls: watchdog,
    observeCommits: store.observeCommits?.bind(store),
  });
  const hostCheck = new HostCheck(config.allowedHosts);
  const formKey = loadFormTokenKey(config.formTokenSecret, config.dataDir);
  if (formKey.modeFixed)
    log.warn(
      { module: 'server', file: 'form-token.key' },
      'the form token key was readable by others; its mode is now 0600',
    );
  const webhookStore = new SqlWebhookStore(db.sequelize, db.dialect);
  const webhookKey = loadWebhookKey(config.webhooks.secretKey, config.dataDir);
  if (webhookKey.modeFixed)
    log.warn(
      { module: 'server', file: 'webhook.key' },
      'the webhook key file was readable by others; its mode is now 0600',
    );
  const webhooks = new WebhookDispatcher(
    webhookStore,
    changes,
    webhookKey.key,
    {
      timeoutMs: config.webhooks.timeoutMs,
      retry: {
        minMs: config.webhooks.retryMinMs,
        maxMs: config.webhooks.retryMaxMs,
        windowMs: config.webhooks.retryHours * 3_600_000,
      },
      concurrency: config.webhooks.concurrency,
      pollMs: config.webhooks.pollMs,
      checkTarget: (url) => webhookTargetProblem(url, config.webhooks.allowPrivate),
      keepDays: config.jobRetentionDays,
      payloadDays: config.webhooks.payloadDays,
      keyWarning:
        config.databaseUrl && !config.webhooks.secretKey
          ? 'WEBHOOK_SECRET_KEY is not set: webhook secrets are sealed with DATA_DIR/webhook.key; every instance sharing this database needs the same key (set WEBHOOK_SECRET_KEY on each) to sign'
          : undefined,
    },
    log,
  );
  const pairing = new PairingService(
    db.createPairingStore(),
    registry,
    {
      enabled: config.pairing.enabled,
      codeMs: config.pairing.codeSeconds * 1000,
      ratePerMinute: config.pairing.ratePerMinute,
    },
    log,
  );
  const agentMqttUrl = config.agentMqttUrl ?? config.mqttUrl;
  const agentFiles = new AgentFiles(config.agentsDir ?? undefined);
  const app = createApp({
    jobs,
    printers,
    intake: new JobIntake(jobs, dispatcher),
    live,
    defaultPrinterId: config.defaultPrinterId,
    paperColumns: config.paperColumns,
    bodyLimitBytes: config.bodyLimitBytes,
    printRate: config.printRate,
    trustProxy: config.trustProxy,
    publicDir: PUBLIC_DIR,
    apiKeys: db.createApiKeyStore(),
    apiKeyLimiter: apiKeyLimiter(config.apiKeyRatePerMinute, db),
    apiKeysRequired: config.apiKeysRequired,
    idempotency,
    webhooks: webhookStore,
    log,
    storage,
    operations: {
      metrics,
      metricsToken: config.metricsToken,
      checks: [
        { name: 'database', check: async () => (db.migrated ? await db.ping() : 'migrations have not run yet') },
        { name: 'broker', check: () => (broker ?? external)!.notReady() },
        { name: 'storage', check: () => storage.problem() },
      ],
    },
    admin: {
      accounts: registry,
      password: admin.password,
      sessions: new AdminSessions({ ttlMs: config.admin.sessionMinutes * 60_000 }),
      throttle: new LoginThrottle({
        attempts: config.admin.lockoutAttempts,
        lockMs: config.admin.lockoutMinutes * 60_000,
      }),
      sessionMs: config.admin.sessionMinutes * 60_000,
      agentMqttUrl,
    },
    pairing: { service: pairing, agentMqttUrl },
    agentFiles,
    protections: {
      hostCheck,
      formTokens: new FormTokens(formKey.key),
      streamLimits: new StreamLimits(config.eventStreams),
      receiptMaxLines: config.receiptMaxLines,
      previewRate: config.previewRate,
    },
  });
  // The live streams end as HTTP stops, once no new connection can come in.
  const http = new HttpListener(app, {
    port: config.port,
    host: config.host,
    broker,
    hostCheck,
    beforeDrain: () => void live.stop(),
  });

  const parts: Part[] = [
    db,
    // Other instances' agents stay connected to an external broker, whose retained statuses tell.
    part(
      'printers',
      () => (config.mqttUrl ? undefined : printers.markAllOffline()),
      () => undefined,
    ),
    // Before everything that follows changes; stopped after them.
    changes,
    part(
      'printer claims',
      () => claims.start(),
      () => claims.stop(),
    ),
    part(
      'auth throttle',
      () => undefined,
      () => throttle.stop(),
    ),
    part(
      'printer registry',
      () => registry.start(),
      () => registry.stop(),
    ),
    part(
      'broker',
      () => bus.start(),
      () => bus.stop(),
    ),
    ...(dynsec
      ? [
          part(
            'dynamic security',
            () => dynsec.start(seed),
            () => dynsec.stop(),
          ),
        ]
      : []),
    new JobRetention(jobs, config.jobRetentionDays, log, config.eventReplayHours),
    idempotency,
    // Stopped even if its start fails half-way: publications it began must finish before the database closes.
    part(
      'dispatcher',
      () =>
        dispatcher.start().catch(async (err: unknown) => {
          await dispatcher.stop();
          throw err;
        }),
      () => dispatcher.stop(),
    ),
    watchdog,
    // After the dispatcher (it sends what it committed) and before HTTP; stopped after HTTP, before the database.
    webhooks,
    part(
      'storage health',
      () => undefined,
      () => storage.stop(),
    ),
    http,
    part(
      'live updates',
      () => live.start(),
      () => undefined,
    ),
  ];
  const lifecycle = new Lifecycle(log);
  await lifecycle.start(parts);
  const mqttPort = broker?.tcpPort ?? null;
  log.info(
    {
      module: 'server',
      instance: instanceId,
      port: http.port,
      mqttPort,
      websocket: broker ? WEBSOCKET_PATH : undefined,
      broker: config.mqttUrl ?? 'embedded',
      database: db.location,
    },
    'server ready',
  );
  return {
    httpPort: http.port,
    mqttPort,
    jobs,
    printers,
    dispatcher,
    watchdog,
    broker,
    bus,
    accounts,
    live,
    registry,
    admin,
    metrics,
    dynsec,
    instanceId,
    idempotency,
    webhooks,
    agentFiles,
    stop: () => lifecycle.stop(),
  };
}

/**
 * What a registry change does on the broker: the embedded broker authenticates against the registry
 * itself, so only the live connection is closed; Mosquitto's dynamic security gets the account changes;
 * Mosquitto with static files cannot follow (its files are regenerated by hand), so changes are refused.
 */
function brokerControl(broker: EmbeddedBroker | null, dynsec: DynamicSecurity | null): BrokerAccountControl {
  if (broker) {
    const kick = async (printerId: string) =>
      void broker.disconnect((client) => {
        const account = accountOf(client);
        return account?.kind === 'printer' && account.printerId === printerId;
      });
    return {
      name: 'embedded broker',
      readsRegistry: true,
      addPrinter: async () => undefined,
      setToken: (id) => kick(id),
      removePrinter: (id) => kick(id),
    };
  }
  if (dynsec) return dynsec;
  const refuse = async () => {
    throw new PrinterAdminError(
      409,
      'the external broker uses static password and ACL files: set MQTT_DYNSEC=true (Mosquitto dynamic security), or change PRINTERS and run npm run mosquitto-files',
      'Le broker externe utilise des fichiers de mots de passe fixes : activez MQTT_DYNSEC (sécurité dynamique de Mosquitto) ou régénérez-les avec npm run mosquitto-files.',
    );
  };
  return { name: 'static mosquitto files', addPrinter: refuse, setToken: refuse, removePrinter: refuse };
}

/** On PostgreSQL, other instances may share the database: hear what they add to the event log, and share out the printers. */
function clusterLinks(
  config: ServerConfig,
  instanceId: string,
  log: Logger,
): { notices?: PostgresEventLogNotices; claims: PrinterClaims } {
  if (!config.databaseUrl) return { claims: new SoleInstanceClaims() };
  return {
    notices: new PostgresEventLogNotices(config.databaseUrl, instanceId, log),
    claims: new PostgresPrinterClaims(config.databaseUrl, instanceId, log),
  };
}

function mqttAccounts(config: ServerConfig, log: Logger): MqttAccounts {
  const { accounts, modeFixed } = loadTokens(config);
  if (modeFixed)
    log.warn(
      { module: 'server', file: accounts.file },
      'the MQTT token file was readable by others; its mode is now 0600',
    );
  log.info(
    {
      module: 'server',
      file: accounts.file,
      printers: accounts.printerIds,
      generated: accounts.generated.length ? accounts.generated : undefined,
    },
    'mqtt accounts ready',
  );
  return accounts;
}
