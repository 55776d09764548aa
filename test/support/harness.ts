/** Real parts for tests: a server and agents on ephemeral ports, in temp directories, cleaned up after. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import mqtt from 'mqtt';
import pino from 'pino';
import { loadAgentConfig, loadServerConfig, type AgentConfig, type ServerConfig } from '../../config';
import type { Logger } from '../../config/logger';
import { startAgent, type RunningAgent } from '../../agent/agent';
import { decodeEscPos, type DecodeResult } from '../../agent/printers/escpos-decoder';
import { readTokens, type Account } from '../../broker-server/broker/tokens';
import { VirtualPrinter, type VirtualCondition } from '../../agent/virtual-printer';
import { startServer, type RunningServer } from '../../broker-server/server';

/** TEST_LOG_LEVEL=debug shows the logs of the parts under test. */
export function testLogger(): Logger {
  return pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}

/** A logger that keeps every line, to check what the parts log (and what they must never log). */
export function captureLogger(level = 'debug'): { log: Logger; text: () => string; entries: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const log = pino({ level }, { write: (line: string) => void lines.push(line) });
  return { log, text: () => lines.join(''), entries: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const cleanups = new WeakMap<TestContext, Array<() => unknown>>();

/**
 * Runs `fn` after the test, in reverse order of registration: what was started last stops first (an
 * agent before the server it talks to, a directory removed after what used it). node:test runs
 * `t.after` hooks in registration order, which would stop the server under its agents.
 */
export function defer(t: TestContext, fn: () => unknown): void {
  let stack = cleanups.get(t);
  if (!stack) {
    const fns: Array<() => unknown> = [];
    cleanups.set(t, (stack = fns));
    t.after(async () => {
      let first: unknown = null;
      while (fns.length) {
        try {
          await fns.pop()!();
        } catch (err) {
          first ??= err; // the rest still runs
        }
      }
      if (first) throw first;
    });
  }
  stack.push(fn);
}

export function tempDir(t: TestContext, prefix = 'printhop-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  defer(t, () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface TestServer extends RunningServer {
  baseUrl: string;
  wsUrl: string;
  tcpUrl: string;
  dataDir: string;
}

/** Rate limiting is off in tests unless a test asks for it (`printRate`): many tests post jobs in bursts. */
export async function startTestServer(t: TestContext, overrides: Partial<ServerConfig> = {}, options: { log?: Logger } = {}): Promise<TestServer> {
  const dataDir = overrides.dataDir ?? tempDir(t);
  const config = loadServerConfig({}, { port: 0, mqttPort: 0, host: '127.0.0.1', dataDir, printRate: { perMinute: 0, burst: 1 }, ...overrides });
  const server = await startServer(config, options.log ?? testLogger());
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.stop();
  };
  defer(t, stop);
  return {
    ...server,
    stop,
    httpPort: server.httpPort,
    mqttPort: server.mqttPort,
    jobs: server.jobs,
    dispatcher: server.dispatcher,
    broker: server.broker,
    accounts: server.accounts,
    bus: server.bus,
    live: server.live,
    dataDir,
    baseUrl: `http://127.0.0.1:${server.httpPort}`,
    wsUrl: `ws://127.0.0.1:${server.httpPort}/mqtt`,
    tcpUrl: `mqtt://127.0.0.1:${server.mqttPort}`,
  };
}

export interface TestAgent extends RunningAgent {
  config: AgentConfig;
  printerFile: string;
  /** The virtual printer's bytes so far, decoded. */
  paper(): DecodeResult;
}

/** Who a test MQTT client connects as. Every client of a test goes through this, so that broker access rules apply in one place. */
export type MqttIdentity = { printerId: string } | 'debug' | 'server';

/**
 * The user name and password of `as` on `server`'s broker: from the running server, or, for a server
 * running as a child process, from the token file in its DATA_DIR.
 */
export function mqttCredentials(server: Pick<TestServer, 'dataDir'> & Partial<Pick<TestServer, 'accounts'>>, as: MqttIdentity): { username: string; password: string } {
  const accounts = server.accounts ?? readTokens(server.dataDir);
  const account: Account = as === 'debug' ? { kind: 'debug' } : as === 'server' ? { kind: 'server' } : { kind: 'printer', printerId: as.printerId };
  return accounts.credentialsFor(account);
}

/** A raw mqtt.js client to the test server's broker over TCP, ended after the test. */
export async function connectClient(t: TestContext, server: TestServer, as: MqttIdentity, options: mqtt.IClientOptions = {}): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(server.tcpUrl, { reconnectPeriod: 0, ...mqttCredentials(server, as), ...options });
  defer(t, () => client.endAsync(true));
  return client;
}

