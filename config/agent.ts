/**
 * The agent's settings without zod (issue 22: zod is about 2.5 MB of an idle agent's memory, and the agent's
 * bundle leaves it unevaluated): a hand-written check with the rules of config/agent-schema.ts, which gives the
 * same value; only a refused setting loads the schema, whose words name what is wrong.
 * test/config/agent-settings.unit.test.ts compares the two on many generated settings.
 */
import path from 'node:path';
import { RESERVED_USERNAMES } from '../protocol/accounts';
import { CODE_PAGE_NAMES, type CodePageName } from '../protocol/codepages';
import { PAPER_PRESETS } from '../protocol/receipt-layout';
import { PRINTER_ID_PATTERN } from '../protocol/topics';
import type { AgentSettings } from './agent-schema';
import { agentDefaults } from './defaults';
import { ConfigError, type Env, rawSettings } from './errors';
import { isBrokerUrl, isParsableUrl, isPrinterSpec, isPrinthopUrl, isTimeZone, LOG_LEVELS } from './rules';

export interface AgentConfig {
  /** The server to pair with (no trailing slash); empty: no pairing. */
  printhopUrl: string;
  mqttUrl: string;
  mqttUsername: string;
  mqttPassword: string;
  printerId: string;
  printer: string;
  /** Empty: lp's own default server. */
  cupsServer: string;
  columns: number;
  codePage: CodePageName;
  dataDir: string;
  printerTimeoutMs: number;
  /** 0: the printer is asked only before each job. */
  printerStatusIntervalMs: number;
  printerRetryLimitMs: number;
  printerRetryMinMs: number;
  printerRetryMaxMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  journalRetentionDays: number;
  timeZone: string | undefined;
  logLevel: string;
  /** A job longer than this once laid out is refused (`failed`), never cut. */
  receiptMaxLines: number;
  /**
   * Test-only fault hook (`PRINTHOP_TEST_DROP_JOBS`, not a setting): the link drops this many job messages
   * right after their PUBACK, as a lost job would be, for the server's stall watchdog to find (issue 25).
   */
  testDropJobs?: number;
}

/** zod's `z.coerce.number()`: Number(s), refused unless finite. */
const toNumber = (s: string): number | null => {
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
};
/** `z.coerce.number().int()` with a lower and upper bound (zod's int is a safe integer). */
const intIn = (s: string, min: number, max = Number.MAX_SAFE_INTEGER): number | null => {
  const n = Number(s);
  return Number.isSafeInteger(n) && n >= min && n <= max ? n : null;
};
const positiveInt = (s: string): number | null => {
  const n = Number(s);
  return Number.isSafeInteger(n) && n > 0 ? n : null;
};

/**
 * The value agentSchema gives for `raw` (its keys, in its order), or null where it refuses: then the schema
 * runs to say why.
 */
