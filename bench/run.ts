/**
 * `npm run bench`: the real server, the real broker and real agent processes, driven over HTTP.
 * Prints a table (figure next to target) and one JSON line. Every job of every scenario is checked
 * printed exactly once, from the database and from the bytes on the virtual printers' paper.
 *
 *   npm run bench                 full counts (the issue's targets)
 *   npm run bench -- --smoke      small counts, to check that the bench still works (CI)
 *   npm run bench -- --only=latency,throughput   (the scenarios: see main(), or docs/performance.md's table)
 *   npm run bench -- --profile[=DIR]   CPU profile of every process the bench starts, summarised at the end
 *   npm run bench -- --pace=N [--jobs=M]   the throughput loads (Printhop's, the frame's, the baseline's) post at
 *                                 most N jobs a second (M jobs a run), so that their CPU per job compares at the
 *                                 same rate: a path that costs more runs slower unpaced, and fewer jobs then
 *                                 share each wake-up, each socket write and each commit
 *   npm run bench -- --only=floor --floor=floor,floor-durable   the frame's variants to run (all four unless given)
 *   npm run bench -- --only=rounds --rounds=N   the throughput load on Printhop, the baseline and the durable frame,
 *                                 one after the other, N rounds (3 unless given): each round's ratios and their medians
 *
 * BENCH_RUNTIME=tsx|dist picks how the processes run (see `launch`).
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import { decodeEscPos } from '../agent/printers/escpos-decoder';
import { readTokens } from '../broker-server/broker/tokens';
import { freePort } from '../test/support/ports';
import { request } from './http-request';
import { contextSwitches, formatLedger, parseStraceSummary, stagesInWindow } from './cost-ledger';
import { medianDifference, percentile, percentileOf, roundOrders } from './floor/paired';
import { summariseProfile } from './profile-summary';
import { CLOCK_TICKS, cpuMs } from './proc-cpu';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
/** The text after `--name=` on the command line, if given. */
const valueArg = (name: string): string | undefined =>
  args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const only = valueArg('only')?.split(',');
const wanted = (name: string) => !only || only.includes(name);
const numberArg = (name: string): number | undefined => {
  const raw = valueArg(name);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`--${name} must be a whole number above 0, not ${raw}`);
  return value;
};
/** --pace: jobs a second the throughput loads post at most (job i no earlier than i / pace s after the start). */
const pace = numberArg('pace');
/** --rounds: how many rounds the `rounds` scenario runs (Printhop's, the baseline's and the durable frame's throughput loads). */
const ROUNDS = numberArg('rounds') ?? (smoke ? 1 : 3);
/** The frame's variants (floor(): each under the throughput load). */
const FLOOR_VARIANTS = [
  { label: 'floor', transport: 'ws', syncs: false },
  { label: 'floor-tcp', transport: 'tcp', syncs: false },
  { label: 'floor-syncs', transport: 'ws', syncs: true },
  { label: 'floor-durable', transport: 'ws', syncs: true, durable: true },
] as const;
/** --floor: which of them the `floor` scenario runs (all of them unless given); a name it has not is refused at once. */
const floorOnly = valueArg('floor')?.split(',');
const unknownFloor = floorOnly?.filter((name) => !FLOOR_VARIANTS.some((v) => v.label === name)) ?? [];
if (unknownFloor.length)
  throw new Error(
    `--floor: no variant ${unknownFloor.join(', ')}; the variants: ${FLOOR_VARIANTS.map((v) => v.label).join(', ')}`,
  );

const COUNTS = smoke
  ? {
      latency: 50,
      throughput: 600,
      throughputClients: 8,
      printers: 3,
      fleet: 30,
      catchUp: 300,
      agentLoad: 100,
      single: 200,
      singleClients: 16,
    }
  : {
      latency: 2000,
      throughput: 20000,
      throughputClients: 64,
      printers: 10,
      fleet: 1000,
      catchUp: 10000,
      agentLoad: 2000,
      single: 10000,
      singleClients: 16,
    };
COUNTS.throughput = numberArg('jobs') ?? COUNTS.throughput;

