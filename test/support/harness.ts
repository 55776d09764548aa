/** Real parts for tests: a server and agents on ephemeral ports, in temp directories, cleaned up after. */
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import mqtt from 'mqtt';
import { loadAgentConfig, loadServerConfig, type AgentConfig, type ServerConfig } from '../../config';
import type { Logger } from '../../runtime/logger';
import { startAgent, type RunningAgent } from '../../agent/agent';
import { decodeEscPos, type DecodeResult } from '../../agent/printers/escpos-decoder';
import { readTokens, type Account } from '../../broker-server/broker/tokens';
import { VirtualPrinter, type VirtualCondition } from '../../agent/virtual-printer';
import { buildServer, startBuilt, type RunningServer } from '../../broker-server/server';
import type { DynamicSecurity } from '../../broker-server/broker/dynamic-security';
import type { EmbeddedBroker } from '../../broker-server/broker/embedded-broker';
import type { MessageBus } from '../../broker-server/broker/message-bus';
import type { Idempotency } from '../../broker-server/http/api/idempotency';
import type { LiveStreams } from '../../broker-server/http/live-streams';
import type { Dispatcher } from '../../broker-server/jobs/dispatcher';
import type { JobService } from '../../broker-server/jobs/job-service';
import type { PrinterStatusList } from '../../broker-server/printers/printer-status-list';
import { Database } from '../../broker-server/store/database';
import { checkAgainstDocument } from './openapi-check';
import {
  cleanupStack,
  createTestDatabase,
  externalServicesMissing,
  postgresMissing,
  startMosquitto,
  testBrokerAccounts,
  type TestBroker,
} from './services';
import { defer, tempDir, testLogger } from './basics';

export { captureLogger, defer, tempDir, testLogger, waitFor } from './basics';

/**
 * `embedded`: the default deployment (Aedes inside the server, SQLite in DATA_DIR).
 * `external`: the scaled-out one (the server as a client of Mosquitto, PostgreSQL), see services.ts.
 */
export type TestMode = 'embedded' | 'external';
export const TEST_MODES: readonly TestMode[] = ['embedded', 'external'];

/** Registers one test per mode, named `name [mode]`; the external one is skipped (with the reason) where Mosquitto or PostgreSQL is missing. */
export function testEachMode(name: string, fn: (t: TestContext, mode: TestMode) => Promise<void>): void {
  for (const mode of TEST_MODES) {
    const skip = mode === 'external' ? externalServicesMissing() : false;
    test(`${name} [${mode}]`, { skip }, (t) => fn(t, mode));
  }
}

export type TestDialect = 'sqlite' | 'postgres';

/** Registers one test per database, named `name [dialect]`; the PostgreSQL one is skipped (with the reason) where PostgreSQL is missing. */
export function testEachDatabase(name: string, fn: (t: TestContext, dialect: TestDialect) => Promise<void>): void {
  for (const dialect of ['sqlite', 'postgres'] as const) {
    test(`${name} [${dialect}]`, { skip: dialect === 'postgres' ? postgresMissing() : false }, (t) => fn(t, dialect));
  }
}

/** A started, migrated database of that dialect: a SQLite file in a temp dir, or a new PostgreSQL database. Stopped after the test. */
export async function startTestDatabase(t: TestContext, dialect: TestDialect, databaseUrl?: string): Promise<Database> {
  const url = dialect === 'postgres' ? (databaseUrl ?? (await createTestDatabase())) : null;
  const db = new Database({ dataDir: tempDir(t), databaseUrl: url }, testLogger());
  await db.start();
  t.after(() => db.stop());
  return db;
}

/** Printers that have broker accounts in the external mode, besides those a test configures. */
const TEST_PRINTERS = ['printer-1', 'printer-2', 'printer-3'];

/** A started server, with the parts of its areas that tests look into (server.ts's buildServer). */
export interface TestServer extends RunningServer {
  jobs: JobService;
  printers: PrinterStatusList;
  dispatcher: Dispatcher;
  /** The embedded broker, or null when the server uses an external one. */
  broker: EmbeddedBroker | null;
  bus: MessageBus;
  live: LiveStreams;
  idempotency: Idempotency;
  dynsec: DynamicSecurity | null;
  baseUrl: string;
  /** Where agents connect: the embedded broker, or the external one. */
  wsUrl: string;
  tcpUrl: string;
  dataDir: string;
  mode: TestMode;
  /** The broker and database of the external mode, which other test servers can join; null when embedded. */
  external: ExternalServices | null;
}

export interface ExternalServices {
  broker: TestBroker;
  databaseUrl: string;
  /** Servers and agents on this broker are stopped through here, before the broker. */
  defer: (stop: () => Promise<unknown>) => void;
}

export interface TestServerOptions {
  /** `embedded` unless told (or joining a server of the other mode). */
  mode?: TestMode;
  /** Another instance on the same broker and database as `join` (external mode). */
  join?: TestServer;
  log?: Logger;
}

/**
 * Stops a part once, however often asked: after the test (in reverse order, see defer), before an
 * external broker it uses, or earlier when the test itself calls the returned function.
 */
function stopAfterTest(
  t: TestContext,
  stop: () => Promise<void>,
  external: { defer: (stop: () => Promise<unknown>) => void } | null | undefined,
): () => Promise<void> {
  let stopping: Promise<void> | null = null;
  const once = () => (stopping ??= stop());
  defer(t, once);
  external?.defer(once);
  return once;
}