export function checkAgentSettings(raw: Record<string, string>): AgentSettings | null {
  const r = raw as Record<keyof typeof agentDefaults, string>;
  if (!isPrinthopUrl(r.PRINTHOP_URL)) return null;
  if (!isBrokerUrl(r.MQTT_URL) || !isParsableUrl(r.MQTT_URL)) return null;
  if (!PRINTER_ID_PATTERN.test(r.PRINTER_ID) || RESERVED_USERNAMES.includes(r.PRINTER_ID)) return null;
  if (r.PRINTER.length < 1 || !isPrinterSpec(r.PRINTER)) return null;
  const columns = intIn(
    Object.hasOwn(PAPER_PRESETS, r.PAPER_COLUMNS)
      ? String(PAPER_PRESETS[r.PAPER_COLUMNS as keyof typeof PAPER_PRESETS])
      : r.PAPER_COLUMNS,
    16,
    255,
  );
  const codePage = r.CODEPAGE.toUpperCase() as CodePageName;
  if (columns === null || !CODE_PAGE_NAMES.includes(codePage) || r.AGENT_DATA_DIR.length < 1) return null;
  const printerTimeout = positiveInt(r.PRINTER_TIMEOUT_MS);
  const statusInterval = intIn(r.PRINTER_STATUS_INTERVAL_MS, 0);
  const retryLimit = intIn(r.PRINTER_RETRY_LIMIT_MS, 0);
  const retryMin = positiveInt(r.PRINTER_RETRY_MIN_MS);
  const retryMax = positiveInt(r.PRINTER_RETRY_MAX_MS);
  const reconnectMin = positiveInt(r.RECONNECT_MIN_MS);
  const reconnectMax = positiveInt(r.RECONNECT_MAX_MS);
  const retention = toNumber(r.JOURNAL_RETENTION_DAYS);
  const maxLines = intIn(r.RECEIPT_MAX_LINES, 20, 100_000);
  if (
    printerTimeout === null ||
    statusInterval === null ||
    retryLimit === null ||
    retryMin === null ||
    retryMax === null ||
    reconnectMin === null ||
    reconnectMax === null ||
    retention === null ||
    !(retention > 0) ||
    maxLines === null
  )
    return null;
  if (r.TZ !== '' && !isTimeZone(r.TZ)) return null;
  if (!(LOG_LEVELS as readonly string[]).includes(r.LOG_LEVEL)) return null;
  if (reconnectMax < reconnectMin || retryMax < retryMin) return null;
  return {
    PRINTHOP_URL: r.PRINTHOP_URL.replace(/\/+$/, ''),
    MQTT_URL: r.MQTT_URL,
    MQTT_USERNAME: r.MQTT_USERNAME,
    MQTT_PASSWORD: r.MQTT_PASSWORD,
    PRINTER_ID: r.PRINTER_ID,
    PRINTER: r.PRINTER,
    CUPS_SERVER: r.CUPS_SERVER,
    PAPER_COLUMNS: columns,
    CODEPAGE: codePage,
    AGENT_DATA_DIR: r.AGENT_DATA_DIR,
    PRINTER_TIMEOUT_MS: printerTimeout,
    PRINTER_STATUS_INTERVAL_MS: statusInterval,
    PRINTER_RETRY_LIMIT_MS: retryLimit,
    PRINTER_RETRY_MIN_MS: retryMin,
    PRINTER_RETRY_MAX_MS: retryMax,
    RECONNECT_MIN_MS: reconnectMin,
    RECONNECT_MAX_MS: reconnectMax,
    JOURNAL_RETENTION_DAYS: retention,
    TZ: r.TZ,
    LOG_LEVEL: r.LOG_LEVEL as AgentSettings['LOG_LEVEL'],
    RECEIPT_MAX_LINES: maxLines,
  };
}

/** The AgentConfig of checked settings. */
export function agentConfigFrom(c: AgentSettings, env: Env, overrides: Partial<AgentConfig> = {}): AgentConfig {
  return {
    printhopUrl: c.PRINTHOP_URL,
    mqttUrl: c.MQTT_URL,
    mqttUsername: c.MQTT_USERNAME || c.PRINTER_ID,
    mqttPassword: c.MQTT_PASSWORD,
    printerId: c.PRINTER_ID,
    printer: c.PRINTER,
    cupsServer: c.CUPS_SERVER,
    columns: c.PAPER_COLUMNS,
    codePage: c.CODEPAGE,
    dataDir: path.resolve(c.AGENT_DATA_DIR),
    printerTimeoutMs: c.PRINTER_TIMEOUT_MS,
    printerStatusIntervalMs: c.PRINTER_STATUS_INTERVAL_MS,
    printerRetryLimitMs: c.PRINTER_RETRY_LIMIT_MS,
    printerRetryMinMs: c.PRINTER_RETRY_MIN_MS,
    printerRetryMaxMs: c.PRINTER_RETRY_MAX_MS,
    reconnectMinMs: c.RECONNECT_MIN_MS,
    reconnectMaxMs: c.RECONNECT_MAX_MS,
    journalRetentionDays: c.JOURNAL_RETENTION_DAYS,
    timeZone: c.TZ || undefined,
    logLevel: c.LOG_LEVEL,
    receiptMaxLines: c.RECEIPT_MAX_LINES,
    ...testFaults(env),
    ...overrides,
  };
}

function testFaults(env: Env): Pick<AgentConfig, 'testDropJobs'> {
  const drop = env.PRINTHOP_TEST_DROP_JOBS;
  if (drop === undefined || drop === '') return {};
  if (!/^\d{1,6}$/.test(drop)) throw new ConfigError([`PRINTHOP_TEST_DROP_JOBS=${drop}: must be a whole number`]);
  return { testDropJobs: Number(drop) };
}

/**
 * The agent's settings from `env` (defaults for what is missing or empty), as `loadAgentConfig` of
 * config/index.ts reads them, without evaluating zod unless a setting is refused (then zod's schema, loaded
 * here, throws the ConfigError that names every refused setting).
 */
export async function readAgentConfig(
  env: Env = process.env,
  overrides: Partial<AgentConfig> = {},
): Promise<AgentConfig> {
  const raw = rawSettings(agentDefaults, env);
  const checked = checkAgentSettings(raw);
  if (checked) return agentConfigFrom(checked, env, overrides);
  const [{ agentSchema }, { loadWith }] = await Promise.all([import('./agent-schema'), import('./zod-rules')]);
  return agentConfigFrom(loadWith(agentSchema, raw), env, overrides);
}
