/**
 * Pairing, the agent's side: an agent started with only the server's address (PRINTHOP_URL) and no
 * token asks the server for a code (`POST /pairing`), prints it on its own printer, logs it, and asks with
 * its pairing secret until the admin approves the code (then it has its printer id and token) or the code
 * expires (then it asks for a new one). What it receives is kept in AGENT_DATA_DIR/credentials.json (mode
 * 0600) for every later start. A pairing under way is kept too (pairing.json, 0600), so that an agent
 * restarted while it waits goes on waiting for the code already on paper instead of printing another.
 */
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { AgentConfig } from '../config';
import { ensurePrivateDir, PRIVATE_FILE_MODE } from '../runtime/file-modes';
import type { Logger } from '../runtime/logger';
import { formatPairingCode, PairingClaim, type PairingRequest, PairingStarted } from '../protocol/pairing';
import {
  CREDENTIALS_FILE,
  readPrivateJson,
  type SavedCredentials,
  withCredentials,
  withSavedPairing,
} from './credentials';
import { renderPairingReceipt } from './pairing-receipt';
import { AGENT_VERSION } from './print-agent';
import type { PrinterTransport } from './printers';

export { CREDENTIALS_FILE, readCredentials, type SavedCredentials, withCredentials } from './credentials';
export const PENDING_PAIRING_FILE = 'pairing.json';

const PendingPairing = PairingStarted.extend({ server: z.string() });
type PendingPairing = z.infer<typeof PendingPairing>;

/** The server refused pairing for good (PAIRING=false, or an answer the agent cannot read). */
export class PairingRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PairingRefusedError';
  }
}

