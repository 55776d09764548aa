/**
 * One validated config object per side, read once at start-up from defaults plus environment
 * variables. Every invalid setting is reported at once, by name.
 */
import path from 'node:path';
import { z } from 'zod';
import { agentDefaults, serverDefaults, virtualPrinterDefaults } from './defaults';
import type { PrinterCondition } from '../protocol/messages';
import { RESERVED_USERNAMES, TOKEN_PATTERN, TOKEN_RULE } from '../protocol/accounts';
import { PRINTER_ID_PATTERN } from '../protocol/topics';
import { agentConfigFrom, type AgentConfig, checkAgentSettings } from './agent';
import { agentSchema } from './agent-schema';
import { ConfigError, type Env, rawSettings } from './errors';
import { isParsableUrl, PARSABLE_RULE } from './rules';
import {
  boolean,
  brokerUrl,
  loadWith,
  logLevel,
  port,
  positiveInt,
  printerAccount,
  receiptMaxLines,
} from './zod-rules';

export { agentDefaults, serverDefaults, virtualPrinterDefaults };
export { ConfigError, loadOrExit } from './errors';
export type { AgentConfig } from './agent';

const token = z.string().refine((s) => s === '' || TOKEN_PATTERN.test(s), TOKEN_RULE);
const printerTokens = z.string().transform((s, ctx) => {
  const tokens: Record<string, string> = {};
  for (const entry of s
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const colon = entry.indexOf(':');
    const id = colon > 0 ? entry.slice(0, colon) : '';
    const secret = colon > 0 ? entry.slice(colon + 1) : '';
    // The message names the printer, never the token.
    if (!PRINTER_ID_PATTERN.test(id) || RESERVED_USERNAMES.includes(id))
      ctx.addIssue({
        code: 'custom',
        message: `each entry must be PRINTER_ID:TOKEN with a valid printer id (entry ${Object.keys(tokens).length + 1})`,
      });
    else if (!TOKEN_PATTERN.test(secret)) ctx.addIssue({ code: 'custom', message: `the token of ${id} ${TOKEN_RULE}` });
    // defineProperty: a printer named __proto__ is a key like any other, not the object's prototype.
    else Object.defineProperty(tokens, id, { value: secret, enumerable: true, writable: true, configurable: true });
  }
  return tokens;
});
const databaseUrl = z
  .string()
  .refine((s) => s === '' || /^postgres(ql)?:\/\/.+/.test(s), 'must be empty (SQLite in DATA_DIR) or a postgres:// URL')
  .refine((s) => s === '' || isParsableUrl(s), PARSABLE_RULE);

/** The settings of issue 17 (hardening), with their rules. */
const hardeningSettings = {
  ALLOWED_HOSTS: z.string().transform((s) =>
    s
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
  ),
  FORM_TOKEN_SECRET: z.string().refine((s) => s === '' || s.length >= 16, 'must be at least 16 characters'),
  RECEIPT_MAX_LINES: receiptMaxLines,
  PREVIEW_RATE_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000),
  PREVIEW_RATE_BURST: positiveInt.max(1_000_000),
  MAX_EVENT_STREAMS: positiveInt.max(1_000_000),
  MAX_EVENT_STREAMS_PER_ADDRESS: positiveInt.max(1_000_000),
  MQTT_MAX_INFLIGHT: positiveInt.max(65535),
  MQTT_MAX_CONNECTIONS_PER_ACCOUNT: positiveInt.max(1_000_000),
  MQTT_AUTH_MAX_FAILURES: positiveInt.max(1_000_000),
  MQTT_AUTH_BLOCK_SECONDS: z.coerce.number().int().min(0).max(86_400),
  MQTT_MAX_SESSIONS_PER_ACCOUNT: positiveInt.max(1_000_000),
  MQTT_SESSION_EXPIRY: z
    .string()
    .regex(/^\s*\d{1,9}\s*[smhd]?\s*$/i, 'must be seconds, or a number with s, m, h or d (1d, 12h)')
    .transform((s) => {
      const [, n, unit] = /(\d+)\s*([smhd]?)/i.exec(s)!;
      return Number(n) * { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[unit!.toLowerCase() as 's']! * 1000;
    })
    .pipe(z.number().min(1000, 'must be at least 1 s')),
  MQTT_MAX_QUEUED_PER_SESSION: positiveInt.max(10_000_000),
  EVENT_REPLAY_MAX_BYTES: positiveInt.min(64 * 1024).max(1024 * 1024 * 1024),
  EVENT_REPLAY_BUFFER_BYTES: positiveInt.min(16 * 1024).max(64 * 1024 * 1024),
  EVENT_REPLAYS_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000),
  EVENT_REPLAY_BURST: positiveInt.max(1_000_000),
};

