/**
 * A saved pairing (AGENT_DATA_DIR/credentials.json, mode 0600): read without zod, so that an agent that has
 * paired starts without evaluating it (issue 22); agent/pairing.ts, loaded only to pair, writes it.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { AgentConfig } from '../config/agent';
import { PRIVATE_FILE_MODE } from '../runtime/file-modes';
import type { Logger } from '../runtime/logger';
import { PRINTER_ID_PATTERN } from '../protocol/topics';

export const CREDENTIALS_FILE = 'credentials.json';

export interface SavedCredentials {
  printerId: string;
  token: string;
  mqttUrl: string;
  server: string;
  pairedAt: string;
}

/** `check`'s value of the file's JSON; null when there is no such file, or it is not what `check` takes. */
export function readPrivateJson<T>(file: string, check: (json: unknown) => T | null): T | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, PRIVATE_FILE_MODE);
  try {
    return check(JSON.parse(text));
  } catch {
    return null;
  }
}

/** The saved credentials in `json` (those five fields only), or null: a printer id, a token and a broker URL that are set. */
export function checkCredentials(json: unknown): SavedCredentials | null {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  const { printerId, token, mqttUrl, server, pairedAt } = json as Record<string, unknown>;
  if (typeof printerId !== 'string' || !PRINTER_ID_PATTERN.test(printerId)) return null;
  if (typeof token !== 'string' || token.length < 1 || typeof mqttUrl !== 'string' || mqttUrl.length < 1) return null;
  if (typeof server !== 'string' || typeof pairedAt !== 'string') return null;
  return { printerId, token, mqttUrl, server, pairedAt };
}

export function readCredentials(dataDir: string): SavedCredentials | null {
  return readPrivateJson(path.join(dataDir, CREDENTIALS_FILE), checkCredentials);
}

/** The settings with a saved pairing's printer, token and broker. */
export function withCredentials(config: AgentConfig, saved: SavedCredentials): AgentConfig {
  return {
    ...config,
    printerId: saved.printerId,
    mqttUsername: saved.printerId,
    mqttPassword: saved.token,
    mqttUrl: saved.mqttUrl,
  };
}

/** The settings with the saved pairing, when there is one (and no MQTT_PASSWORD); else null. */
export function withSavedPairing(config: AgentConfig, log: Logger): AgentConfig | null {
  const saved = readCredentials(config.dataDir);
  if (!saved) return null;
  log.info({ module: 'pairing', printerId: saved.printerId }, 'using the saved pairing');
  return withCredentials(config, saved);
}