/** Writes `value` as JSON, mode 0600, whole or not at all (a temporary file renamed over it). */
function writePrivateJson(file: string, value: unknown): void {
  ensurePrivateDir(path.dirname(file));
  const temporary = `${file}.tmp`;
  fs.rmSync(temporary, { force: true });
  const fd = fs.openSync(temporary, 'wx', PRIVATE_FILE_MODE);
  try {
    fs.writeFileSync(fd, JSON.stringify(value, null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.chmodSync(temporary, PRIVATE_FILE_MODE);
  fs.renameSync(temporary, file);
}

function readJson<T>(file: string, schema: z.ZodType<T>): T | null {
  return readPrivateJson(file, (json) => schema.parse(json));
}

/** What the printer setting is, without its path or address: `usb`, `tcp`, `file`, … (`device` for /dev/…). */
export function printerKind(spec: string): string {
  const colon = spec.indexOf(':');
  return spec.startsWith('/') || colon <= 0 ? (spec === 'usb' ? 'usb' : 'device') : spec.slice(0, colon);
}

const clean = (s: string, max: number) => s.replace(/\p{Cc}/gu, '').slice(0, max) || '?';

/** What this agent tells the server of itself. */
export function describeAgent(config: AgentConfig): PairingRequest {
  return {
    machine: clean(os.hostname(), 64),
    platform: `${process.platform}-${process.arch}`,
    printer: printerKind(config.printer),
    agentVersion: AGENT_VERSION,
  };
}

export interface PairingDependencies {
  transport: PrinterTransport;
  log: Logger;
  sleep?: (ms: number) => Promise<void>;
  /** Ends the wait: `pair` then rejects (a test that failed, a program that stops). */
  signal?: AbortSignal;
}

const REQUEST_TIMEOUT_MS = 15_000;
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 30_000;

/**
 * The settings this agent runs with: MQTT_PASSWORD when set (the token-in-env way); else a saved pairing;
 * else, with PRINTHOP_URL, a new pairing (which waits for the admin); else the settings as they are.
 */
export async function resolveCredentials(config: AgentConfig, deps: PairingDependencies): Promise<AgentConfig> {
  if (config.mqttPassword) return config;
  const saved = withSavedPairing(config, deps.log);
  if (saved) return saved;
  if (!config.printhopUrl) return config;
  return withCredentials(config, await pair(config, deps));
}

/** Pairs with `config.printhopUrl`: resolves once the admin has approved a code this agent printed. */
export async function pair(config: AgentConfig, deps: PairingDependencies): Promise<SavedCredentials> {
  const log = deps.log.child({ module: 'pairing' });
  const wait = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const sleep = async (ms: number) => {
    deps.signal?.throwIfAborted();
    await wait(ms);
    deps.signal?.throwIfAborted();
  };
  const server = config.printhopUrl;
  const pendingFile = path.join(config.dataDir, PENDING_PAIRING_FILE);
  let failures = 0;
  const backoff = async (what: string, err: unknown) => {
    const ms = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** failures++);
    log.warn({ err: reason(err), server, retryInMs: ms }, what);
    await sleep(ms);
  };

  for (;;) {
    let pairing = readJson(pendingFile, PendingPairing);
    if (pairing && (pairing.server !== server || Date.parse(pairing.expiresAt) <= Date.now())) pairing = null;
    if (!pairing) {
      try {
        pairing = await requestCode(server, describeAgent(config));
      } catch (err) {
        if (err instanceof PairingRefusedError) throw err;
        const retryAfter = (err as { retryAfterMs?: number }).retryAfterMs;
        if (retryAfter) {
          log.warn({ server, retryInMs: retryAfter }, 'the server asks to wait before a new pairing code');
          await sleep(retryAfter);
        } else await backoff('cannot ask the server for a pairing code; trying again', err);
        continue;
      }
      writePrivateJson(pendingFile, pairing);
      failures = 0;
      await printCode(pairing, config, deps, log);
    } else {
      log.info(
        { code: formatPairingCode(pairing.code), expiresAt: pairing.expiresAt },
        'still waiting with the code printed before',
      );
    }
    log.info(
      { code: formatPairingCode(pairing.code), server, expiresAt: pairing.expiresAt },
      `pairing code: ${formatPairingCode(pairing.code)}`,
    );

    // Ask until approved, expired or forgotten by the server.
    for (;;) {
      let answer: ClaimAnswer;
      try {
        answer = await claim(server, pairing);
      } catch (err) {
        if (err instanceof PairingRefusedError) throw err;
        if (Date.parse(pairing.expiresAt) + RETRY_MAX_MS < Date.now()) break;
        await backoff('cannot reach the server to ask about the pairing; trying again', err);
        continue;
      }
      failures = 0;
      if (answer.kind === 'ended') {
        log.info(
          { code: formatPairingCode(pairing.code), reason: answer.reason },
          'pairing code ended; asking for a new one',
        );
        break;
      }
      if (answer.claim.status === 'approved') {
        const saved: SavedCredentials = {
          printerId: answer.claim.printerId,
          token: answer.claim.token,
          mqttUrl: answer.claim.mqttUrl,
          server,
          pairedAt: new Date().toISOString(),
        };
        writePrivateJson(path.join(config.dataDir, CREDENTIALS_FILE), saved);
        fs.rmSync(pendingFile, { force: true });
        log.info({ printerId: saved.printerId, broker: saved.mqttUrl }, 'paired: printer id and token saved');
        return saved;
      }
      await sleep(pairing.pollMs);
    }
    fs.rmSync(pendingFile, { force: true });
  }
}

async function printCode(pairing: PendingPairing, config: AgentConfig, deps: PairingDependencies, log: Logger) {
  const bytes = renderPairingReceipt(
    {
      code: pairing.code,
      server: pairing.server,
      expiresAt: pairing.expiresAt,
      machine: describeAgent(config).machine,
    },
    {
      columns: config.columns,
      codePage: config.codePage,
      timeZone: config.timeZone,
      format: deps.transport.format ?? 'escpos',
    },
  );
  try {
    const connection = await deps.transport.open();
    try {
      await connection.write(bytes);
    } finally {
      await connection.close();
    }
    log.info({ printer: deps.transport.description }, 'pairing code printed');
  } catch (err) {
    // The code is in the log too; the admin page lists it with this machine's name.
    log.warn(
      { err: (err as Error).message, printer: deps.transport.description },
      'the pairing code could not be printed; it is in this log and on the admin page',
    );
  }
}

/** An error's message, with its cause's when it has one. */
function reason(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}

class HttpAnswerError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

interface Answer {
  status: number;
  body: unknown;
  headers: http.IncomingHttpHeaders;
}

/**
 * A POST with node:http(s), not fetch: undici's connect fails under Wine ("connect UNKNOWN"), where the
 * Windows executable is tested, while node:http (what the MQTT-over-WebSocket link uses) works.
 */
function post(url: string, headers: Record<string, string>, body = ''): Promise<Answer> {
  const target = new URL(url);
  const request = target.protocol === 'https:' ? https.request : http.request;
  return new Promise((resolve, reject) => {
    const req = request(
      target,
      {
        method: 'POST',
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)), accept: 'application/json' },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            parsed = null;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

const errorOf = (body: unknown) =>
  typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string'
    ? (body as { error: string }).error
    : 'no explanation';

async function requestCode(server: string, about: PairingRequest): Promise<PendingPairing> {
  const { status, body, headers } = await post(
    `${server}/pairing`,
    { 'content-type': 'application/json' },
    JSON.stringify(about),
  );
  if (status === 201) {
    const started = PairingStarted.safeParse(body);
    if (!started.success) throw new PairingRefusedError(`${server}/pairing answered something that is not a pairing`);
    return { ...started.data, server };
  }
  if (status === 404)
    throw new PairingRefusedError(
      `${server} does not pair agents (${errorOf(body)}): set PRINTER_ID and MQTT_PASSWORD from the admin page instead`,
    );
  const retryAfter = Number(headers['retry-after']);
  throw new HttpAnswerError(
    status,
    `${server}/pairing answered ${status}: ${errorOf(body)}`,
    (status === 429 || status === 503) && retryAfter > 0 ? retryAfter * 1000 : undefined,
  );
}

type ClaimAnswer = { kind: 'answer'; claim: PairingClaim } | { kind: 'ended'; reason: string };

async function claim(server: string, pairing: PendingPairing): Promise<ClaimAnswer> {
  const { status, body } = await post(`${server}/pairing/${encodeURIComponent(pairing.id)}/claim`, {
    authorization: `Bearer ${pairing.secret}`,
  });
  if (status === 200) {
    const parsed = PairingClaim.safeParse(body);
    if (!parsed.success) throw new PairingRefusedError(`${server} answered a claim with something unreadable`);
    return { kind: 'answer', claim: parsed.data };
  }
  // Expired, claimed, or unknown to the server (its database was reset): a new code.
  if (status === 410 || status === 401) return { kind: 'ended', reason: errorOf(body) };
  if (status === 404) throw new PairingRefusedError(`${server} no longer pairs agents (${errorOf(body)})`);
  throw new HttpAnswerError(status, `the claim answered ${status}: ${errorOf(body)}`);
}
