/**
 * `printhop-agent.env`: the agent's settings in one file next to its executable, for a PC where
 * environment variables are awkward to set (Windows). One `KEY=VALUE` a line; blank lines and lines
 * starting with `#` are ignored; a value may be wrapped in "double" or 'single' quotes (kept as
 * written inside them); no comment after a value (a password may contain #). Notepad's BOM and CRLF
 * line ends are fine. The environment wins over the file, so a one-off run can override it.
 * Errors name the line and the key, never a value (the file holds the MQTT password).
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from './errors';

export const AGENT_ENV_FILE = 'printhop-agent.env';

export function parseEnvFile(text: string, known: readonly string[], file = AGENT_ENV_FILE): Record<string, string> {
  const values: Record<string, string> = {};
  const problems: string[] = [];
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const line = raw.trim();
      if (!line || line.startsWith('#')) return;
      const where = `${file} line ${index + 1}`;
      const match = /^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
      if (!match) {
        problems.push(`${where}: not KEY=VALUE`);
        return;
      }
      const [, key, rest] = match as unknown as [string, string, string];
      if (!known.includes(key)) {
        problems.push(`${where}: ${key} is not a setting of the agent (see --help)`);
        return;
      }
      const quoted = /^(["'])(.*)\1$/.exec(rest);
      values[key] = quoted ? quoted[2]! : rest;
    });
  if (problems.length) throw new ConfigError(problems);
  return values;
}

/** The file's settings under the environment's; no file, just the environment. */
export function withEnvFile(
  file: string,
  known: readonly string[],
  env: Record<string, string | undefined> = process.env,
): Record<string, string | undefined> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return env;
    throw new ConfigError([`cannot read ${file}: ${(err as Error).message}`]);
  }
  const fromFile = parseEnvFile(text, known, path.basename(file));
  const merged: Record<string, string | undefined> = { ...fromFile };
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') merged[key] = value;
  return merged;
}
