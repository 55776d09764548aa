/**
 * How a refused setting is reported, shared by the zod schemas (config/index.ts, config/agent-schema.ts) and
 * the agent's hand-written check (config/agent.ts), which must not load zod: every invalid setting at once,
 * by name, its value shown unless it is a secret (URLs with their user name and password masked).
 */
import { urlForLog } from '../runtime/logger';

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Settings whose value an error message must not repeat. */
const SECRET_SETTINGS = new Set([
  'PRINTER_TOKENS',
  'MQTT_DEBUG_PASSWORD',
  'MQTT_SERVER_PASSWORD',
  'MQTT_PASSWORD',
  'DATABASE_URL',
  'FORM_TOKEN_SECRET',
  'ADMIN_PASSWORD',
  'METRICS_TOKEN',
  'WEBHOOK_SECRET_KEY',
]);
/** Settings shown with their user name and password masked. */
const URL_SETTINGS = new Set(['MQTT_URL', 'PRINTHOP_URL']);

/** Each setting of `defaults` as a string: the environment's value unless it is missing or empty. */
export function rawSettings(defaults: Record<string, string | number | boolean>, env: Env): Record<string, string> {
  const raw: Record<string, string> = {};
  for (const [key, value] of Object.entries(defaults)) {
    const fromEnv = env[key];
    raw[key] = fromEnv !== undefined && fromEnv !== '' ? fromEnv : String(value);
  }
  return raw;
}

/** `KEY="value": what is wrong`, the value hidden or masked where it must be. */
export function settingProblem(key: string, raw: Record<string, string>, message: string): string {
  const shown = SECRET_SETTINGS.has(key)
    ? '(hidden)'
    : URL_SETTINGS.has(key)
      ? JSON.stringify(urlForLog(raw[key] ?? ''))
      : JSON.stringify(raw[key] ?? '');
  return `${key}=${shown}: ${message}`;
}

/** Loads the settings; an invalid one ends the program with exit code 2 and a message naming it. */
export function loadOrExit<T>(program: string, load: () => T): T {
  try {
    return load();
  } catch (err) {
    exitOnConfigError(program, err);
  }
}

/** loadOrExit for a loader that answers later (the agent's, which loads zod only to word a refusal). */
export async function loadOrExitAsync<T>(program: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (err) {
    exitOnConfigError(program, err);
  }
}

function exitOnConfigError(program: string, err: unknown): never {
  if (err instanceof ConfigError) {
    console.error(`${program}: ${err.message}`);
    process.exit(2);
  }
  throw err;
}