// ---------- processes ----------

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) {
    // start-all's own children (server, agent) first: they would outlive it otherwise.
    for (const pid of childPids(c.pid)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    c.kill('SIGKILL');
  }
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

function track(child: ChildProcess, name: string): ChildProcess {
  children.add(child);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  child.on('exit', (code, signal) => {
    children.delete(child);
    if (code && code !== 0 && !signal) console.error(`${name} exited with ${code}: ${err}`);
  });
  return child;
}

/**
 * BENCH_PROFILE_DIR=dir or --profile[=dir]: a CPU profile (node --cpu-prof) of every process the bench starts
 * itself, summarised at the end. (Node 20 refuses --cpu-prof in NODE_OPTIONS, so the server and agent that
 * `start-all` starts in the `start` scenario are not profiled: the `latency` scenario runs the same code.)
 */
const profileFlag = args.find((a) => a === '--profile' || a.startsWith('--profile='));
const profileDir = profileFlag?.startsWith('--profile=')
  ? path.resolve(profileFlag.slice('--profile='.length))
  : (process.env.BENCH_PROFILE_DIR ??
    (profileFlag ? fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-bench-profiles-')) : undefined));
if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
const profileArgs = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
/** pid → what it is, to name the profiles. */
const launched = new Map<number, string>();

/**
 * The one place that decides how a process runs, so that the bench measures what production runs.
 * BENCH_RUNTIME=tsx: `node --import tsx` on the TypeScript sources (what `npm start` does today).
 * BENCH_RUNTIME=dist: plain `node` on the build (`npm run build`, no loader), for the scripts the build has.
 * Unset: dist when the build has the script, tsx otherwise. Scripts the build has no entry for (the bench's own
 * fleet and baseline) run with tsx in both cases; the table's header says which runtime each process used.
 */
const DIST_ENTRIES: Record<string, string> = {
  'broker-server/main.ts': 'dist/printhop-server.mjs',
  'agent/main.ts': 'dist/printhop-agent.mjs',
  'broker-server/start-all.ts': 'dist/start-all.mjs',
};
const runtimeSetting = process.env.BENCH_RUNTIME ?? 'auto';
if (!['tsx', 'dist', 'auto'].includes(runtimeSetting))
  throw new Error(`BENCH_RUNTIME must be tsx or dist, not ${runtimeSetting}`);
const runtimes = new Map<string, string>();

function entryFor(script: string): { file: string; execArgv: string[]; env?: NodeJS.ProcessEnv; runtime: string } {
  const dist = DIST_ENTRIES[script];
  const built = dist !== undefined && fs.existsSync(path.join(root, dist));
  if (runtimeSetting === 'dist' && dist !== undefined && !built)
    throw new Error(`BENCH_RUNTIME=dist but ${dist} does not exist: npm run build first`);
  // The agent as deployed (systemd unit, image, npm start): 1 MB semi-spaces, 2 malloc arenas and large blocks
  // given back when freed keep its memory down (docs/deployment.md).
  if (built && runtimeSetting !== 'tsx')
    return {
      file: path.join(root, dist),
      execArgv: script === 'agent/main.ts' ? ['--max-semi-space-size=1'] : [],
      env: script === 'agent/main.ts' ? { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' } : {},
      runtime: 'dist',
    };
  return { file: path.join(root, script), execArgv: ['--import', 'tsx'], runtime: 'tsx' };
}

interface LaunchOptions {
  ipc?: boolean;
  /** LOG_LEVEL of the process; the bench's own default is warn, the `start` scenario keeps npm start's info. */
  logLevel?: string;
  /** Node options of this process alone (the ledger's CPU profiles). */
  execArgv?: string[];
}

function launch(script: string, env: NodeJS.ProcessEnv, options: LaunchOptions = {}): ChildProcess {
  const { file, execArgv: runtimeArgv, env: deployedEnv, runtime } = entryFor(script);
  const execArgv = [...(options.execArgv ?? []), ...runtimeArgv];
  runtimes.set(script, runtime);
  const fullEnv: NodeJS.ProcessEnv = { ...process.env, ...deployedEnv, ...env };
  if (options.logLevel === undefined) fullEnv.LOG_LEVEL = env.LOG_LEVEL ?? 'warn';
  else if (options.logLevel === 'default') delete fullEnv.LOG_LEVEL;
  else fullEnv.LOG_LEVEL = options.logLevel;
  // stdout is drained (as a log file would take it), never left to fill a pipe.
  const stdio = ['ignore', 'pipe', 'pipe', ...(options.ipc ? ['ipc'] : [])] as never;
  const child = options.ipc
    ? fork(file, [], { cwd: root, env: fullEnv, stdio, execArgv: [...profileArgs, ...execArgv] })
    : spawn(process.execPath, [...profileArgs, ...execArgv, file], { cwd: root, env: fullEnv, stdio });
  child.stdout?.resume();
  if (child.pid) launched.set(child.pid, script);
  return child;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function rssMb(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
  } catch {
    return NaN;
  }
}

/** CPU per job of some processes over a run: robust where wall-clock figures are not (a shared, loaded machine). */
class CpuMeter {
  private readonly start: number[];
  constructor(
    private readonly pids: Array<number | undefined>,
    /** The main threads' CPU alone (the event loop), without libuv's pool and V8's compiler and GC threads. */
    private readonly mainThread = false,
  ) {
    this.start = pids.map((pid) => cpuMs(pid, mainThread));
  }
  perJob(jobs: number): number {
    return this.pids.reduce((sum: number, pid, i) => sum + cpuMs(pid, this.mainThread) - this.start[i]!, 0) / jobs;
  }
}

/** Busy CPU time of the whole machine (/proc/stat: user, nice, system, irq, softirq of every core), in ms. */
function machineBusyMs(): number {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0] = fields;
    return ((user + nice + system + irq + softirq) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU per job of the whole machine over a run: every process and the kernel's own threads and interrupts (the
 * disk's flushes, the loopback's packets), which no process's figure holds. Only a quiet machine gives it a meaning;
 * beside the processes' figures it shows what the kernel spends outside them.
 */
class MachineCpuMeter {
  private readonly start = machineBusyMs();
  perJob(jobs: number): number {
    return (machineBusyMs() - this.start) / jobs;
  }
}

/** CPU per job of this process (the clients, the event stream reader, the checks), all threads, over a run. */
class OwnCpuMeter {
  private readonly start = process.cpuUsage();
  perJob(jobs: number): number {
    const used = process.cpuUsage(this.start);
    return (used.user + used.system) / 1000 / jobs;
  }
}

/** The processes a process started (start-all's server and agent). */
function childPids(pid: number | undefined): number[] {
  if (!pid) return [];
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
const commandLine = (pid: number) => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
};

class RssSampler {
  max = 0;
  private timer: NodeJS.Timeout;
  constructor(pids: () => Array<number | undefined>) {
    this.timer = setInterval(() => {
      const total = pids().reduce((sum: number, pid) => sum + (rssMb(pid) || 0), 0);
      this.max = Math.max(this.max, total);
    }, 100);
  }
  stop(): number {
    clearInterval(this.timer);
    return this.max;
  }
}

// ---------- a server under test ----------

interface Server {
  port: number;
  mqttPort: number;
  dataDir: string;
  child: ChildProcess | null;
  brokerUrl: string;
  wsUrl: string;
  agent: http.Agent;
  events: EventWatcher;
}

async function startServer(
  name: string,
  env: NodeJS.ProcessEnv = {},
  script = 'broker-server/main.ts',
  options: LaunchOptions = {},
): Promise<Server> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `printhop-bench-${name}-`));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  // A free port is free when asked, not always when the server listens: one of the kernel's ephemeral ports, which
  // any new connection of this machine can take meanwhile (after the fleet's thousand, one did). A server that
  // exits on EADDRINUSE is started again on new ports.
  for (let attempt = 1; ; attempt++) {
    const [port, mqttPort] = [await freePort(), await freePort()];
    let stderr = '';
    // One client address posts everything here: the rate limit, meant for people, is off.
    const child = track(
      launch(
        script,
        {
          PORT: String(port),
          MQTT_PORT: String(mqttPort),
          HOST: '127.0.0.1',
          DATA_DIR: dataDir,
          PRINT_RATE_PER_MINUTE: '0',
          ...env,
        },
        options,
      ),
      `server ${name}`,
    );
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const deadline = Date.now() + 30_000;
    let started = false;
    while (!started && child.exitCode === null && Date.now() < deadline) {
      try {
        await request(agent, port, 'GET', '/health');
        started = true;
      } catch {
        await sleep(100);
      }
    }
    if (!started) {
      if (child.exitCode !== null && stderr.includes('EADDRINUSE') && attempt < 3) {
        console.error(`  server ${name}: a port was taken before it listened; started again on new ports`);
        continue;
      }
      throw new Error(`server ${name} did not start`);
    }
    const events = new EventWatcher(port);
    await events.ready;
    const [brokerUrl, wsUrl] = [`mqtt://127.0.0.1:${mqttPort}`, `ws://127.0.0.1:${port}/mqtt`];
    return { port, mqttPort, dataDir, child, brokerUrl, wsUrl, agent, events };
  }
}

async function stopServer(server: Server): Promise<void> {
  server.events.close();
  server.agent.destroy();
  if (server.child) await stopChild(server.child);
  fs.rmSync(server.dataDir, { recursive: true, force: true });
}

/** printerId undefined: the request names none, as a user of `npm start` posting to its one printer. */
async function postJob(server: Server, content: string, printerId: string | undefined): Promise<number> {
  const res = await request(
    server.agent,
    server.port,
    'POST',
    '/print',
    printerId === undefined ? { content } : { content, printerId },
  );
  if (res.status !== 201) throw new Error(`POST /print answered ${res.status}: ${res.body}`);
  return (JSON.parse(res.body) as { id: number }).id;
}

/**
 * Watches GET /jobs/events: when each job reached `printed` in the database, and which printers are online. It asks
 * for the outcomes only (`?status=`), as a client that waits for them would; the baseline and the frame, which have
 * no such filter, send what they send.
 */
class EventWatcher {
  readonly printedAt = new Map<number, number>();
  /** Each printed job's stamps as its `printed` event carried them (epoch ms), for the latency's stages. */
  readonly stamps = new Map<number, JobStamps>();
  readonly online = new Set<string>();
  readonly onlineAt = new Map<string, number>();
  readonly ready: Promise<void>;
  private waiters = new Map<number, () => void>();
  private printerWaiters: Array<() => void> = [];
  private req: http.ClientRequest;

  constructor(private readonly port: number) {
    let markReady!: () => void;
    this.ready = new Promise((resolve) => (markReady = resolve));
    this.req = http.get({ host: '127.0.0.1', port, path: '/jobs/events?status=printed,failed,interrupted' }, (res) => {
      res.setEncoding('utf8');
      let buffer = '';
      markReady();
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          this.onEvent(block);
        }
      });
    });
    this.req.on('error', () => undefined);
  }

  private onEvent(block: string): void {
    const event = /^event: (.*)$/m.exec(block)?.[1];
    const data = block
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => l.slice(6))
      .join('\n');
    if (!event || !data) return;
    const now = performance.now();
    if (event === 'job') {
      const job = JSON.parse(data) as { id: number; status: string } & Partial<Record<keyof JobStamps, string>>;
      if (job.status === 'printed' && !this.printedAt.has(job.id)) {
        if (job.createdAt && job.sentAt && job.receivedAt && job.printedAt)
          this.stamps.set(job.id, {
            createdAt: Date.parse(job.createdAt),
            sentAt: Date.parse(job.sentAt),
            receivedAt: Date.parse(job.receivedAt),
            printedAt: Date.parse(job.printedAt),
          });
        this.printedAt.set(job.id, now);
        this.waiters.get(job.id)?.();
        this.waiters.delete(job.id);
      }
    } else if (event === 'printer') {
      const printer = JSON.parse(data) as { id: string; state: string };
      if (printer.state === 'online') {
        this.online.add(printer.id);
        if (!this.onlineAt.has(printer.id)) this.onlineAt.set(printer.id, now);
      } else this.online.delete(printer.id);
      for (const w of this.printerWaiters.splice(0)) w();
    }
  }

  printed(id: number): Promise<number> {
    const at = this.printedAt.get(id);
    if (at !== undefined) return Promise.resolve(at);
    return new Promise((resolve) => this.waiters.set(id, () => resolve(this.printedAt.get(id)!)));
  }

  async allOnline(ids: string[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // A printer that came online before this stream was open sent its event to nobody: ask once.
    await this.ready;
    const now = Date.now();
    for (const printer of await this.printers()) {
      if (printer.state === 'online' && !this.online.has(printer.id)) {
        this.online.add(printer.id);
        this.onlineAt.set(printer.id, now);
      }
    }
    while (!ids.every((id) => this.online.has(id))) {
      if (Date.now() > deadline)
        throw new Error(
          `printers not online after ${timeoutMs} ms: ${ids
            .filter((id) => !this.online.has(id))
            .slice(0, 5)
            .join(', ')}…`,
        );
      await Promise.race([new Promise<void>((resolve) => this.printerWaiters.push(resolve)), sleep(200)]);
    }
  }

  close(): void {
    this.req.destroy();
  }

  private printers(): Promise<Array<{ id: string; state: string }>> {
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: this.port, path: '/printers' }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => {
            try {
              resolve(res.statusCode === 200 ? (JSON.parse(body) as Array<{ id: string; state: string }>) : []);
            } catch (err) {
              reject(err as Error);
            }
          });
        })
        .on('error', reject);
    });
  }
}

// ---------- agents ----------

interface Agents {
  printerIds: string[];
  paperDir: string;
  children: ChildProcess[];
}

function startAgents(
  server: Server,
  printerIds: string[],
  mqttUrl = server.wsUrl,
  extraEnv: NodeJS.ProcessEnv = {},
  options: LaunchOptions = {},
): Agents {
  const paperDir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-bench-paper-'));
  const agentChildren = printerIds.map((printerId) =>
    track(
      launch(
        'agent/main.ts',
        {
          MQTT_URL: mqttUrl,
          PRINTER_ID: printerId,
          MQTT_PASSWORD: readTokens(server.dataDir).credentialsFor({ kind: 'printer', printerId }).password,
          PRINTER: `file:${path.join(paperDir, `${printerId}.prn`)}`,
          AGENT_DATA_DIR: path.join(paperDir, `journal-${printerId}`),
          RECONNECT_MIN_MS: '100',
          ...extraEnv,
        },
        options,
      ),
      `agent ${printerId}`,
    ),
  );
  return { printerIds, paperDir, children: agentChildren };
}

async function stopAgents(agents: Agents): Promise<void> {
  await Promise.all(agents.children.map(stopChild));
  fs.rmSync(agents.paperDir, { recursive: true, force: true });
}

/** The baseline's agents (bench/baseline/agent.ts) on the server's MQTT port, as the baseline's own connect. */
function startBaselineAgents(server: Server, printerIds: string[]): Agents {
  const paperDir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-bench-paper-'));
  const agentChildren = printerIds.map((printerId) =>
    track(
      launch('bench/baseline/agent.ts', {
        MQTT_URL: server.brokerUrl,
        PRINTER_ID: printerId,
        PRINTER_FILE: path.join(paperDir, `${printerId}.prn`),
      }),
      `baseline agent ${printerId}`,
    ),
  );
  return { printerIds, paperDir, children: agentChildren };
}

/** The frame alone's agents (bench/floor/agent.ts), with or without DESIGN's journal syncs (FLOOR_SYNCS). */
function startFloorAgents(server: Server, printerIds: string[], transport: 'ws' | 'tcp', syncs: boolean): Agents {
  const paperDir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-bench-paper-'));
  const agentChildren = printerIds.map((printerId) =>
    track(
      launch('bench/floor/agent.ts', {
        MQTT_URL: transport === 'ws' ? server.wsUrl : server.brokerUrl,
        PRINTER_ID: printerId,
        PRINTER_FILE: path.join(paperDir, `${printerId}.prn`),
        JOURNAL_FILE: path.join(paperDir, `${printerId}.journal`),
        FLOOR_SYNCS: syncs ? '1' : '0',
      }),
      `floor agent ${printerId}`,
    ),
  );
  return { printerIds, paperDir, children: agentChildren };
}

