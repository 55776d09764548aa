/**
 * The agent's settings as a zod schema: what config/agent.ts's hand-written check stands in for. The agent
 * loads this module only to word a refused setting (and `loadAgentConfig` of config/index.ts, for the tests and
 * the server side, runs it likewise); test/config/agent-settings.unit.test.ts compares the two.
 */
import { z } from 'zod';
import { CODE_PAGE_NAMES, type CodePageName } from '../protocol/codepages';
import { PAPER_PRESETS } from '../protocol/receipt-layout';
import { brokerUrl, logLevel, positiveInt, printerAccount, receiptMaxLines } from './zod-rules';
import {
  COLUMNS_MIN_RULE,
  isPrinterSpec,
  isPrinthopUrl,
  isTimeZone,
  PRINTER_RETRY_RULE,
  PRINTER_SPEC_RULE,
  PRINTHOP_URL_RULE,
  RECONNECT_RULE,
  TIME_ZONE_RULE,
} from './rules';

const columns = z
  .string()
  .transform((s) => (Object.hasOwn(PAPER_PRESETS, s) ? String(PAPER_PRESETS[s as keyof typeof PAPER_PRESETS]) : s))
  .pipe(z.coerce.number<string>().int().min(16, COLUMNS_MIN_RULE).max(255));

export const agentSchema = z
  .object({
    PRINTHOP_URL: z
      .string()
      .refine(isPrinthopUrl, PRINTHOP_URL_RULE)
      .transform((s) => s.replace(/\/+$/, '')),
    MQTT_URL: brokerUrl,
    MQTT_USERNAME: z.string(),
    MQTT_PASSWORD: z.string(),
    PRINTER_ID: printerAccount,
    PRINTER: z.string().min(1).refine(isPrinterSpec, PRINTER_SPEC_RULE),
    CUPS_SERVER: z.string(),
    PAPER_COLUMNS: columns,
    CODEPAGE: z
      .string()
      .transform((s) => s.toUpperCase())
      .pipe(z.enum(CODE_PAGE_NAMES as [CodePageName, ...CodePageName[]])),
    AGENT_DATA_DIR: z.string().min(1),
    PRINTER_TIMEOUT_MS: positiveInt,
    PRINTER_STATUS_INTERVAL_MS: z.coerce.number().int().min(0),
    PRINTER_RETRY_LIMIT_MS: z.coerce.number().int().min(0),
    PRINTER_RETRY_MIN_MS: positiveInt,
    PRINTER_RETRY_MAX_MS: positiveInt,
    RECONNECT_MIN_MS: positiveInt,
    RECONNECT_MAX_MS: positiveInt,
    JOURNAL_RETENTION_DAYS: z.coerce.number().positive(),
    TZ: z.string().refine((s) => s === '' || isTimeZone(s), TIME_ZONE_RULE),
    LOG_LEVEL: logLevel,
    RECEIPT_MAX_LINES: receiptMaxLines,
  })
  .refine((c) => c.RECONNECT_MAX_MS >= c.RECONNECT_MIN_MS, { message: RECONNECT_RULE, path: ['RECONNECT_MAX_MS'] })
  .refine((c) => c.PRINTER_RETRY_MAX_MS >= c.PRINTER_RETRY_MIN_MS, {
    message: PRINTER_RETRY_RULE,
    path: ['PRINTER_RETRY_MAX_MS'],
  });

export type AgentSettings = z.infer<typeof agentSchema>;