/** Webhooks (issue 13). */
const webhookSettings = {
  WEBHOOK_SECRET_KEY: z.string().refine((s) => s === '' || s.length >= 16, 'must be at least 16 characters'),
  WEBHOOK_TIMEOUT_MS: positiveInt.max(600_000),
  WEBHOOK_RETRY_HOURS: z.coerce
    .number()
    .positive('must be a number of hours above 0')
    .max(24 * 30),
  WEBHOOK_RETRY_MIN_MS: positiveInt.max(86_400_000),
  WEBHOOK_RETRY_MAX_MS: positiveInt.max(86_400_000),
  WEBHOOK_CONCURRENCY: positiveInt.max(100),
  WEBHOOK_ALLOW_PRIVATE: boolean,
  WEBHOOK_PAYLOAD_DAYS: z.coerce.number().min(0).max(366),
};

const serverSchema = z.object({
  PORT: port(0),
  MQTT_URL: z.literal('').or(brokerUrl),
  MQTT_USERNAME: z.string(),
  MQTT_PASSWORD: z.string(),
  DATABASE_URL: databaseUrl,
  STALL_AFTER_S: z.coerce.number().min(0).max(86_400),
  JOB_RETENTION_DAYS: z.coerce.number().min(0),
  EVENT_REPLAY_HOURS: z.coerce
    .number()
    .positive('must be a number of hours above 0')
    .max(24 * 366),
  HOST: z.string().min(1),
  MQTT_PORT: port(-1),
  DATA_DIR: z.string().min(1),
  DEFAULT_PRINTER_ID: printerAccount,
  PRINTERS: z
    .string()
    .transform((s) =>
      s
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean),
    )
    .pipe(z.array(printerAccount)),
  BODY_LIMIT_BYTES: positiveInt.max(10 * 1024 * 1024),
  LOG_LEVEL: logLevel,
  PAPER_COLUMNS: positiveInt.min(16).max(255),
  PRINTER_TOKENS: printerTokens,
  MQTT_DEBUG_PASSWORD: token,
  MQTT_SERVER_PASSWORD: token,
  MQTT_DEBUG_CAN_PUBLISH: boolean,
  PRINT_RATE_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000),
  PRINT_RATE_BURST: positiveInt.max(1_000_000),
  IDEMPOTENCY_KEY_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 365),
  API_KEY_RATE_PER_MINUTE: z.coerce.number().int().min(0).max(10_000_000),
  API_KEYS_REQUIRED: boolean,
  TRUST_PROXY: z
    .string()
    .transform((s): boolean | number | string =>
      s === '' || s === 'false' ? false : s === 'true' ? true : /^\d+$/.test(s) ? Number(s) : s,
    ),
  ...hardeningSettings,
  ADMIN_PASSWORD: z
    .string()
    .refine((s) => s === '' || (s.length >= 12 && s.length <= 256), 'must be 12-256 characters'),
  ADMIN_SESSION_MINUTES: positiveInt.max(7 * 24 * 60),
  ADMIN_LOCKOUT_ATTEMPTS: positiveInt.max(1000),
  ADMIN_LOCKOUT_MINUTES: positiveInt.max(24 * 60),
  METRICS_TOKEN: z.string().refine((s) => s === '' || TOKEN_PATTERN.test(s), TOKEN_RULE),
  MQTT_DYNSEC: boolean,
  AGENT_MQTT_URL: z.literal('').or(brokerUrl),
  REGISTRY_REFRESH_MS: z.coerce.number().int().min(0),
  ...webhookSettings,
  AGENTS_DIR: z.string(),
  PAIRING: boolean,
  PAIRING_CODE_SECONDS: z.coerce.number().int().min(5).max(600),
  PAIRING_RATE_PER_MINUTE: z.coerce.number().int().min(0).max(10_000),
});

