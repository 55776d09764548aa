/**
 * Parts for fault injection: the server and agents as real child processes (so they can be SIGKILLed),
 * a TCP proxy between agent and broker that can cut the network or swallow acks, a virtual network
 * printer that can be absent or fail mid-receipt, and an audit of paper against the API.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { type StatusQuery, statusAnswers } from '../../agent/printers/status';
import path from 'node:path';
import type { TestContext } from 'node:test';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import { getJson, mqttCredentials, type MqttIdentity, type TestServer, waitFor } from './harness';
import { freePort } from './ports';
export { freePort };

const ROOT = path.resolve(import.meta.dirname, '../..');
const CHILD_LOG_LEVEL = process.env.TEST_LOG_LEVEL ?? 'warn';

/** One run of a program (`broker-server/main.ts` or `agent/main.ts`) through tsx, as `npm run` does. */
export class ChildProgram {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private log = '';

  constructor(
    readonly name: string,
    script: string,
    env: Record<string, string>,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, script)], {
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

/** A server as a child process on fixed ports, so that it can be killed and started again in place. */
export class ServerProcess {
  program: ChildProgram | null = null;
  starts = 0;

  private constructor(
    readonly dataDir: string,
    readonly httpPort: number,
    readonly mqttPort: number,
  ) {}

  static async create(t: TestContext, dataDir: string): Promise<ServerProcess> {
    const server = new ServerProcess(dataDir, await freePort(), await freePort());
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
    return { baseUrl: this.baseUrl, wsUrl: this.wsUrl, tcpUrl: this.tcpUrl, dataDir: this.dataDir, httpPort: this.httpPort, mqttPort: this.mqttPort } as unknown as TestServer;
  }

  credentials(as: MqttIdentity): { username?: string; password?: string } {
    return mqttCredentials(this.asTestServer(), as);
  }

  async start(): Promise<void> {
    if (this.program?.running) throw new Error('server already running');
    this.starts++;
    this.program = new ChildProgram(`server#${this.starts}`, 'broker-server/main.ts', {
      PORT: String(this.httpPort),
      MQTT_PORT: String(this.mqttPort),
      HOST: '127.0.0.1',
      DATA_DIR: this.dataDir,
      PRINTERS: 'printer-1',
      // The suite posts hundreds of jobs from one address; the rate limit is tested on its own.
      PRINT_RATE_PER_MINUTE: '0',
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

export interface AgentProcessOptions {
  mqttUrl: string;
  printer: string;
  dataDir: string;
  credentials: { username?: string; password?: string };
  env?: Record<string, string>;
}

/** An agent process for printer-1; a new one on the same journal and paper plays the agent restarted. */
export function spawnAgent(t: TestContext, options: AgentProcessOptions, name = 'agent'): ChildProgram {
  const program = new ChildProgram(name, 'agent/main.ts', {
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
  });
  t.after(() => program.kill('SIGKILL'));
  return program;
}

// ---- network ----

/** MQTT 3.1.1 framing, just enough to see which packets go by: type nibble, remaining length, body. */
function splitPackets(buffer: Buffer): { packets: Buffer[]; rest: Buffer } {
  const packets: Buffer[] = [];
  let offset = 0;
  for (;;) {
    let length = 0;
    let multiplier = 1;
    let i = offset + 1;
    let complete = false;
    while (i < buffer.length && i < offset + 5) {
      const byte = buffer[i]!;
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      i++;
      if ((byte & 0x80) === 0) {
        complete = true;
        break;
      }
    }
    if (!complete || i + length > buffer.length) break;
    packets.push(buffer.subarray(offset, i + length));
    offset = i + length;
  }
  return { packets, rest: buffer.subarray(offset) };
}

/** Topic and payload of a PUBLISH packet, or null for any other packet. */
export function readPublish(packet: Buffer): { topic: string; payload: string } | null {
  if (packet[0]! >> 4 !== 3) return null;
  let i = 1;
  while (packet[i]! & 0x80) i++;
  i++;
  const topicLength = packet.readUInt16BE(i);
  const topic = packet.subarray(i + 2, i + 2 + topicLength).toString();
  const qos = (packet[0]! >> 1) & 3;
  const payloadStart = i + 2 + topicLength + (qos > 0 ? 2 : 0);
  return { topic, payload: packet.subarray(payloadStart).toString() };
}

/**
 * A TCP proxy the test controls, between agent and broker. `cut()` drops every connection and refuses
 * new ones until `restore()`; `dropFromClient` swallows chosen MQTT packets on their way to the broker.
 */
export class TcpProxy {
  private readonly server: net.Server;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private isCut = false;
  dropFromClient: ((packet: Buffer) => boolean) | null = null;
  dropped = 0;
  connections = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {
    this.server = net.createServer((client) => this.accept(client));
  }

  async start(t: TestContext): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    t.after(() => this.stop());
    return (this.server.address() as net.AddressInfo).port;
  }

  private accept(client: net.Socket): void {
    client.on('error', () => undefined);
    if (this.isCut) {
      client.destroy();
      return;
    }
    this.connections++;
    const upstream = net.connect({ port: this.targetPort, host: this.targetHost });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const close = () => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    upstream.pipe(client);
    let pending = Buffer.alloc(0);
    client.on('data', (data: Buffer) => {
      if (!this.dropFromClient) {
        if (pending.length) {
          upstream.write(pending);
          pending = Buffer.alloc(0);
        }
        upstream.write(data);
        return;
      }
      const { packets, rest } = splitPackets(Buffer.concat([pending, data]));
      pending = Buffer.from(rest);
      for (const packet of packets) {
        if (this.dropFromClient?.(packet)) this.dropped++;
        else upstream.write(packet);
      }
    });
  }

  /** The network goes away: open connections die and new ones are refused. */
  cut(): void {
    this.isCut = true;
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  restore(): void {
    this.isCut = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

// ---- printer ----

/**
 * A raw TCP (port 9100) printer. Bytes reach the "paper" as they arrive. It can be absent (nothing
 * listens: connection refused, like a printer switched off) or fail mid-receipt (it takes the first
 * bytes, then resets the connection, like a printer losing power while printing).
 */
export class VirtualTcpPrinter {
  private server: net.Server | null = null;
  private readonly chunks: Buffer[] = [];
  readonly sockets = new Set<net.Socket>();
  port = 0;
  connections = 0;
  /** Connection numbers (1-based) that fail after `failAfterBytes` bytes. */
  readonly failing = new Set<number>();
  failAfterBytes = 40;
  failed = 0;

  async start(t: TestContext): Promise<void> {
    await this.listen();
    t.after(() => this.stop());
  }

  private async listen(): Promise<void> {
    const server = net.createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  private accept(socket: net.Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
    // The agent asks the printer's status (DLE EOT n) on a connection of its own: answer "ready", as a
    // real printer would, and keep it off the paper and out of the receipt connections' count.
    socket.once('data', (first: Buffer) => {
      if (first[0] === 0x10 && first[1] === 0x04) {
        const answers = statusAnswers('ok');
        const reply = (data: Buffer) => {
          for (let i = 0; i + 2 < data.length; i++) {
            if (data[i] === 0x10 && data[i + 1] === 0x04) socket.write(Buffer.from([answers[data[i + 2] as StatusQuery] ?? 0x12]));
          }
        };
        reply(first);
        socket.on('data', reply);
        socket.on('end', () => socket.end());
        return;
      }
      this.acceptReceipt(socket);
      socket.emit('data', first);
    });
  }

  private acceptReceipt(socket: net.Socket): void {
    const number = ++this.connections;
    let received = 0;
    const failing = this.failing.has(number);
    socket.on('data', (data: Buffer) => {
      if (failing) {
        const room = Math.max(0, this.failAfterBytes - received);
        if (room > 0) this.chunks.push(Buffer.from(data.subarray(0, room)));
        received += data.length;
        if (received >= this.failAfterBytes && !socket.destroyed) {
          this.failed++;
          socket.resetAndDestroy();
        }
        return;
      }
      received += data.length;
      this.chunks.push(Buffer.from(data));
    });
    // A printer closes its side once the host has sent everything.
    socket.on('end', () => socket.end());
  }

  get spec(): string {
    return `tcp://127.0.0.1:${this.port}`;
  }

  paper(): Buffer {
    return Buffer.concat(this.chunks);
  }

  /** Switched off: the port refuses connections. */
  async goAway(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Switched on again, on the same port. */
  async comeBack(): Promise<void> {
    if (!this.server) await this.listen();
  }

  async stop(): Promise<void> {
    await this.goAway();
  }
}

// ---- audit ----

export interface AuditOptions {
  /** Each job's content is unique; this is how the paper's receipts are matched to jobs. */
  jobs: PrintJob[];
  paper: Buffer;
  /** Ids the API answered 201 for: each must be in `jobs`. */
  accepted: number[];
}

export interface AuditResult {
  printed: PrintJob[];
  failed: PrintJob[];
  interrupted: PrintJob[];
  /** Receipt contents on paper in paper order (complete receipts only). */
  paperOrder: string[];
  /** Interrupted jobs with a partial receipt on paper. */
  partial: number;
  problems: string[];
}

/**
 * Every job ends `printed` with exactly one complete receipt on paper and no partial one, or
 * `interrupted` with at most one receipt (whole or partial), or `failed` with a reason and nothing
 * on paper. No receipt on paper belongs to no job; no accepted job is missing.
 */
export function auditPaper(options: AuditOptions): AuditResult {
  const problems: string[] = [];
  const byContent = new Map(options.jobs.map((j) => [j.content, j]));
  const ids = new Set(options.jobs.map((j) => j.id));
  for (const id of options.accepted) if (!ids.has(id)) problems.push(`accepted job ${id} is missing from the API`);
  const decoded = decodeEscPos(options.paper);
  if (decoded.unexpected.length) problems.push(`unexpected control bytes on paper: ${decoded.unexpected.slice(0, 5).join(', ')}`);
  const complete = new Map<number, number>();
  const partial = new Map<number, number>();
  const paperOrder: string[] = [];
  for (const receipt of decoded.receipts) {
    const content = receipt.lines[3];
    const job = content === undefined ? undefined : byContent.get(content);
    if (receipt.cut) {
      paperOrder.push(content ?? '');
      if (!job) {
        problems.push(`a complete receipt on paper matches no job: ${JSON.stringify(receipt.text.slice(0, 80))}`);
        continue;
      }
      complete.set(job.id, (complete.get(job.id) ?? 0) + 1);
    } else if (job) {
      partial.set(job.id, (partial.get(job.id) ?? 0) + 1);
    } else {
      // A receipt cut short before its content line: it can only be an interrupted job's.
      partial.set(-1, (partial.get(-1) ?? 0) + 1);
    }
  }
  const result: AuditResult = { printed: [], failed: [], interrupted: [], paperOrder, partial: 0, problems };
  for (const job of options.jobs) {
    const whole = complete.get(job.id) ?? 0;
    const part = partial.get(job.id) ?? 0;
    switch (job.status) {
      case 'printed':
        result.printed.push(job);
        if (whole !== 1 || part !== 0) problems.push(`job ${job.id} is printed but is on paper ${whole} time(s) whole and ${part} time(s) partly`);
        break;
      case 'interrupted':
        result.interrupted.push(job);
        if (whole + part > 1) problems.push(`job ${job.id} is interrupted but is on paper ${whole + part} times`);
        if (!job.error) problems.push(`job ${job.id} is interrupted without a reason`);
        result.partial += part;
        break;
      case 'failed':
        result.failed.push(job);
        if (whole + part > 0) problems.push(`job ${job.id} is failed but is on paper`);
        if (!job.error) problems.push(`job ${job.id} is failed without a reason`);
        break;
      default:
        problems.push(`job ${job.id} is still ${job.status}`);
    }
  }
  const anonymousPartial = partial.get(-1) ?? 0;
  result.partial += anonymousPartial;
  if (result.partial > result.interrupted.length) problems.push(`${result.partial} partial receipts for ${result.interrupted.length} interrupted jobs`);
  return result;
}

/** Every job the server holds (the API caps a page at 500, more than any scenario posts). */
export async function allJobs(baseUrl: string): Promise<PrintJob[]> {
  const { json } = await getJson<PrintJob[]>(baseUrl, '/jobs?limit=500');
  return [...json].sort((a, b) => a.id - b.id);
}

/** Waits until every job is printed, failed or interrupted. */
export async function allFinal(baseUrl: string, timeoutMs = 120_000): Promise<PrintJob[]> {
  let last: PrintJob[] = [];
  try {
    return await waitFor(
      'every job final',
      async () => {
        last = await allJobs(baseUrl);
        return last.length > 0 && last.every((j) => ['printed', 'failed', 'interrupted'].includes(j.status)) ? last : null;
      },
      timeoutMs,
      250,
    );
  } catch (err) {
    const open = last.filter((j) => !['printed', 'failed', 'interrupted'].includes(j.status));
    throw new Error(`${(err as Error).message}; not final: ${open.slice(0, 10).map((j) => `${j.id}:${j.status}`).join(' ')}`, { cause: err });
  }
}

export function readPaper(file: string): Buffer {
  return fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
}