/**
 * The environment of an agent run as a child process (`node --import tsx agent/main.ts`), connected to
 * `server` over TCP MQTT with the printer's credentials; `extra` adds or overrides settings.
 */
export function agentChildEnv(server: TestServer, printerId: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const credentials = mqttCredentials(server, { printerId });
  return {
    ...process.env,
    MQTT_URL: server.tcpUrl,
    PRINTER_ID: printerId,
    MQTT_USERNAME: credentials.username ?? '',
    MQTT_PASSWORD: credentials.password ?? '',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    ...extra,
  };
}

/** An agent on a `file:` virtual printer, connected to `server` (over WebSocket unless `mqttUrl` says otherwise). */
export async function startTestAgent(t: TestContext, server: TestServer, overrides: Partial<AgentConfig> = {}): Promise<TestAgent> {
  const printerId = overrides.printerId ?? 'printer-1';
  const credentials = mqttCredentials(server, { printerId });
  const dir = overrides.dataDir ? path.dirname(overrides.dataDir) : tempDir(t, 'printhop-agent-');
  const printerFile = path.join(dir, 'paper.prn');
  const config = loadAgentConfig(
    {},
    {
      printer: `file:${printerFile}`,
      dataDir: path.join(dir, 'journal'),
      reconnectMinMs: 100,
      reconnectMaxMs: 1000,
      mqttUrl: server.wsUrl,
      printerId,
      mqttUsername: credentials.username,
      mqttPassword: credentials.password,
      ...overrides,
    },
  );
  const agent = await startAgent(config, testLogger());
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await agent.stop();
  };
  defer(t, stop);
  const file = config.printer.startsWith('file:') ? config.printer.slice(5) : printerFile;
  return {
    ...agent,
    journal: agent.journal,
    link: agent.link,
    stop,
    config,
    printerFile: file,
    paper: () => decodeEscPos(fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0)),
  };
}

/** The virtual network printer (TCP 9100 style) on an ephemeral port, stopped after the test. */
export async function startVirtualPrinter(t: TestContext, condition: VirtualCondition = 'ok'): Promise<VirtualPrinter> {
  const printer = new VirtualPrinter({ port: 0, condition });
  await printer.start();
  defer(t, () => printer.stop());
  return printer;
}

export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function postJson(baseUrl: string, route: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await fetch(baseUrl + route, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, headers: res.headers };
}

export async function getJson<T = unknown>(baseUrl: string, route: string): Promise<{ status: number; json: T }> {
  const res = await fetch(baseUrl + route);
  return { status: res.status, json: (await res.json()) as T };
}

/**
 * A test server and the agents added to it, the agents stopped first: `t.after` hooks run in the order
 * they were added, and an agent still connected over WebSocket holds the server's HTTP stop for its
 * 5 s grace period. `addAgent(overrides, on)` may start an agent on another server (after a restart).
 */
export async function startPrinting(t: TestContext, overrides: Partial<ServerConfig> = {}) {
  const agents: TestAgent[] = [];
  t.after(() => Promise.all(agents.map((agent) => agent.stop())));
  const server = await startTestServer(t, overrides);
  const addAgent = async (agentOverrides: Partial<AgentConfig> = {}, on: TestServer = server): Promise<TestAgent> => {
    const agent = await startTestAgent(t, on, agentOverrides);
    agents.push(agent);
    return agent;
  };
  return { server, addAgent };
}
