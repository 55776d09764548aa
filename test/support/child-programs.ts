/**
 * The server and agents as real child processes, run as `npm run` runs them, so that a test can SIGKILL
 * them and start them again in place (same ports, same journal, same paper).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestContext } from 'node:test';
import { mqttCredentials, type MqttIdentity, type TestServer, waitFor } from './harness';
import { freePort } from './ports';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CHILD_LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'warn';

/**
 * One run of a program (`broker-server/main.ts` or `agent/main.ts`) through tsx, as `npm run` does, or of
 * a built one (an absolute path to a `dist/*.mjs`) with plain node, as production runs it.
 */
export class ChildProgram {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private log = '';

  constructor(
    readonly name: string,
    script: string,
    env: Record<string, string>,
    programArgs: string[] = [],
  ) {
    const args = [
      ...(script.endsWith('.mjs') ? [script] : ['--import', 'tsx', path.join(ROOT, script)]),
      ...programArgs,
    ];
    this.child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: CHILD_LOG_LEVEL, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (d: Buffer) => {
      this.log = (this.log + d.toString()).slice(-20_000);
      if (process.env.TEST_LOG_LEVEL) process.stderr.write(`[${name}] ${d.toString()}`);
    };
    this.child.stdout!.on('data', keep);
    this.child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  get output(): string {
    return this.log;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }
}

/**
 * `broker-server/main.ts` as a child on a free HTTP port, loopback only, no MQTT TCP port, killed after the
 * test; resolves once it answers `/healthz`.
 */
export async function startServerChild(
  t: TestContext,
  env: Record<string, string>,
): Promise<{ server: ChildProgram; port: number; baseUrl: string }> {
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const server = new ChildProgram('server', 'broker-server/main.ts', {
    PORT: String(port),
    MQTT_PORT: '-1',
    HOST: '127.0.0.1',
    ...env,
  });
  t.after(() => server.kill('SIGKILL'));
  await waitFor(
    'the server',
    async () => {
      if (!server.running) throw new Error(`server exited: ${server.output}`);
      return (await fetch(`${baseUrl}/healthz`)).ok;
    },
    30_000,
    100,
  );
  return { server, port, baseUrl };
}

/** A server as a child process on fixed ports, so that it can be killed and started again in place. */
export class ServerProcess {
  program: ChildProgram | null = null;
  starts = 0;

  private constructor(
    readonly dataDir: string,
    readonly httpPort: number,
    readonly mqttPort: number,
    private readonly options: ServerProcessOptions,
  ) {}

  static async create(t: TestContext, dataDir: string, options: ServerProcessOptions = {}): Promise<ServerProcess> {
    const ports = options.ports ?? { httpPort: await freePort(), mqttPort: await freePort() };
    const server = new ServerProcess(dataDir, ports.httpPort, ports.mqttPort, options);
    t.after(() => server.program?.kill('SIGKILL'));
    await server.start();
    return server;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }
  get wsUrl(): string {
    return `ws://127.0.0.1:${this.httpPort}/mqtt`;
  }
  get tcpUrl(): string {
    return `mqtt://127.0.0.1:${this.mqttPort}`;
  }

  /** What harness.mqttCredentials needs to know of a server: a spawned one answers for the same identities. */
  asTestServer(): TestServer {
    return {
      baseUrl: this.baseUrl,
      wsUrl: this.wsUrl,
      tcpUrl: this.tcpUrl,
      dataDir: this.dataDir,
      httpPort: this.httpPort,
      mqttPort: this.mqttPort,
    } as unknown as TestServer;
  }

  credentials(as: MqttIdentity): { username?: string; password?: string } {
    return mqttCredentials(this.asTestServer(), as);
  }

  async start(): Promise<void> {
    if (this.program?.running) throw new Error('server already running');
    this.starts++;
    this.program = new ChildProgram(`server#${this.starts}`, this.options.program ?? 'broker-server/main.ts', {
      PORT: String(this.httpPort),
      MQTT_PORT: String(this.mqttPort),
      HOST: '127.0.0.1',
      DATA_DIR: this.dataDir,
      PRINTERS: 'printer-1',
      // The suite posts hundreds of jobs from one address; the rate limit is tested on its own.
      PRINT_RATE_PER_MINUTE: '0',
      ...this.options.env,
    });
    const program = this.program;
    await waitFor(
      `server #${this.starts} up`,
      async () => {
        if (!program.running) throw new Error(`server exited: ${program.output}`);
        return (await fetch(`${this.baseUrl}/health`)).ok;
      },
      30_000,
      100,
    );
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL') {
    return this.program?.kill(signal);
  }
}

export interface ServerProcessOptions {
  /** The ports of another server (one that replaces it at the same address); new free ones otherwise. */
  ports?: { httpPort: number; mqttPort: number };
  /** A built server (`<dist>/printhop-server.mjs`), run with plain node; `broker-server/main.ts` through tsx otherwise. */
  program?: string;
  env?: Record<string, string>;
}

export interface AgentProcessOptions {
  mqttUrl: string;
  printer: string;
  dataDir: string;
  credentials: { username?: string; password?: string };
  env?: Record<string, string>;
  /** A built agent (`<dist>/printhop-agent.mjs`), run with plain node; `agent/main.ts` through tsx otherwise. */
  program?: string;
  /** Its command-line options (`--takeover`). */
  args?: string[];
}

/** An agent process for printer-1; a new one on the same journal and paper plays the agent restarted. */
export function spawnAgent(t: TestContext, options: AgentProcessOptions, name = 'agent'): ChildProgram {
  const program = new ChildProgram(
    name,
    options.program ?? 'agent/main.ts',
    {
      MQTT_URL: options.mqttUrl,
      MQTT_USERNAME: options.credentials.username ?? '',
      MQTT_PASSWORD: options.credentials.password ?? '',
      PRINTER_ID: 'printer-1',
      PRINTER: options.printer,
      AGENT_DATA_DIR: options.dataDir,
      RECONNECT_MIN_MS: '100',
      RECONNECT_MAX_MS: '1000',
      PRINTER_RETRY_MIN_MS: '100',
      PRINTER_RETRY_MAX_MS: '500',
      ...options.env,
    },
    options.args,
  );
  t.after(() => program.kill('SIGKILL'));
  return program;
}

/** Runs a program (a Mosquitto client, say) to its end, killed when the test ends if it has not. */
export function runToEnd(
  t: TestContext,
  command: string,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(command, args);
  t.after(() => child.kill());
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

/**
 * One of the server's commands (`npm run api-keys -- …`, `npm run webhooks -- …`) as a user runs it beside
 * a running server, with that server's settings: `script` through tsx, or `program` (e.g. a built
 * `dist/*.mjs`) when given. Resolves with the exit code, whatever it is.
 */
export async function runServerCommand(
  server: Pick<TestServer, 'dataDir' | 'external'>,
  script: string,
  args: string[],
  options: { env?: Record<string, string>; program?: string[] } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    DATA_DIR: server.dataDir,
    DATABASE_URL: server.external?.databaseUrl ?? '',
    LOG_LEVEL: 'warn',
    ...options.env,
  };
  const program = options.program ?? ['--import', 'tsx', path.join(ROOT, script)];
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [...program, ...args], { env, cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}
