/** The zod rules the server's and the agent's schemas share, and how a schema's refusal is reported. */
import { z } from 'zod';
import { RESERVED_USERNAMES } from '../protocol/accounts';
import { PRINTER_ID_PATTERN } from '../protocol/topics';
import { ConfigError, settingProblem } from './errors';
import { isBrokerUrl, isParsableUrl, LOG_LEVELS, BROKER_URL_RULE, PARSABLE_RULE, PRINTER_ID_RULE } from './rules';

export const logLevel = z.enum(LOG_LEVELS);
export const port = (min: number) => z.coerce.number().int().min(min).max(65535);
export const printerId = z.string().regex(PRINTER_ID_PATTERN, PRINTER_ID_RULE);
export const printerAccount = printerId.refine(
  (id) => !RESERVED_USERNAMES.includes(id),
  `must not be ${RESERVED_USERNAMES.join(' or ')} (MQTT accounts of their own)`,
);
export const positiveInt = z.coerce.number().int().positive();
export const boolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((s) => s === 'true' || s === '1' || s === 'yes');

export const brokerUrl = z.string().refine(isBrokerUrl, BROKER_URL_RULE).refine(isParsableUrl, PARSABLE_RULE);

export const receiptMaxLines = z.coerce.number().int().min(20).max(100_000);

/** The schema's value of `raw`, or a ConfigError naming every refused setting. */
export function loadWith<S extends z.ZodType>(schema: S, raw: Record<string, string>): z.infer<S> {
  const result = schema.safeParse(raw);
  if (!result.success)
    throw new ConfigError(
      result.error.issues.map((issue) => settingProblem(String(issue.path[0] ?? '?'), raw, issue.message)),
    );
  return result.data;
}