export interface ServerConfig {
  port: number;
  host: string;
  /** -1: no TCP listener. */
  mqttPort: number;
  /** An external broker; null embeds Aedes. */
  mqttUrl: string | null;
  mqttUsername: string;
  mqttPassword: string;
  dataDir: string;
  /** PostgreSQL; null: the SQLite file in dataDir. */
  databaseUrl: string | null;
  /** The stall watchdog's STALL_AFTER_S, in ms; 0: off. */
  stallAfterMs: number;
  /** JOB_RETENTION_DAYS in ms; 0: finished jobs are kept forever. */
  jobRetentionMs: number;
  /** EVENT_REPLAY_HOURS in ms: how long job changes stay in the event log (Last-Event-ID, webhooks). */
  eventReplayMs: number;
  defaultPrinterId: string;
  printers: string[];
  bodyLimitBytes: number;
  logLevel: string;
  paperColumns: number;
  /** Configured MQTT passwords; what is missing is generated and kept in DATA_DIR. Never log these. */
  mqttTokens: ConfiguredTokens;
  debugCanPublish: boolean;
  /** Token bucket per client address on job creation; 0 per minute turns it off. */
  printRate: { perMinute: number; burst: number };
  /** Express's `trust proxy` value. */
  trustProxy: boolean | number | string;
  /** IDEMPOTENCY_KEY_HOURS in ms. */
  idempotencyKeyMs: number;
  /** Jobs an API key may create per minute; 0: no limit. */
  apiKeyRatePerMinute: number;
  apiKeysRequired: boolean;
  /** Host names answered besides IP literals, localhost and the machine's own names. */
  allowedHosts: string[];
  /** Key of the page's form tokens; null: DATA_DIR/form-token.key. Never log it. */
  formTokenSecret: string | null;
  receiptMaxLines: number;
  previewRate: { perMinute: number; burst: number };
  eventStreams: { total: number; perAddress: number };
  /** What one GET /jobs/events replay may cost (EVENT_REPLAY_*). */
  eventReplay: { maxBytes: number; bufferBytes: number; perMinute: number; burst: number };
  mqttLimits: MqttLimits;
  /** Configured admin password; null: generated into DATA_DIR. Never log it. */
  adminPassword: string | null;
  /** ADMIN_SESSION_MINUTES and ADMIN_LOCKOUT_MINUTES, in ms. */
  admin: { sessionMs: number; lockoutAttempts: number; lockoutMs: number };
  /** Bearer token of GET /metrics; null: open. */
  metricsToken: string | null;
  /** With an external broker, drive Mosquitto's dynamic security plugin. */
  dynsec: boolean;
  /** Broker URL shown in a new printer's agent command; null: derived. */
  agentMqttUrl: string | null;
  registryRefreshMs: number;
  webhooks: WebhookConfig;
  /** Where the agents served at /agents/ are; null: dist/. */
  agentsDir: string | null;
  /** Agents pairing with a printed code (broker-server/pairing/). */
  pairing: { enabled: boolean; /** PAIRING_CODE_SECONDS, in ms. */ codeMs: number; ratePerMinute: number };
}

export interface WebhookConfig {
  /** Key of the endpoints' secrets at rest; null: DATA_DIR/webhook.key. Never log it. */
  secretKey: string | null;
  timeoutMs: number;
  /** WEBHOOK_RETRY_HOURS, in ms: how long a delivery is retried. */
  retryWindowMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  /** Requests in flight per endpoint, per instance. */
  concurrency: number;
  /** How often due retries are looked for. */
  pollMs: number;
  /** Webhooks may go to this machine (loopback), link-local and metadata addresses (webhook-targets.ts). */
  allowPrivate: boolean;
  /** WEBHOOK_PAYLOAD_DAYS in ms: finished deliveries keep their payload this long (0: as long as the row). */
  payloadMs: number;
}