// ---------- exactly-once check ----------

const marker = (scenario: string, n: number) => `bench ${scenario} #${n}`;

/**
 * From the database and the paper: every posted job printed, exactly once; returns the paper order per printer.
 * A server without a database (the frame alone, bench/floor/) is checked on its `printed` events instead.
 */
async function checkExactlyOnce(
  server: Server,
  paperDir: string,
  scenario: string,
  posted: Map<number, string>,
): Promise<Map<string, number[]>> {
  const file = path.join(server.dataDir, 'printhop.sqlite');
  let status: Map<number, string>;
  if (fs.existsSync(file)) {
    const db = new sqlite3.Database(file, sqlite3.OPEN_READONLY);
    const rows = await new Promise<Array<{ id: number; status: string }>>((resolve, reject) =>
      db.all('SELECT id, status FROM print_jobs', (err, r) =>
        err ? reject(err) : resolve(r as Array<{ id: number; status: string }>),
      ),
    );
    db.close();
    status = new Map(rows.map((r) => [r.id, r.status]));
  } else status = new Map([...server.events.printedAt.keys()].map((id) => [id, 'printed']));
  const problems: string[] = [];
  for (const id of posted.keys())
    if (status.get(id) !== 'printed') problems.push(`job ${id} is ${status.get(id) ?? 'missing'} in the database`);

  const contentToId = new Map([...posted].map(([id, content]) => [content, id]));
  const seen = new Map<number, number>();
  const order = new Map<string, number[]>();
  for (const file of fs.readdirSync(paperDir).filter((f) => f.endsWith('.prn'))) {
    const decoded = decodeEscPos(fs.readFileSync(path.join(paperDir, file)));
    if (decoded.unexpected.length)
      problems.push(`${file}: unexpected bytes ${decoded.unexpected.slice(0, 3).join(', ')}`);
    const ids: number[] = [];
    for (const receipt of decoded.receipts) {
      const line = receipt.lines.find((l) => l.startsWith(`bench ${scenario} #`));
      const id = line ? contentToId.get(line) : undefined;
      if (id === undefined) continue;
      seen.set(id, (seen.get(id) ?? 0) + 1);
      ids.push(id);
    }
    order.set(file.replace(/\.prn$/, ''), ids);
  }
  for (const id of posted.keys()) {
    const n = seen.get(id) ?? 0;
    if (n !== 1) problems.push(`job ${id} is on paper ${n} times`);
  }
  if (problems.length)
    throw new Error(
      `${scenario}: exactly-once check failed (${problems.length} problems): ${problems.slice(0, 10).join('; ')}`,
    );
  return order;
}

// ---------- figures ----------