/** Rate limiting is off in tests unless a test asks for it (`printRate`): many tests post jobs in bursts. */
export async function startTestServer(
  t: TestContext,
  overrides: Partial<ServerConfig> = {},
  options: TestServerOptions = {},
): Promise<TestServer> {
  const mode = options.join?.mode ?? options.mode ?? 'embedded';
  const dataDir = overrides.dataDir ?? tempDir(t);
  let external: TestServer['external'] = null;
  let modeConfig: Partial<ServerConfig> = {};
  if (mode === 'external') {
    if (options.join?.external) external = options.join.external;
    else {
      const defer = cleanupStack(t);
      const broker = await startMosquitto(
        t,
        testBrokerAccounts([...new Set([...TEST_PRINTERS, ...(overrides.printers ?? [])])]),
        defer,
      );
      external = { broker, databaseUrl: await createTestDatabase(), defer };
    }
    const account = external.broker.accounts.server;
    modeConfig = {
      mqttUrl: external.broker.tcpUrl,
      mqttUsername: account.username,
      mqttPassword: account.password,
      mqttPort: -1,
      databaseUrl: external.databaseUrl,
    };
  }
  const config = loadServerConfig(
    {},
    {
      port: 0,
      mqttPort: 0,
      host: '127.0.0.1',
      dataDir,
      printRate: { perMinute: 0, burst: 1 },
      ...modeConfig,
      ...overrides,
    },
  );
  const built = buildServer(config, options.log ?? testLogger());
  const server = await startBuilt(built);
  const { areas } = built;
  const stop = stopAfterTest(t, () => server.stop(), external);
  return {
    ...server,
    stop,
    jobs: areas.jobs.service,
    printers: areas.printers.status,
    dispatcher: areas.delivery.dispatcher,
    broker: areas.broker.embedded,
    bus: areas.broker.bus,
    live: areas.http.live,
    idempotency: areas.http.idempotency,
    dynsec: areas.broker.dynsec,
    dataDir,
    mode,
    external,
    baseUrl: `http://127.0.0.1:${server.httpPort}`,
    wsUrl: external ? external.broker.wsUrl : `ws://127.0.0.1:${server.httpPort}/mqtt`,
    tcpUrl: external ? external.broker.tcpUrl : `mqtt://127.0.0.1:${server.mqttPort}`,
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
 * The user name and password of `as` on `server`'s broker: the test Mosquitto's accounts in external
 * mode; else from the running server, or, for a server running as a child process, from the token file
 * in its DATA_DIR.
 */
export function mqttCredentials(
  server: Partial<Pick<TestServer, 'dataDir' | 'accounts' | 'external'>>,
  as: MqttIdentity,
): { username: string; password: string } {
  if (server.external) {
    const accounts = server.external.broker.accounts;
    if (as === 'server') return { ...accounts.server };
    if (as === 'debug') return { ...accounts.debug! };
    const printer = accounts.printers.find((p) => p.printerId === as.printerId);
    if (!printer) throw new Error(`no broker account for printer ${as.printerId} in this test broker`);
    return { username: printer.printerId, password: printer.token };
  }
  if (!server.accounts && !server.dataDir)
    throw new Error('mqttCredentials needs a server, its DATA_DIR or its external broker');
  const accounts = server.accounts ?? readTokens(server.dataDir!);
  const account: Account =
    as === 'debug'
      ? { kind: 'debug' }
      : as === 'server'
        ? { kind: 'server' }
        : { kind: 'printer', printerId: as.printerId };
  return accounts.credentialsFor(account);
}

/** Host, port and credentials options for mosquitto_sub / mosquitto_pub against `server`'s broker. */
export function mosquittoClientArgs(server: TestServer, as: MqttIdentity): string[] {
  const { username, password } = mqttCredentials(server, as);
  const port = new URL(server.tcpUrl).port;
  return ['-h', '127.0.0.1', '-p', port, '-u', username, '-P', password];
}

/** A raw mqtt.js client to the test server's broker over TCP, ended after the test. */
export async function connectClient(
  t: TestContext,
  server: TestServer,
  as: MqttIdentity,
  options: mqtt.IClientOptions = {},
): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(server.tcpUrl, {
    reconnectPeriod: 0,
    ...mqttCredentials(server, as),
    ...options,
  });
  defer(t, () => client.endAsync(true));
  return client;
}

/**
 * The environment of an agent run as a child process (`node --import tsx agent/main.ts`), connected to
 * `server` over TCP MQTT with the printer's credentials; `extra` adds or overrides settings.
 */
export function agentChildEnv(
  server: TestServer,
  printerId: string,
  extra: Record<string, string> = {},
): NodeJS.ProcessEnv {
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
export async function startTestAgent(
  t: TestContext,
  server: Pick<TestServer, 'external' | 'wsUrl'> & Partial<Pick<TestServer, 'dataDir' | 'accounts'>>,
  overrides: Partial<AgentConfig> = {},
): Promise<TestAgent> {
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
  const stop = stopAfterTest(t, () => agent.stop(), server.external);
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

/** postJson and getJson fail the test when the answer is not one GET /openapi.json describes (openapi-check.ts). */
export async function postJson(
  baseUrl: string,
  route: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown; headers: Headers }> {
  const res = await fetch(baseUrl + route, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  checkAgainstDocument({ method: 'POST', url: res.url, status: res.status, headers: res.headers, body: json });
  return { status: res.status, json, headers: res.headers };
}

export async function getJson<T = unknown>(baseUrl: string, route: string): Promise<{ status: number; json: T }> {
  const res = await fetch(baseUrl + route);
  const json = (await res.json()) as T;
  checkAgainstDocument({ method: 'GET', url: res.url, status: res.status, headers: res.headers, body: json });
  return { status: res.status, json };
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