export interface MqttLimits {
  maxInflight: number;
  maxConnectionsPerAccount: number;
  /** Persistent sessions per account, how long one is kept while its client is away, and what it may queue. */
  sessions?: { maxPerAccount: number; expiryMs: number; maxQueued: number };
  authMaxFailures: number;
  /** MQTT_AUTH_BLOCK_SECONDS, in ms. */
  authBlockMs: number;
}

function hardeningConfig(c: z.infer<typeof serverSchema>) {
  return {
    allowedHosts: c.ALLOWED_HOSTS,
    formTokenSecret: c.FORM_TOKEN_SECRET || null,
    receiptMaxLines: c.RECEIPT_MAX_LINES,
    previewRate: { perMinute: c.PREVIEW_RATE_PER_MINUTE, burst: c.PREVIEW_RATE_BURST },
    eventStreams: { total: c.MAX_EVENT_STREAMS, perAddress: c.MAX_EVENT_STREAMS_PER_ADDRESS },
    eventReplay: {
      maxBytes: c.EVENT_REPLAY_MAX_BYTES,
      bufferBytes: c.EVENT_REPLAY_BUFFER_BYTES,
      perMinute: c.EVENT_REPLAYS_PER_MINUTE,
      burst: c.EVENT_REPLAY_BURST,
    },
    mqttLimits: {
      maxInflight: c.MQTT_MAX_INFLIGHT,
      maxConnectionsPerAccount: c.MQTT_MAX_CONNECTIONS_PER_ACCOUNT,
      authMaxFailures: c.MQTT_AUTH_MAX_FAILURES,
      authBlockMs: c.MQTT_AUTH_BLOCK_SECONDS * 1000,
      sessions: {
        maxPerAccount: c.MQTT_MAX_SESSIONS_PER_ACCOUNT,
        expiryMs: c.MQTT_SESSION_EXPIRY,
        maxQueued: c.MQTT_MAX_QUEUED_PER_SESSION,
      },
    },
  };
}

export interface ConfiguredTokens {
  printers: Record<string, string>;
  debug: string | null;
  server: string | null;
}