interface Figure {
  scenario: string;
  metric: string;
  value: number;
  unit: string;
  target: string;
  met: boolean | null;
}
const figures: Figure[] = [];
function figure(
  scenario: string,
  metric: string,
  value: number,
  unit: string,
  target?: { op: '<=' | '>='; value: number },
): void {
  const met = target ? (target.op === '<=' ? value <= target.value : value >= target.value) : null;
  figures.push({
    scenario,
    metric,
    value: Math.round(value * 100) / 100,
    unit,
    target: target ? `${target.op} ${target.value} ${unit}` : '',
    met,
  });
  console.error(
    `  ${scenario} ${metric}: ${value.toFixed(2)} ${unit}${target ? ` (target ${target.op} ${target.value})` : ''}`,
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runPool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

// ---------- scenarios ----------

/** What the comparisons of the table are made of, filled by the scenarios that ran. */
const results: {
  latency?: { p50: number; p99: number };
  throughput?: number;
  throughputTcp?: number;
  /** The throughput scenario's second half (V8 warmed up in every process). */
  throughputSecondHalf?: number;
  /** The frame alone's rates (bench/floor/), whole run and second half, by variant. */
  floor?: Record<string, { printed: number; secondHalf: number }>;
  start?: { p50: number; p99: number; accepted: number; printed: number };
} = {};

/**
 * A job's times as its `printed` event gives them (epoch ms, millisecond resolution): the server's when it
 * took the POST and when it published the job, the agent's when it recorded `received` and `printed` in its
 * journal (each before that line's sync). The agents run on this machine: one clock.
 */
interface JobStamps {
  createdAt: number;
  sentAt: number;
  receivedAt: number;
  printedAt: number;
}

/** Where each lone job's time went, stage by stage (ms); the means are reported (the stamps are whole ms). */
interface LatencyStages {
  rows: Array<{ posted: number; answered: number; event: number; stamps: JobStamps }>;
}

/**
 * One client, one job at a time: POST, then wait for its `printed` event on the shared event stream. With
 * `stages`, each job's time is also split at its 201 and at its `received` event (the baseline sends none).
 */
async function sequentialLatency(
  server: Server,
  label: string,
  count: number,
  printerId: string | undefined,
  posted: Map<number, string>,
  offset = 0,
  stages?: LatencyStages,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = offset; i < offset + count; i++) {
    const content = marker(label, i);
    const t0 = performance.now();
    const id = await postJob(server, content, printerId);
    const answeredAt = performance.now();
    posted.set(id, content);
    const printedAt = await server.events.printed(id);
    times.push(printedAt - t0);
    const stamps = server.events.stamps.get(id);
    if (stages && stamps) {
      const epoch = (t: number) => performance.timeOrigin + t;
      stages.rows.push({ posted: epoch(t0), answered: epoch(answeredAt), event: epoch(printedAt), stamps });
    }
  }
  return times.sort((a, b) => a - b);
}

/** The trimmed mean of each stage of a lone job (figures of `label`): where the paired latency goes. */
function stageFigures(label: string, stages: LatencyStages): void {
  const { rows } = stages;
  if (rows.length === 0) return;
  // The stamps are whole milliseconds, so a median would round each stage to 0 or 1: the mean of the middle
  // 90 % (a trimmed mean) keeps the fractions and leaves out the slowest and fastest 5 % of jobs.
  const mean = (f: (r: (typeof rows)[number]) => number) => {
    const xs = rows.map(f).sort((a, b) => a - b);
    const middle = xs.slice(Math.floor(xs.length * 0.05), Math.ceil(xs.length * 0.95));
    return middle.reduce((sum, x) => sum + x, 0) / middle.length;
  };
  const stage = (name: string, f: (r: (typeof rows)[number]) => number) =>
    figure(label, `mean stage: ${name}`, Math.round(mean(f) * 100) / 100, 'ms');
  stage('POST → 201 at the client (parse, insert, commit, answer)', (r) => r.answered - r.posted);
  stage('POST → job stamped created (server)', (r) => r.stamps.createdAt - r.posted);
  stage('created → published (server: commit, publish)', (r) => r.stamps.sentAt - r.stamps.createdAt);
  stage('published → agent recorded received (delivery, parse)', (r) => r.stamps.receivedAt - r.stamps.sentAt);
  stage('received → agent recorded printed (sync, acks, bytes)', (r) => r.stamps.printedAt - r.stamps.receivedAt);
  stage('printed → printed event at the client (sync, ack, apply, stream)', (r) => r.event - r.stamps.printedAt);
}

/**
 * How many of `ids` were printed in each second from `t0` (the load's start): the run's ramp as every process
 * warms up (V8 compiles each one's hot code in its first thousands of jobs), then its steady rate, then its tail.
 */
function perSecond(ids: number[], printedAt: ReadonlyMap<number, number>, t0: number): string {
  const counts: number[] = [];
  for (const id of ids) {
    const at = printedAt.get(id);
    if (at === undefined) continue;
    const second = Math.floor((at - t0) / 1000);
    while (counts.length <= second) counts.push(0);
    counts[second]!++;
  }
  return counts.join(' ');
}

/** `clients` posting `count` jobs as fast as they are answered: accepted (201) and printed rates, in jobs/s. */
async function loadRun(
  server: Server,
  label: string,
  count: number,
  clients: number,
  printerIds: Array<string | undefined>,
  posted: Map<number, string>,
  offset = 0,
  /** Called as the run's second half starts (its first job posted): where warmed-up meters start. */
  midway?: () => void,
  /** Jobs a second at most (`--pace`, the throughput loads): job i is posted no earlier than i / rate s in. */
  rate?: number,
): Promise<{ accepted: number; printed: number; secondHalf: { jobs: number; printed: number } }> {
  const t0 = performance.now();
  const half = Math.floor(count / 2);
  let tHalf = t0;
  const ids = await runPool(count, clients, async (i) => {
    if (rate) {
      const wait = t0 + (i / rate) * 1000 - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    if (i === half) {
      tHalf = performance.now();
      midway?.();
    }
    const content = marker(label, offset + i);
    const id = await postJob(server, content, printerIds[i % printerIds.length]);
    posted.set(id, content);
    return id;
  });
  const postedIn = performance.now() - t0;
  await Promise.all(ids.map((id) => server.events.printed(id)));
  const end = performance.now();
  console.error(`  ${label}: jobs printed in each second of the run: ${perSecond(ids, server.events.printedAt, t0)}`);
  return {
    accepted: (count / postedIn) * 1000,
    printed: (count / (end - t0)) * 1000,
    secondHalf: { jobs: count - half, printed: ((count - half) / (end - tHalf)) * 1000 },
  };
}

/** tcp: the agent on mqtt:// (as a Raspberry Pi's agent connects) instead of npm start's ws://…/mqtt. */
async function latency(transport: 'ws' | 'tcp' = 'ws'): Promise<void> {
  const label = transport === 'ws' ? 'latency' : 'latency-tcp';
  console.error(
    `${label}: 1 client, sequential, ${COUNTS.latency} jobs, agent over ${transport === 'ws' ? 'WebSocket' : 'MQTT on TCP'}`,
  );
  const server = await startServer(label, { PRINTERS: 'printer-1' });
  const agents = startAgents(server, ['printer-1'], transport === 'ws' ? server.wsUrl : server.brokerUrl);
  await server.events.allOnline(['printer-1'], 30_000);
  const posted = new Map<number, string>();
  const cpu = new CpuMeter([server.child?.pid]);
  const mainCpu = new CpuMeter([server.child?.pid], true);
  const agentCpu = new CpuMeter(agents.children.map((c) => c.pid));
  const stages: LatencyStages = { rows: [] };
  const half = Math.floor(COUNTS.latency / 2);
  const first = await sequentialLatency(server, label, half, 'printer-1', posted, 0, stages);
  // The second half's CPU: V8's compiler has mostly done its work by then (a job alone every few ms reaches its
  // budgets slowly), what a long-running server and agent cost a lone job.
  const warmCpu = new CpuMeter([server.child?.pid]);
  const warmAgentCpu = new CpuMeter(agents.children.map((c) => c.pid));
  const second = await sequentialLatency(server, label, COUNTS.latency - half, 'printer-1', posted, half, stages);
  figure(label, 'second half: server CPU per job', warmCpu.perJob(COUNTS.latency - half), 'ms');
  figure(label, 'second half: agent CPU per job', warmAgentCpu.perJob(COUNTS.latency - half), 'ms');
  const sorted = [...first, ...second].sort((a, b) => a - b);
  const serverCpu = cpu.perJob(COUNTS.latency);
  const serverMain = mainCpu.perJob(COUNTS.latency);
  figure(label, 'server CPU per job', serverCpu, 'ms');
  // The other threads: sqlite3's statements and commits on libuv's pool, and V8's optimising compiler, which
  // goes on compiling for the first thousands of lone jobs (a job every few ms reaches its budgets slowly).
  figure(label, 'server CPU per job: main thread (the event loop)', serverMain, 'ms');
  figure(label, "server CPU per job: other threads (libuv's pool, V8's compiler and GC)", serverCpu - serverMain, 'ms');
  figure(label, 'agent CPU per job', agentCpu.perJob(COUNTS.latency), 'ms');
  await checkExactlyOnce(server, agents.paperDir, label, posted);
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  if (transport === 'ws') results.latency = { p50, p99 };
  figure(label, 'p50 POST→printed stored', p50, 'ms', { op: '<=', value: 2 });
  figure(label, 'p99 POST→printed stored', p99, 'ms', { op: '<=', value: 8 });
  stageFigures(label, stages);
  if (transport === 'tcp' && results.latency)
    figure(label, 'p50 / WebSocket p50 (same run)', p50 / results.latency.p50, 'x');
  await stopAgents(agents);
  await stopServer(server);
}

/**
 * The throughput load's second half: by then each process has run its code thousands of times, so V8's optimising
 * compiler has done most of its work (during an agent's first 2,000 jobs its compiling threads add about 0.2 ms a
 * job: docs/performance.md, stop 31). What a long-running server and agent cost, beside the whole run's figures.
 */
class WarmMeters {
  private meters: { server: CpuMeter; agents: CpuMeter; machine: MachineCpuMeter } | null = null;
  constructor(
    private readonly server: Server,
    private readonly agents: { children: Array<{ pid?: number }> },
  ) {}
  start(): void {
    this.meters = {
      server: new CpuMeter([this.server.child?.pid]),
      agents: new CpuMeter(this.agents.children.map((c) => c.pid)),
      machine: new MachineCpuMeter(),
    };
  }
  figures(label: string, { jobs, printed }: { jobs: number; printed: number }, prefix = ''): void {
    if (!this.meters) return;
    figure(label, `${prefix}second half: sustained POST→printed`, printed, 'jobs/s');
    figure(label, `${prefix}second half: server CPU per job`, this.meters.server.perJob(jobs), 'ms');
    figure(label, `${prefix}second half: agents CPU per job`, this.meters.agents.perJob(jobs), 'ms');
    figure(label, `${prefix}second half: machine CPU per job`, this.meters.machine.perJob(jobs), 'ms');
  }
}

/**
 * The throughput load on `server` and its `agents`, once they are online: its rates (whole run and second half) and the
 * machine's CPU a job, every job checked printed exactly once. `report`: each figure goes in the table too (the
 * `rounds` scenario reports its own).
 */
async function throughputRun(
  label: string,
  server: Server,
  agents: Agents,
  report = true,
): Promise<{ printed: number; secondHalf: number; machineMs: number }> {
  await server.events.allOnline(agents.printerIds, 60_000);
  const posted = new Map<number, string>();
  const cpu = new CpuMeter([server.child?.pid]);
  const mainCpu = new CpuMeter([server.child?.pid], true);
  const agentCpu = new CpuMeter(agents.children.map((c) => c.pid));
  const clientCpu = new OwnCpuMeter();
  const machineCpu = new MachineCpuMeter();
  const warm = new WarmMeters(server, agents);
  const { accepted, printed, secondHalf } = await loadRun(
    server,
    label,
    COUNTS.throughput,
    COUNTS.throughputClients,
    agents.printerIds,
    posted,
    0,
    () => warm.start(),
    pace,
  );
  const machineMs = machineCpu.perJob(COUNTS.throughput);
  if (report) {
    warm.figures(label, secondHalf);
    figure(label, 'server CPU per job', cpu.perJob(COUNTS.throughput), 'ms');
    figure(label, 'server CPU per job: main thread (the event loop)', mainCpu.perJob(COUNTS.throughput), 'ms');
    figure(label, 'agents CPU per job', agentCpu.perJob(COUNTS.throughput), 'ms');
    figure(
      label,
      'load generator CPU per job (the bench: clients, event stream)',
      clientCpu.perJob(COUNTS.throughput),
      'ms',
    );
    figure(label, 'machine CPU per job (every process and the kernel)', machineMs, 'ms');
  }
  await checkExactlyOnce(server, agents.paperDir, label, posted);
  if (report) figure(label, 'accepted (POST 201) rate', accepted, 'jobs/s');
  return { printed, secondHalf: secondHalf.printed, machineMs };
}

/**
 * tcp: the agents on mqtt:// (as the baseline's agents connect, and a Raspberry Pi's agent can) instead of
 * npm start's ws://…/mqtt: the same load, to tell the WebSocket's share from the rest.
 */
async function throughput(transport: 'ws' | 'tcp' = 'ws'): Promise<void> {
  const label = transport === 'ws' ? 'throughput' : 'throughput-tcp';
  const printerIds = Array.from({ length: COUNTS.printers }, (_, i) => `bench-${i}`);
  console.error(
    `${label}: ${COUNTS.throughputClients} clients, ${COUNTS.printers} printers, ${COUNTS.throughput} jobs (embedded broker, agents over ${transport === 'ws' ? 'WebSocket' : 'MQTT on TCP'})`,
  );
  const server = await startServer(label, { PRINTERS: printerIds.join(',') });
  const agents = startAgents(server, printerIds, transport === 'ws' ? server.wsUrl : server.brokerUrl);
  const sampler = new RssSampler(() => [server.child?.pid]);
  const { printed: rate, secondHalf } = await throughputRun(label, server, agents);
  if (transport === 'ws') {
    results.throughput = rate;
    results.throughputSecondHalf = secondHalf;
  } else results.throughputTcp = rate;
  figure(label, 'sustained POST→printed', rate, 'jobs/s', { op: '>=', value: 3000 });
  figure(label, 'server RSS max', sampler.stop(), 'MB');
  if (transport === 'tcp' && results.throughput)
    figure(label, 'rate / WebSocket rate (same run)', rate / results.throughput, 'x');
  await stopAgents(agents);
  await stopServer(server);
}

/**
 * The frame alone (bench/floor/): Express, Aedes and mqtt.js sending DESIGN's messages for each job (the
 * PUBLISH, the `received` and `printed` acks, their PUBACKs, the 201, the `printed` event) and nothing else: no
 * database, no journal, no validation, under the throughput load. Its rate and CPU are what no job path that keeps
 * those parts can beat; with `baseline`, its ratio to the baseline is the most 2 × can be approached. Three
 * variants: agents on WebSocket (as Printhop's), on TCP (as the baseline's), and on WebSocket with the agent's
 * journal syncs (DESIGN's, in the cheapest form: one a job, and one shared by the jobs that arrive in a turn); a
 * fourth, `floor-durable`, adds the server's two commits (FLOOR_DURABLE=1: the INSERT before the `201`, the
 * UPDATE to `printed` before the event), each in a group commit.
 */
async function floor(): Promise<void> {
  const printerIds = Array.from({ length: COUNTS.printers }, (_, i) => `bench-${i}`);
  for (const variant of FLOOR_VARIANTS.filter((v) => !floorOnly || floorOnly.includes(v.label))) {
    const { label, transport, syncs } = variant;
    const durable = 'durable' in variant;
    console.error(
      `${label}: the frame alone (bench/floor/), ${COUNTS.throughputClients} clients, ${COUNTS.printers} printers, ${COUNTS.throughput} jobs, agents over ${transport === 'ws' ? 'WebSocket' : 'MQTT on TCP'}${syncs ? ", the agent's journal syncs (one a job, one a turn of arrivals)" : ''}${durable ? ", the server's two commits a job, grouped" : ''}`,
    );
    const server = await startServer(label, durable ? { FLOOR_DURABLE: '1' } : {}, 'bench/floor/server.ts');
    const agents = startFloorAgents(server, printerIds, transport, syncs);
    const { printed, secondHalf } = await throughputRun(label, server, agents);
    figure(label, 'sustained POST→printed', printed, 'jobs/s');
    results.floor = { ...results.floor, [label]: { printed, secondHalf } };
    if (results.throughput && label === 'floor')
      figure(label, 'Printhop throughput / the frame alone (same run)', results.throughput / printed, 'x');
    await stopAgents(agents);
    await stopServer(server);
  }
}

/**
 * What a user of `npm start` sees: start-all launched as `npm start` launches it (the server and its one agent
 * as its children, LOG_LEVEL left at its default, info, with stdout drained as a log file would take it; the
 * `file:` printer in DATA_DIR), driven like the independent client bench/user-client.ts: jobs posted without a
 * printer id, latency from the POST to the `printed` event on GET /jobs/events, then a load on the one printer.
 */
async function asNpmStart(): Promise<void> {
  console.error(
    `start: as npm start (server + 1 agent, LOG_LEVEL=info): ${COUNTS.latency} sequential jobs, then ${COUNTS.single} from ${COUNTS.singleClients} clients`,
  );
  const server = await startServer('start', {}, 'broker-server/start-all.ts', { logLevel: 'default' });
  await server.events.allOnline(['printer-1'], 30_000);
  const [serverPid, agentPid] = (() => {
    const kids = childPids(server.child?.pid);
    return [kids.find((pid) => !/agent/.test(commandLine(pid))), kids.find((pid) => /agent/.test(commandLine(pid)))];
  })();
  const posted = new Map<number, string>();
  const cpu = new CpuMeter([serverPid]);
  const agentCpu = new CpuMeter([agentPid]);
  const sorted = await sequentialLatency(server, 'start', COUNTS.latency, undefined, posted);
  figure('start', 'server CPU per job (sequential)', cpu.perJob(COUNTS.latency), 'ms');
  figure('start', 'agent CPU per job (sequential)', agentCpu.perJob(COUNTS.latency), 'ms');
  const p50 = percentile(sorted, 50);
  const p99 = percentile(sorted, 99);
  figure('start', 'p50 POST→printed event', p50, 'ms', { op: '<=', value: 2 });
  figure('start', 'p99 POST→printed event', p99, 'ms', { op: '<=', value: 8 });
  if (results.latency) figure('start', 'p50 / latency scenario p50 (same run)', p50 / results.latency.p50, 'x');
  const loadCpu = new CpuMeter([serverPid]);
  const loadAgentCpu = new CpuMeter([agentPid]);
  const { accepted, printed } = await loadRun(
    server,
    'start',
    COUNTS.single,
    COUNTS.singleClients,
    [undefined],
    posted,
    COUNTS.latency,
  );
  figure('start', 'server CPU per job (load)', loadCpu.perJob(COUNTS.single), 'ms');
  figure('start', 'agent CPU per job (load)', loadAgentCpu.perJob(COUNTS.single), 'ms');
  figure('start', `accepted (POST 201), ${COUNTS.singleClients} clients, 1 printer`, accepted, 'jobs/s');
  figure('start', 'printed, 1 printer (POST→last printed)', printed, 'jobs/s');
  await checkExactlyOnce(server, server.dataDir, 'start', posted);
  results.start = { p50, p99, accepted, printed };
  await stopServer(server);
}

/**
 * bench/baseline/: the same path written the straightforward way, under the same loads as `latency`, `start`'s
 * one-printer load and `throughput`, checked exactly-once the same way; the figures are ratios to Printhop's.
 */
async function baseline(): Promise<void> {
  console.error(`baseline: straightforward Express + SQLite + mqtt.js, the latency, one-printer and throughput loads`);
  const run = async (
    label: string,
    printerIds: string[],
    body: (server: Server, agents: Agents, posted: Map<number, string>) => Promise<void>,
  ) => {
    const server = await startServer(label, {}, 'bench/baseline/server.ts');
    const agents = startBaselineAgents(server, printerIds);
    // Ten agents started through tsx take long to come online on a loaded machine: the same wait as Printhop's throughput run.
    await server.events.allOnline(printerIds, 60_000);
    const posted = new Map<number, string>();
    await body(server, agents, posted);
    await checkExactlyOnce(server, agents.paperDir, label, posted);
    await stopAgents(agents);
    await stopServer(server);
  };
  // Paired: a Printhop server and agent (as in `latency`) run at the same time, and the one client alternates
  // its jobs between the two, so both see the same machine load; the ratio holds on a busy machine.
  await run('baseline-latency', ['printer-1'], async (server, _agents, posted) => {
    const printhop = await startServer('paired', { PRINTERS: 'printer-1' });
    const printhopAgents = startAgents(printhop, ['printer-1']);
    await printhop.events.allOnline(['printer-1'], 30_000);
    const printhopPosted = new Map<number, string>();
    const base: number[] = [];
    const ours: number[] = [];
    for (let i = 0; i < COUNTS.latency; i++) {
      base.push(...(await sequentialLatency(server, 'baseline-latency', 1, 'printer-1', posted, i)));
      ours.push(...(await sequentialLatency(printhop, 'paired', 1, 'printer-1', printhopPosted, i)));
    }
    await checkExactlyOnce(printhop, printhopAgents.paperDir, 'paired', printhopPosted);
    await stopAgents(printhopAgents);
    await stopServer(printhop);
    base.sort((a, b) => a - b);
    ours.sort((a, b) => a - b);
    const [p50, p99] = [percentile(base, 50), percentile(base, 99)];
    figure('baseline', 'p50 POST→printed event, 1 client', p50, 'ms');
    figure('baseline', 'p99 POST→printed event, 1 client', p99, 'ms');
    figure('baseline', 'paired Printhop p50 (jobs alternated)', percentile(ours, 50), 'ms');
    figure('baseline', 'paired Printhop p99', percentile(ours, 99), 'ms');
    figure('baseline', 'latency p50, paired: baseline / Printhop (× faster)', p50 / percentile(ours, 50), 'x');
    figure('baseline', 'latency p99, paired: baseline / Printhop', p99 / percentile(ours, 99), 'x');
  });
  await run('baseline-single', ['printer-1'], async (server, _agents, posted) => {
    const { accepted, printed } = await loadRun(
      server,
      'baseline-single',
      COUNTS.single,
      COUNTS.singleClients,
      ['printer-1'],
      posted,
    );
    figure('baseline', `accepted, ${COUNTS.singleClients} clients, 1 printer`, accepted, 'jobs/s');
    figure('baseline', 'printed, 1 printer', printed, 'jobs/s');
    if (results.start)
      figure('baseline', '1-printer printed rate: Printhop (start) / baseline', results.start.printed / printed, 'x');
  });
  const printerIds = Array.from({ length: COUNTS.printers }, (_, i) => `bench-${i}`);
  await run('baseline-throughput', printerIds, async (server, agents, posted) => {
    const cpu = new CpuMeter([server.child?.pid]);
    const mainCpu = new CpuMeter([server.child?.pid], true);
    const agentCpu = new CpuMeter(agents.children.map((c) => c.pid));
    const clientCpu = new OwnCpuMeter();
    const machineCpu = new MachineCpuMeter();
    const warm = new WarmMeters(server, agents);
    const { printed, secondHalf } = await loadRun(
      server,
      'baseline-throughput',
      COUNTS.throughput,
      COUNTS.throughputClients,
      printerIds,
      posted,
      0,
      () => warm.start(),
      pace,
    );
    figure('baseline', 'server CPU per job (throughput load)', cpu.perJob(COUNTS.throughput), 'ms');
    figure('baseline', 'server CPU per job: main thread (throughput load)', mainCpu.perJob(COUNTS.throughput), 'ms');
    figure('baseline', 'agents CPU per job (throughput load)', agentCpu.perJob(COUNTS.throughput), 'ms');
    figure('baseline', 'load generator CPU per job (throughput load)', clientCpu.perJob(COUNTS.throughput), 'ms');
    figure(
      'baseline',
      'machine CPU per job, every process and the kernel (throughput load)',
      machineCpu.perJob(COUNTS.throughput),
      'ms',
    );
    figure(
      'baseline',
      `sustained, ${COUNTS.throughputClients} clients, ${COUNTS.printers} printers`,
      printed,
      'jobs/s',
    );
    warm.figures('baseline', secondHalf, 'throughput, ');
    if (results.throughput) figure('baseline', 'throughput: Printhop / baseline', results.throughput / printed, 'x');
    if (results.throughputSecondHalf)
      figure(
        'baseline',
        'throughput, second half: Printhop / baseline',
        results.throughputSecondHalf / secondHalf.printed,
        'x',
      );
    if (results.throughputTcp)
      figure(
        'baseline',
        "throughput: Printhop with agents on TCP (as the baseline's) / baseline",
        results.throughputTcp / printed,
        'x',
      );
    for (const [label, rate] of Object.entries(results.floor ?? {})) {
      figure('baseline', `throughput: ${label} (the frame alone) / baseline`, rate.printed / printed, 'x');
      figure(
        'baseline',
        `throughput, second half: ${label} (the frame alone) / baseline`,
        rate.secondHalf / secondHalf.printed,
        'x',
      );
    }
  });
}

type RoundKind = 'printhop' | 'baseline' | 'floor-durable';

/**
 * The ratios the `rounds` scenario reports, each round's and their medians: Printhop's against the goal of 2 ×; the
 * frame's, how near 2 × DESIGN's syncs with the kept parts come; Printhop against the frame in the same round, what
 * Printhop's own code costs of the rate those syncs allow.
 */
const ROUND_RATIOS: ReadonlyArray<{ name: string; of: RoundKind; to: RoundKind; goal?: true; roundHalf?: true }> = [
  { name: 'Printhop / baseline', of: 'printhop', to: 'baseline', goal: true, roundHalf: true },
  { name: 'durable frame / baseline', of: 'floor-durable', to: 'baseline' },
  { name: 'Printhop / durable frame', of: 'printhop', to: 'floor-durable' },
];

type Rates = Awaited<ReturnType<typeof throughputRun>>;

/**
 * One throughput load on fresh processes, reporting nothing (`throughputRun`): Printhop's (server and agents from
 * `launch`, agents on ws://, as `throughput`), the baseline's (as `baseline`) or the durable frame's (as `floor`'s
 * `floor-durable`).
 */
async function throughputOnce(kind: RoundKind, label: string): Promise<Rates> {
  const printerIds = Array.from({ length: COUNTS.printers }, (_, i) => `bench-${i}`);
  const server =
    kind === 'printhop'
      ? await startServer(label, { PRINTERS: printerIds.join(',') })
      : kind === 'baseline'
        ? await startServer(label, {}, 'bench/baseline/server.ts')
        : await startServer(label, { FLOOR_DURABLE: '1' }, 'bench/floor/server.ts');
  const agents =
    kind === 'printhop'
      ? startAgents(server, printerIds)
      : kind === 'baseline'
        ? startBaselineAgents(server, printerIds)
        : startFloorAgents(server, printerIds, 'ws', true);
  try {
    return await throughputRun(label, server, agents, false);
  } finally {
    await stopAgents(agents);
    await stopServer(server);
  }
}

/**
 * Printhop's throughput load, the baseline's and the durable frame's (DESIGN's syncs with nothing else: `floor`),
 * one after the other, ROUNDS times (`--rounds=N`, 3 unless given), the order turned each round: each round's
 * ROUND_RATIOS and their medians. Here rates move by a quarter from one minute to the next, and not together:
 * Printhop's and the frame's are bound by the CPU, the baseline's by its syncs' wait on the disk. The `throughput`
 * and `baseline` scenarios run minutes apart; ratios of loads a minute apart, taken again and again, say more.
 */
async function rounds(): Promise<void> {
  const kinds: RoundKind[] = ['printhop', 'baseline', 'floor-durable'];
  console.error(
    `rounds: the throughput load (${COUNTS.throughputClients} clients, ${COUNTS.printers} printers, ${COUNTS.throughput} jobs) on Printhop, the baseline and the durable frame, ${ROUNDS} round(s), the order turned each round`,
  );
  const runs: Array<Record<RoundKind, Rates>> = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = kinds.map((_, i) => kinds[(i + round - 1) % kinds.length]!);
    const rates: Partial<Record<RoundKind, Rates>> = {};
    for (const kind of order) rates[kind] = await throughputOnce(kind, `rounds-${round}-${kind}`);
    const run = rates as Record<RoundKind, Rates>;
    runs.push(run);
    const said = (name: string, r: Rates) =>
      `${name} ${r.printed.toFixed(0)} jobs/s (second half ${r.secondHalf.toFixed(0)}, machine CPU ${r.machineMs.toFixed(2)} ms a job)`;
    console.error(
      `  round ${round} (${order.join(', ')}): ${said('Printhop', run.printhop)}, ${said('baseline', run.baseline)}, ${said('durable frame', run['floor-durable'])}`,
    );
    for (const { name, of, to, roundHalf } of ROUND_RATIOS) {
      figure('rounds', `round ${round}: ${name}`, run[of].printed / run[to].printed, 'x');
      if (roundHalf)
        figure('rounds', `round ${round}: ${name}, second half`, run[of].secondHalf / run[to].secondHalf, 'x');
    }
  }
  // The nearest-rank median: of an even number of rounds, the lower middle one.
  const median = (values: number[]) => percentileOf(values, 50);
  const over = `median of ${ROUNDS} round(s)`;
  for (const { name, of, to, goal } of ROUND_RATIOS) {
    const target = goal ? { op: '>=' as const, value: 2 } : undefined;
    figure(
      'rounds',
      `throughput, ${name}: ${over}`,
      median(runs.map((r) => r[of].printed / r[to].printed)),
      'x',
      target,
    );
    figure(
      'rounds',
      `throughput, second half: ${name}: ${over}`,
      median(runs.map((r) => r[of].secondHalf / r[to].secondHalf)),
      'x',
      target,
    );
  }
}

/**
 * Is "paired p50 ≤ the baseline's" reachable with the parts issue 22 keeps and DESIGN's syncs? One client, one
 * job at a time, each round one job to each of six servers running at once, in an order shuffled per round
 * (bench/floor/paired.ts): Printhop (server + 1 agent on ws://, as `latency`), the baseline (as `baseline`),
 * the frame alone (no disk), the frame with the agent's two `fdatasync`s a job, and the durable frame (the frame's
 * server with DESIGN's two server-side commits, FLOOR_DURABLE=1, and the agent's syncs), on ws:// and, to tell the
 * WebSocket's share, on mqtt:// (as the baseline's agent connects). Each one's p50 and p99, its p50 / the
 * baseline's p50, the median of its round-by-round difference to the baseline, and CPU per job.
 */
async function floorLatency(): Promise<void> {
  const started = performance.now();
  const systems = [
    { label: 'floor-latency-printhop', name: 'Printhop', kind: 'printhop' },
    { label: 'floor-latency-baseline', name: 'baseline', kind: 'baseline' },
    { label: 'floor-latency-frame', name: 'frame alone (no disk)', kind: 'frame' },
    { label: 'floor-latency-syncs', name: "frame + agent's 2 fdatasyncs", kind: 'syncs' },
    {
      label: 'floor-latency-durable',
      name: "durable frame (server's 2 commits, agent's 2 fdatasyncs)",
      kind: 'durable',
    },
    {
      label: 'floor-latency-durable-tcp',
      name: "durable frame, agent on mqtt:// (TCP, as the baseline's)",
      kind: 'durable-tcp',
    },
  ] as const;
  console.error(
    `floor-latency: 1 client, ${COUNTS.latency} jobs to each of ${systems.length} servers running at once, alternated: ${systems.map((s) => s.name).join(', ')}`,
  );
  const running = await Promise.all(
    systems.map(async (system) => {
      const { label, kind } = system;
      const server =
        kind === 'printhop'
          ? await startServer(label, { PRINTERS: 'printer-1' })
          : kind === 'baseline'
            ? await startServer(label, {}, 'bench/baseline/server.ts')
            : await startServer(
                label,
                kind === 'durable' || kind === 'durable-tcp' ? { FLOOR_DURABLE: '1' } : {},
                'bench/floor/server.ts',
              );
      const agents =
        kind === 'printhop'
          ? startAgents(server, ['printer-1'])
          : kind === 'baseline'
            ? startBaselineAgents(server, ['printer-1'])
            : startFloorAgents(server, ['printer-1'], kind === 'durable-tcp' ? 'tcp' : 'ws', kind !== 'frame');
      await server.events.allOnline(['printer-1'], 60_000);
      return { ...system, server, agents, posted: new Map<number, string>(), times: [] as number[] };
    }),
  );
  const setUp = performance.now() - started;
  const cpu = running.map(
    (s) => [new CpuMeter([s.server.child?.pid]), new CpuMeter(s.agents.children.map((c) => c.pid))] as const,
  );
  const orders = roundOrders(running.length, COUNTS.latency);
  for (let round = 0; round < orders.length; round++)
    for (const i of orders[round]!) {
      const s = running[i]!;
      s.times.push(...(await sequentialLatency(s.server, s.label, 1, 'printer-1', s.posted, round)));
    }
  const base = running.find((s) => s.kind === 'baseline')!;
  const sortedTimes = new Map(running.map((s) => [s, [...s.times].sort((a, b) => a - b)]));
  const baseSorted = sortedTimes.get(base)!;
  const [baseP10, baseP50] = [percentile(baseSorted, 10), percentile(baseSorted, 50)];
  for (const [i, s] of running.entries()) {
    const sorted = sortedTimes.get(s)!;
    // The fastest tenth: the rounds in which no wake-up waited long for a core, nearest to a quiet machine.
    figure('floor-latency', `${s.name}: p10 POST→printed event`, percentile(sorted, 10), 'ms');
    figure('floor-latency', `${s.name}: p50 POST→printed event`, percentile(sorted, 50), 'ms');
    figure('floor-latency', `${s.name}: p99 POST→printed event`, percentile(sorted, 99), 'ms');
    figure('floor-latency', `${s.name}: server CPU per job`, cpu[i]![0].perJob(COUNTS.latency), 'ms');
    figure('floor-latency', `${s.name}: agent CPU per job`, cpu[i]![1].perJob(COUNTS.latency), 'ms');
    if (s !== base) {
      figure('floor-latency', `${s.name}: p50 / baseline p50 (same run)`, percentile(sorted, 50) / baseP50, 'x');
      figure('floor-latency', `${s.name}: p10 / baseline p10 (same run)`, percentile(sorted, 10) / baseP10, 'x');
      figure(
        'floor-latency',
        `${s.name}: median of its round-by-round difference to the baseline`,
        medianDifference(s.times, base.times),
        'ms',
      );
    }
  }
  const printhop = running.find((s) => s.kind === 'printhop')!;
  const durable = running.find((s) => s.kind === 'durable')!;
  figure(
    'floor-latency',
    "Printhop's own share: median of its round-by-round difference to the durable frame",
    medianDifference(printhop.times, durable.times),
    'ms',
  );
  for (const s of running) await checkExactlyOnce(s.server, s.agents.paperDir, s.label, s.posted);
  await Promise.all(running.map((s) => stopAgents(s.agents)));
  await Promise.all(running.map((s) => stopServer(s.server)));
  figure('floor-latency', `set-up (${running.length} servers and agents online)`, setUp / 1000, 's');
  figure('floor-latency', 'scenario wall time (set-up, jobs, checks, stop)', (performance.now() - started) / 1000, 's');
}

async function external(): Promise<void> {
  const embeddedRate = results.throughput ?? null;
  let mosquitto: string;
  try {
    mosquitto = execFileSync('sh', ['-c', 'command -v mosquitto || ls /usr/sbin/mosquitto'], { encoding: 'utf8' })
      .trim()
      .split('\n')[0]!;
  } catch {
    console.error('external: mosquitto is not installed (apt-get install mosquitto); skipped');
    return;
  }
  const printerIds = Array.from({ length: COUNTS.printers }, (_, i) => `bench-${i}`);
  console.error(`throughput: same load through an external Mosquitto broker`);
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-bench-mosquitto-'));
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\nmax_inflight_messages 0\n`,
  );
  const broker = track(spawn(mosquitto, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] }), 'mosquitto');
  await sleep(300);
  const brokerUrl = `mqtt://127.0.0.1:${port}`;
  const server = await startServer('external', {
    PRINTERS: printerIds.join(','),
    MQTT_URL: brokerUrl,
    MQTT_PORT: '-1',
  });
  const agents = startAgents(server, printerIds, brokerUrl);
  const { printed: rate } = await throughputRun('external', server, agents);
  figure('external', 'sustained POST→printed (Mosquitto)', rate, 'jobs/s');
  if (embeddedRate) figure('external', 'embedded / external ratio', embeddedRate / rate, 'x');
  await stopAgents(agents);
  await stopServer(server);
  await stopChild(broker);
  fs.rmSync(dir, { recursive: true, force: true });
}

async function fleet(): Promise<void> {
  const perProcess = 250;
  const processes = Math.ceil(COUNTS.fleet / perProcess);
  console.error(`fleet: ${COUNTS.fleet} agents over WebSocket (${processes} processes), one job each`);
  const groups = Array.from({ length: processes }, (_, p) => ({
    prefix: `fleet${p}`,
    count: Math.min(perProcess, COUNTS.fleet - p * perProcess),
  }));
  const printerIds = groups.flatMap(({ prefix, count }) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`));
  // Every printer has its own token, so every one is configured.
  const server = await startServer('fleet', { PRINTERS: printerIds.join(',') });
  const paperDir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-bench-fleet-'));
  const fleetChildren = groups.map(({ prefix, count }, p) =>
    track(
      launch(
        'bench/fleet.ts',
        {
          FLEET_PREFIX: prefix,
          FLEET_COUNT: String(count),
          FLEET_DIR: paperDir,
          FLEET_TOKENS_DIR: server.dataDir,
          MQTT_URL: server.wsUrl,
          RECONNECT_MIN_MS: '500',
          RECONNECT_MAX_MS: '5000',
        },
        { ipc: true },
      ),
      `fleet ${p}`,
    ),
  );
  await server.events.allOnline(printerIds, 120_000);
  const sampler = new RssSampler(() => [server.child?.pid]);
  const posted = new Map<number, string>();
  const times = await runPool(printerIds.length, 64, async (i) => {
    const content = marker('fleet', i);
    const t0 = performance.now();
    const id = await postJob(server, content, printerIds[i]!);
    posted.set(id, content);
    return (await server.events.printed(id)) - t0;
  });
  await checkExactlyOnce(server, paperDir, 'fleet', posted);
  const sorted = times.sort((a, b) => a - b);
  figure('fleet', 'p50 delivery POST→printed', percentile(sorted, 50), 'ms');
  figure('fleet', 'p99 delivery POST→printed', percentile(sorted, 99), 'ms', { op: '<=', value: 50 });
  figure('fleet', `server RSS max (${COUNTS.fleet} agents)`, Math.max(sampler.stop(), rssMb(server.child?.pid)), 'MB', {
    op: '<=',
    value: 300,
  });
  await Promise.all(fleetChildren.map(stopChild));
  fs.rmSync(paperDir, { recursive: true, force: true });
  await stopServer(server);
}

/** The values of one counter of the server's GET /metrics (Prometheus text), by the value of one of its labels. */
async function metricValues(server: Server, name: string, label: string): Promise<Map<string, number>> {
  const res = await request(server.agent, server.port, 'GET', '/metrics');
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  const values = new Map<string, number>();
  const line = new RegExp(`^${name}\\{[^}]*\\b${label}="([^"]*)"[^}]*\\} (\\S+)$`);
  for (const text of res.body.split('\n')) {
    const m = line.exec(text);
    if (m) values.set(m[1]!, (values.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return values;
}

async function catchUp(): Promise<void> {
  console.error(`catch-up: ${COUNTS.catchUp} jobs queued for an offline printer, then it connects`);
  const server = await startServer('catchup', { PRINTERS: 'catchup-1' });
  const posted = new Map<number, string>();
  const ids = await runPool(COUNTS.catchUp, 16, async (i) => {
    const content = marker('catchup', i);
    const id = await postJob(server, content, 'catchup-1');
    posted.set(id, content);
    return id;
  });
  const t0 = performance.now();
  const cpu = new CpuMeter([server.child?.pid]);
  const agents = startAgents(server, ['catchup-1']);
  const agentCpu = new CpuMeter(agents.children.map((c) => c.pid));
  await Promise.all(ids.map((id) => server.events.printed(id)));
  const elapsed = (performance.now() - t0) / 1000;
  // CPU per job of the catch-up itself (the agent's includes its start): what holds up on a loaded machine.
  figure('catch-up', 'server CPU per job', cpu.perJob(COUNTS.catchUp), 'ms');
  figure('catch-up', 'agent CPU per job', agentCpu.perJob(COUNTS.catchUp), 'ms');
  // A job sent to the agent again is answered again from its journal, and the server ignores that answer: the
  // ignored acks count the catch-up's duplicate deliveries (79,109 of them in one run before stop 30's fix).
  const acks = await metricValues(server, 'printhop_acks_total', 'result');
  figure('catch-up', 'acks applied per job', (acks.get('applied') ?? 0) / COUNTS.catchUp, '');
  figure('catch-up', 'acks ignored per job (duplicate deliveries)', (acks.get('ignored') ?? 0) / COUNTS.catchUp, '');
  const order = await checkExactlyOnce(server, agents.paperDir, 'catchup', posted);
  const paper = order.get('catchup-1') ?? [];
  const inOrder = paper.every((id, i) => i === 0 || id > paper[i - 1]!);
  if (!inOrder) throw new Error('catch-up: jobs were printed out of order');
  figure('catch-up', `all ${COUNTS.catchUp} printed in order, from agent start`, elapsed, 's', { op: '<=', value: 5 });
  await stopAgents(agents);
  await stopServer(server);
}

/**
 * Issue 20, finding 2: replays of GET /jobs/events from event 0 over jobs whose content JSON-escapes to ~24 KB
 * ("a" + 3,999 × U+0001), by 10 clients at once that never read, then by 10 that read everything: the server's
 * resident memory and /healthz's latency meanwhile.
 */
async function replay(): Promise<void> {
  const jobs = smoke ? 100 : 300;
  console.error(`replay: ${jobs} jobs of ~24 KB JSON, 10 replays from event 0 that never read, then 10 that read`);
  // Both rounds of ten from one address: a burst of 20 replays (the default allows 10 at once).
  const server = await startServer('replay', { EVENT_REPLAY_BURST: '20' });
  const content = 'a' + '\u0001'.repeat(3999);
  await runPool(jobs, 8, () => postJob(server, content, undefined));
  await sleep(500);
  const pid = server.child!.pid;
  const healthDuring = async (busy: () => boolean): Promise<number[]> => {
    const times: number[] = [];
    while (busy() || times.length < 20) {
      const t0 = performance.now();
      await request(server.agent, server.port, 'GET', '/healthz');
      times.push(performance.now() - t0);
      await sleep(20);
      if (times.length >= 400) break;
    }
    return times.sort((a, b) => a - b);
  };
  const open = (read: boolean) => {
    const socket = net.connect(server.port, '127.0.0.1');
    let bytes = 0;
    let ended = false;
    if (read) socket.on('data', (d: Buffer) => (bytes += d.length));
    else socket.pause();
    socket.on('close', () => (ended = true));
    socket.write(`GET /jobs/events HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: 0\r\n\r\n`);
    return { socket, bytes: () => bytes, ended: () => ended };
  };

  const before = rssMb(pid);
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 50);
  const idle = Array.from({ length: 10 }, () => open(false));
  const idleStart = performance.now();
  const quietTimes = await healthDuring(() => performance.now() - idleStart < 5000);
  clearInterval(sampler);
  figure('replay', 'RSS growth, 10 non-reading replays from 0', peak - before, 'MB', { op: '<=', value: 100 });
  figure('replay', '/healthz p95 during 10 non-reading replays', percentile(quietTimes, 95), 'ms', {
    op: '<=',
    value: 200,
  });
  idle.forEach((c) => c.socket.destroy());
  await sleep(1000);

  // Readers: each gets the replay (up to EVENT_REPLAY_MAX_BYTES, then a resync) and stays live.
  const readers = Array.from({ length: 10 }, () => open(true));
  const cpuBefore = cpuMs(pid);
  let last = -1;
  let steady = 0;
  const readStart = performance.now();
  const readTimes = await healthDuring(() => {
    const total = readers.reduce((sum, r) => sum + r.bytes(), 0);
    steady = total === last ? steady + 1 : 0;
    last = total;
    return steady < 10 && performance.now() - readStart < 60_000;
  });
  const sent = readers.reduce((sum, r) => sum + r.bytes(), 0) / 10 / 1024 / 1024;
  figure('replay', 'bytes one replay sent (EVENT_REPLAY_MAX_BYTES caps it)', sent, 'MB');
  figure('replay', 'server CPU for 10 reading replays', (cpuMs(pid) - cpuBefore) / 1000, 's');
  figure('replay', '/healthz p95 during 10 reading replays', percentile(readTimes, 95), 'ms', { op: '<=', value: 200 });
  readers.forEach((r) => r.socket.destroy());
  await stopServer(server);
}

async function agent(): Promise<void> {
  console.error(`agent: one agent idle, then under a load of ${COUNTS.agentLoad} jobs`);
  const server = await startServer('agent', { PRINTERS: 'printer-1' });
  const t0 = performance.now();
  const agents = startAgents(server, ['printer-1']);
  await server.events.allOnline(['printer-1'], 30_000);
  figure('agent', 'start → subscribed and online', (server.events.onlineAt.get('printer-1')! - t0) / 1000, 's', {
    op: '<=',
    value: 1,
  });
  await sleep(2000);
  const pid = agents.children[0]!.pid;
  figure('agent', 'RSS idle', rssMb(pid), 'MB', { op: '<=', value: 60 });
  const sampler = new RssSampler(() => [pid]);
  const posted = new Map<number, string>();
  const ids = await runPool(COUNTS.agentLoad, 16, async (i) => {
    const content = marker('agent', i);
    const id = await postJob(server, content, 'printer-1');
    posted.set(id, content);
    return id;
  });
  await Promise.all(ids.map((id) => server.events.printed(id)));
  figure('agent', 'RSS max under load', sampler.stop(), 'MB', { op: '<=', value: 60 });
  await checkExactlyOnce(server, agents.paperDir, 'agent', posted);
  await stopAgents(agents);
  await stopServer(server);
}

// ---------- profiles ----------

/** After the run (the processes have written their profiles on exit): where each one's time went. */
async function summariseProfiles(dir: string): Promise<void> {
  await sleep(500);
  console.log(`\nCPU profiles in ${dir} (npx tsx bench/profile-summary.ts FILE [N] for more lines):`);
  for (const file of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort()) {
    const pid = Number(/^CPU\.\d+\.\d+\.(\d+)\./.exec(file)?.[1]);
    const summary = summariseProfile(path.join(dir, file), 6);
    console.log(`\n${file}: ${launched.get(pid) ?? 'unknown process'}, ${summary.split('\n').join('\n  ')}`);
  }
}

/**
 * The cost ledger (bench/cost-ledger.ts): where a job's CPU goes, stage by stage, in the server and in the agent,
 * for jobs one at a time, under load (16 clients) and per second of idling, with the system calls and wake-ups of
 * each. Two passes, each with its own server and agent running the build as production does (rebuilt with source
 * maps beside it, so that each profiled function is named by its source file): the first under V8's
 * CPU profiler, whose samples, cut out by each phase's time window, give each stage's share; the second
 * unprofiled (the profiler's own signals and thread would count), which gives the CPU, the wake-ups and, in a
 * repeat of each phase under `strace -c -f` when strace is installed, the system calls.
 */
type Side = 'server' | 'agent';
interface LedgerPhase {
  title: string;
  jobs: number;
  from: number;
  to: number;
  cpu: Record<Side, number>;
  switches: Record<Side, { voluntary: number; involuntary: number }>;
  syscalls?: Record<Side, Map<string, number>>;
  syscallJobs?: number;
}

const LEDGER_COUNTS = smoke
  ? { warmup: 10, alone: 30, load: 300, idleS: 2 }
  : { warmup: 200, alone: 300, load: 3000, idleS: 5 };

async function ledgerPass(profiles: string | null): Promise<{ phases: LedgerPhase[]; pids: Record<Side, number> }> {
  const counts = LEDGER_COUNTS;
  const cpuProf = profiles ? ['--cpu-prof', `--cpu-prof-dir=${profiles}`] : [];
  const server = await startServer('ledger', {}, 'broker-server/main.ts', { execArgv: cpuProf });
  const agents = startAgents(server, ['printer-1'], server.wsUrl, {}, { execArgv: cpuProf });
  await server.events.allOnline(['printer-1'], 60_000);
  const posted = new Map<number, string>();
  await sequentialLatency(server, 'ledger', counts.warmup, undefined, posted);
  const pids = { server: server.child!.pid!, agent: agents.children[0]!.pid! };
  const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
  let offset = counts.warmup;
  const runs: Record<string, (n: number) => Promise<unknown>> = {
    'one job at a time': (n) => sequentialLatency(server, 'ledger', n, undefined, posted, (offset += n) - n),
    '16 clients': (n) => loadRun(server, 'ledger', n, 16, [undefined], posted, (offset += n) - n),
    'idle, per second': (n) => sleep(n * 1000),
  };
  const sides = ['server', 'agent'] as const;
  const each = <T>(f: (side: Side) => T) => ({ server: f('server'), agent: f('agent') });
  const measure = async (title: string, jobs: number): Promise<LedgerPhase> => {
    const cpu0 = each((k) => cpuMs(pids[k]));
    const sw0 = each((k) => contextSwitches(pids[k]));
    const from = monotonicUs();
    await runs[title]!(jobs);
    const to = monotonicUs();
    const sw1 = each((k) => contextSwitches(pids[k]));
    return {
      title,
      jobs,
      from,
      to,
      cpu: each((k) => cpuMs(pids[k]) - cpu0[k]),
      switches: each((k) => ({
        voluntary: sw1[k].voluntary - sw0[k].voluntary,
        involuntary: sw1[k].involuntary - sw0[k].involuntary,
      })),
    };
  };
  const countSyscalls = async (phase: LedgerPhase): Promise<void> => {
    const jobs = phase.title === '16 clients' ? Math.round(phase.jobs / 3) : phase.jobs;
    const tracers = sides.map((k) => {
      const out = path.join(os.tmpdir(), `printhop-ledger-strace-${k}-${process.pid}.txt`);
      const child = spawn('strace', ['-c', '-f', '-o', out, '-p', String(pids[k])], { stdio: 'ignore' });
      return { k, out, child, exited: new Promise((resolve) => child.once('exit', resolve)) };
    });
    await sleep(500); // strace attaches to every thread
    await runs[phase.title]!(jobs);
    for (const t of tracers) t.child.kill('SIGINT');
    await Promise.all(tracers.map((t) => t.exited));
    phase.syscalls = each((k) => {
      const out = tracers.find((t) => t.k === k)!.out;
      const calls = parseStraceSummary(fs.readFileSync(out, 'utf8'));
      fs.rmSync(out, { force: true });
      return calls;
    });
    phase.syscallJobs = jobs;
  };
  const phases = [
    await measure('one job at a time', counts.alone),
    await measure('16 clients', counts.load),
    await measure('idle, per second', counts.idleS),
  ];
  if (!profiles && hasStrace()) for (const phase of phases) await countSyscalls(phase);
  await checkExactlyOnce(server, agents.paperDir, 'ledger', posted);
  await stopAgents(agents);
  await stopServer(server);
  return { phases, pids };
}

function hasStrace(): boolean {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function ledger(): Promise<void> {
  execFileSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts', '--quiet'], {
    cwd: root,
    env: { ...process.env, PRINTHOP_BUILD_SOURCEMAP: '1' },
    stdio: 'inherit',
  });
  const profiles = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-ledger-'));
  console.error(`ledger: CPU profiles in ${profiles}`);
  const profiled = await ledgerPass(profiles);
  const plain = await ledgerPass(null);
  // The maps are read below from a copy: dist/ is left as `npm run build` makes it.
  const maps = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-ledger-maps-'));
  for (const file of fs.readdirSync(path.join(root, 'dist')).filter((f) => f.endsWith('.mjs.map')))
    fs.renameSync(path.join(root, 'dist', file), path.join(maps, file));
  const profileOf = (pid: number) => {
    const file = fs.readdirSync(profiles).find((f) => new RegExp(`^CPU\\.\\d+\\.\\d+\\.${pid}\\.`).test(f));
    if (!file) throw new Error(`no CPU profile of process ${pid} in ${profiles}`);
    return path.join(profiles, file);
  };
  const columns = (['server', 'agent'] as const).flatMap((k) =>
    plain.phases.map((p, i) => {
      const shares = profiled.phases[i]!;
      return {
        title: `${k}, ${p.title}`,
        jobs: p.jobs,
        cpuMs: p.cpu[k],
        stages: stagesInWindow(profileOf(profiled.pids[k]), shares.from, shares.to, maps),
        switches: p.switches[k],
        syscalls: p.syscalls?.[k],
        syscallJobs: p.syscallJobs,
      };
    }),
  );
  console.log(
    `\nCost ledger (npm run bench -- --only=ledger${smoke ? ' --smoke' : ''}): µs of CPU per job, ${runtimes.get('broker-server/main.ts')} runtime; "idle, per second" is per second with no job${hasStrace() ? '' : '; strace is not installed: no system call counts'}\n`,
  );
  console.log(formatLedger(columns));
  for (const p of plain.phases.slice(0, 2))
    for (const k of ['server', 'agent'] as const)
      figure('ledger', `${k} CPU per job, ${p.title}`, p.cpu[k] / p.jobs, 'ms');
  figure('ledger', 'server CPU per idle second', plain.phases[2]!.cpu.server / plain.phases[2]!.jobs, 'ms');
  figure('ledger', 'agent CPU per idle second', plain.phases[2]!.cpu.agent / plain.phases[2]!.jobs, 'ms');
}

// ---------- main ----------

async function main(): Promise<void> {
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
  };
  console.error(
    `Printhop benchmark${smoke ? ' (smoke: small counts, figures not comparable to targets)' : ''} on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`,
  );
  if (pace)
    console.error(
      `paced: the throughput loads post at most ${pace} jobs/s (${COUNTS.throughput} jobs a run); compare their CPU per job, not their rates`,
    );
  const loadBefore = os.loadavg()[0]!;
  if (wanted('latency')) await latency();
  if (wanted('latency-tcp')) await latency('tcp');
  if (wanted('start')) await asNpmStart();
  if (wanted('throughput')) await throughput();
  if (wanted('throughput-tcp')) await throughput('tcp');
  if (wanted('floor')) await floor();
  if (wanted('external')) await external();
  if (wanted('baseline')) await baseline();
  if (wanted('rounds')) await rounds();
  if (wanted('floor-latency')) await floorLatency();
  if (wanted('fleet')) await fleet();
  if (wanted('catch-up')) await catchUp();
  if (wanted('agent')) await agent();
  if (wanted('ledger')) await ledger();
  if (wanted('replay')) await replay();

  const rows = figures.map((f) => [
    f.scenario,
    f.metric,
    `${f.value} ${f.unit}`,
    f.target || '—',
    f.met === null ? '' : f.met ? 'met' : 'NOT met',
  ]);
  const header = ['scenario', 'figure', 'measured', 'target', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const load = { before: Math.round(loadBefore * 100) / 100, after: Math.round(os.loadavg()[0]! * 100) / 100 };
  const runtime = Object.fromEntries(runtimes);
  console.log(
    `\nPrinthop benchmark${smoke ? ' (smoke)' : ''} — ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Node ${machine.node}`,
  );
  console.log(
    `${new Date().toISOString()}; load average ${load.before} before, ${load.after} after (above the core count, wall-clock figures are the machine's, not Printhop's: compare ratios and CPU per job)`,
  );
  console.log(
    `runtime: ${Object.entries(runtime)
      .map(([script, r]) => `${script} ${r}`)
      .join(', ')}`,
  );
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
  console.log(
    JSON.stringify({
      bench: 'printhop',
      smoke,
      pace: pace ?? null,
      machine,
      load,
      runtime,
      figures,
      exactlyOnce: 'checked',
    }),
  );
  if (profileDir) await summariseProfiles(profileDir);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error('benchmark failed:', err);
    process.exit(1);
  },
);