export function loadServerConfig(env: Env = process.env, overrides: Partial<ServerConfig> = {}): ServerConfig {
  if (env.REPUBLISH_STALE_MS !== undefined && env.REPUBLISH_STALE_MS !== '' && env.STALL_AFTER_S === undefined)
    throw new ConfigError([
      `REPUBLISH_STALE_MS=${env.REPUBLISH_STALE_MS}: renamed STALL_AFTER_S, in seconds (the stall watchdog)`,
    ]);
  const c = loadWith(serverSchema, rawSettings(serverDefaults, env));
  if (c.WEBHOOK_RETRY_MAX_MS < c.WEBHOOK_RETRY_MIN_MS)
    throw new ConfigError([`WEBHOOK_RETRY_MAX_MS=${c.WEBHOOK_RETRY_MAX_MS}: must be at least WEBHOOK_RETRY_MIN_MS`]);
  const printers = [...new Set([c.DEFAULT_PRINTER_ID, ...c.PRINTERS])];
  return {
    port: c.PORT,
    host: c.HOST,
    mqttPort: c.MQTT_PORT,
    mqttUrl: c.MQTT_URL || null,
    mqttUsername: c.MQTT_USERNAME,
    mqttPassword: c.MQTT_PASSWORD,
    dataDir: path.resolve(c.DATA_DIR),
    databaseUrl: c.DATABASE_URL || null,
    stallAfterMs: Math.round(c.STALL_AFTER_S * 1000),
    jobRetentionMs: c.JOB_RETENTION_DAYS * 86_400_000,
    eventReplayMs: c.EVENT_REPLAY_HOURS * 3_600_000,
    defaultPrinterId: c.DEFAULT_PRINTER_ID,
    printers,
    bodyLimitBytes: c.BODY_LIMIT_BYTES,
    logLevel: c.LOG_LEVEL,
    paperColumns: c.PAPER_COLUMNS,
    mqttTokens: {
      printers: c.PRINTER_TOKENS,
      debug: c.MQTT_DEBUG_PASSWORD || null,
      server: c.MQTT_SERVER_PASSWORD || null,
    },
    debugCanPublish: c.MQTT_DEBUG_CAN_PUBLISH,
    printRate: { perMinute: c.PRINT_RATE_PER_MINUTE, burst: c.PRINT_RATE_BURST },
    trustProxy: c.TRUST_PROXY,
    idempotencyKeyMs: c.IDEMPOTENCY_KEY_HOURS * 3_600_000,
    apiKeyRatePerMinute: c.API_KEY_RATE_PER_MINUTE,
    apiKeysRequired: c.API_KEYS_REQUIRED,
    ...hardeningConfig(c),
    adminPassword: c.ADMIN_PASSWORD || null,
    admin: {
      sessionMs: c.ADMIN_SESSION_MINUTES * 60_000,
      lockoutAttempts: c.ADMIN_LOCKOUT_ATTEMPTS,
      lockoutMs: c.ADMIN_LOCKOUT_MINUTES * 60_000,
    },
    metricsToken: c.METRICS_TOKEN || null,
    dynsec: c.MQTT_DYNSEC,
    agentMqttUrl: c.AGENT_MQTT_URL || null,
    registryRefreshMs: c.REGISTRY_REFRESH_MS,
    webhooks: {
      secretKey: c.WEBHOOK_SECRET_KEY || null,
      timeoutMs: c.WEBHOOK_TIMEOUT_MS,
      retryWindowMs: c.WEBHOOK_RETRY_HOURS * 3_600_000,
      retryMinMs: c.WEBHOOK_RETRY_MIN_MS,
      retryMaxMs: c.WEBHOOK_RETRY_MAX_MS,
      concurrency: c.WEBHOOK_CONCURRENCY,
      pollMs: 1000,
      allowPrivate: c.WEBHOOK_ALLOW_PRIVATE,
      payloadMs: c.WEBHOOK_PAYLOAD_DAYS * 86_400_000,
    },
    agentsDir: c.AGENTS_DIR ? path.resolve(c.AGENTS_DIR) : null,
    pairing: {
      enabled: c.PAIRING,
      codeMs: c.PAIRING_CODE_SECONDS * 1000,
      ratePerMinute: c.PAIRING_RATE_PER_MINUTE,
    },
    ...overrides,
  };
}

/**
 * The agent's settings from `env` (defaults for what is missing or empty): config/agent.ts's hand-written check,
 * and zod's schema where it refuses, to say why. The agent itself reads them with `readAgentConfig` (the same,
 * without evaluating zod unless a setting is refused).
 */
export function loadAgentConfig(env: Env = process.env, overrides: Partial<AgentConfig> = {}): AgentConfig {
  const raw = rawSettings(agentDefaults, env);
  return agentConfigFrom(checkAgentSettings(raw) ?? loadWith(agentSchema, raw), env, overrides);
}

/** What the virtual printer can answer to a status request; `silent` answers nothing. */
export const VIRTUAL_CONDITIONS = [
  'ok',
  'paper-low',
  'paper-out',
  'cover-open',
  'offline',
  'silent',
] as const satisfies ReadonlyArray<PrinterCondition | 'silent'>;
export type VirtualCondition = (typeof VIRTUAL_CONDITIONS)[number];

const virtualPrinterSchema = z.object({
  VIRTUAL_PRINTER_HOST: z.string().min(1),
  VIRTUAL_PRINTER_PORT: port(0),
  VIRTUAL_PRINTER_STATE: z.enum(VIRTUAL_CONDITIONS),
});

export interface VirtualPrinterConfig {
  host: string;
  port: number;
  condition: VirtualCondition;
}

export function loadVirtualPrinterConfig(env: Env = process.env): VirtualPrinterConfig {
  const c = loadWith(virtualPrinterSchema, rawSettings(virtualPrinterDefaults, env));
  return { host: c.VIRTUAL_PRINTER_HOST, port: c.VIRTUAL_PRINTER_PORT, condition: c.VIRTUAL_PRINTER_STATE };
}
