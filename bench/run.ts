/**
 * `npm run bench`: the real server, the real broker and real agent processes, driven over HTTP.
 * Prints a table (figure next to target) and one JSON line. Every job of every scenario is checked
 * printed exactly once, from the database and from the bytes on the virtual printers' paper.
 *
 *   npm run bench                 full counts (the issue's targets)
 *   npm run bench -- --smoke      small counts, to check that the bench still works (CI)
 *   npm run bench -- --only=latency,throughput
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import sqlite3 from 'sqlite3';
import { decodeEscPos } from '../agent/printers/escpos-decoder';
import { readTokens } from '../broker-server/broker/tokens';
import { freePort } from '../test/support/ports';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const smoke = args.includes('--smoke');
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const wanted = (name: string) => !only || only.includes(name);

const COUNTS = smoke
  ? { latency: 50, throughput: 600, throughputClients: 8, printers: 3, fleet: 30, catchUp: 300, agentLoad: 100 }
  : { latency: 2000, throughput: 20000, throughputClients: 64, printers: 10, fleet: 1000, catchUp: 10000, agentLoad: 2000 };

// ---------- processes ----------

const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
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

/** BENCH_PROFILE_DIR=dir writes a CPU profile of every process the bench starts (node --cpu-prof). */
const profileArgs = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];

/** --built: agents run as deployed: the one-file build (dist/printhop-agent.mjs; `npm run build` first), plain node, 1 MB semi-spaces. */
const builtAgent = args.includes('--built');

function tsx(script: string, env: NodeJS.ProcessEnv, ipc = false): ChildProcess {
  const options = { cwd: root, env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'ignore', 'pipe', ...(ipc ? ['ipc'] : [])] as never };
  if (builtAgent && script === 'agent/main.ts' && !ipc) return spawn(process.execPath, [...profileArgs, '--max-semi-space-size=1', path.join(root, 'dist/printhop-agent.mjs')], options);
  return ipc
    ? fork(path.join(root, script), [], { ...options, execArgv: [...profileArgs, '--import', 'tsx'] })
    : spawn(process.execPath, [...profileArgs, '--import', 'tsx', path.join(root, script)], options);
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

async function startServer(name: string, env: NodeJS.ProcessEnv = {}): Promise<Server> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `printhop-bench-${name}-`));
  const [port, mqttPort] = [await freePort(), await freePort()];
  // One client address posts everything here: the rate limit, meant for people, is off.
  const child = track(
    tsx('broker-server/main.ts', { PORT: String(port), MQTT_PORT: String(mqttPort), HOST: '127.0.0.1', DATA_DIR: dataDir, PRINT_RATE_PER_MINUTE: '0', ...env }),
    `server ${name}`,
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await request(agent, port, 'GET', '/health');
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`server ${name} did not start`);
      await sleep(100);
    }
  }
  const events = new EventWatcher(port);
  await events.ready;
  return { port, mqttPort, dataDir, child, brokerUrl: `mqtt://127.0.0.1:${mqttPort}`, wsUrl: `ws://127.0.0.1:${port}/mqtt`, agent, events };
}

async function stopServer(server: Server): Promise<void> {
  server.events.close();
  server.agent.destroy();
  if (server.child) await stopChild(server.child);
  fs.rmSync(server.dataDir, { recursive: true, force: true });
}

function request(agent: http.Agent, port: number, method: string, route: string, body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { host: '127.0.0.1', port, method, path: route, agent, headers: payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {} },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function postJob(server: Server, content: string, printerId: string): Promise<number> {
  const res = await request(server.agent, server.port, 'POST', '/print', { content, printerId });
  if (res.status !== 201) throw new Error(`POST /print answered ${res.status}: ${res.body}`);
  return (JSON.parse(res.body) as { id: number }).id;
}

/** Watches GET /jobs/events: when each job reached `printed` in the database, and which printers are online. */
class EventWatcher {
  readonly printedAt = new Map<number, number>();
  readonly online = new Set<string>();
  readonly onlineAt = new Map<string, number>();
  readonly ready: Promise<void>;
  private waiters = new Map<number, () => void>();
  private printerWaiters: Array<() => void> = [];
  private req: http.ClientRequest;

  constructor(port: number) {
    let markReady!: () => void;
    this.ready = new Promise((resolve) => (markReady = resolve));
    this.req = http.get({ host: '127.0.0.1', port, path: '/jobs/events' }, (res) => {
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
      const job = JSON.parse(data) as { id: number; status: string };
      if (job.status === 'printed' && !this.printedAt.has(job.id)) {
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
    while (!ids.every((id) => this.online.has(id))) {
      if (Date.now() > deadline) throw new Error(`printers not online after ${timeoutMs} ms: ${ids.filter((id) => !this.online.has(id)).slice(0, 5).join(', ')}…`);
      await Promise.race([new Promise<void>((resolve) => this.printerWaiters.push(resolve)), sleep(200)]);
    }
  }

  close(): void {
    this.req.destroy();
  }
}

// ---------- agents ----------

interface Agents {
  printerIds: string[];
  paperDir: string;
  children: ChildProcess[];
}

function startAgents(server: Server, printerIds: string[], mqttUrl = server.wsUrl, extraEnv: NodeJS.ProcessEnv = {}): Agents {
  const paperDir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-bench-paper-'));
  const agentChildren = printerIds.map((printerId) =>
    track(
      tsx('agent/main.ts', {
        MQTT_URL: mqttUrl,
        PRINTER_ID: printerId,
        MQTT_PASSWORD: readTokens(server.dataDir).credentialsFor({ kind: 'printer', printerId }).password,
        PRINTER: `file:${path.join(paperDir, `${printerId}.prn`)}`,
        AGENT_DATA_DIR: path.join(paperDir, `journal-${printerId}`),
        RECONNECT_MIN_MS: '100',
        ...extraEnv,
      }),
      `agent ${printerId}`,
    ),
  );
  return { printerIds, paperDir, children: agentChildren };
}

async function stopAgents(agents: Agents): Promise<void> {
  await Promise.all(agents.children.map(stopChild));
  fs.rmSync(agents.paperDir, { recursive: true, force: true });
}

// ---------- exactly-once check ----------

const marker = (scenario: string, n: number) => `bench ${scenario} #${n}`;

/** From the database and the paper: every posted job printed, exactly once; returns the paper order per printer. */
async function checkExactlyOnce(server: Server, paperDir: string, scenario: string, posted: Map<number, string>): Promise<Map<string, number[]>> {
  const db = new sqlite3.Database(path.join(server.dataDir, 'printhop.sqlite'), sqlite3.OPEN_READONLY);
  const rows = await new Promise<Array<{ id: number; status: string }>>((resolve, reject) =>
    db.all('SELECT id, status FROM print_jobs', (err, r) => (err ? reject(err) : resolve(r as Array<{ id: number; status: string }>))),
  );
  db.close();
  const status = new Map(rows.map((r) => [r.id, r.status]));
  const problems: string[] = [];
  for (const id of posted.keys()) if (status.get(id) !== 'printed') problems.push(`job ${id} is ${status.get(id) ?? 'missing'} in the database`);

  const contentToId = new Map([...posted].map(([id, content]) => [content, id]));
  const seen = new Map<number, number>();
  const order = new Map<string, number[]>();
  for (const file of fs.readdirSync(paperDir).filter((f) => f.endsWith('.prn'))) {
    const decoded = decodeEscPos(fs.readFileSync(path.join(paperDir, file)));
    if (decoded.unexpected.length) problems.push(`${file}: unexpected bytes ${decoded.unexpected.slice(0, 3).join(', ')}`);
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
  if (problems.length) throw new Error(`${scenario}: exactly-once check failed (${problems.length} problems): ${problems.slice(0, 10).join('; ')}`);
  return order;
}

// ---------- figures ----------

function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Figure {
  scenario: string;
  metric: string;
  value: number;
  unit: string;
  target: string;
  met: boolean | null;
}
const figures: Figure[] = [];
function figure(scenario: string, metric: string, value: number, unit: string, target?: { op: '<=' | '>='; value: number }): void {
  const met = target ? (target.op === '<=' ? value <= target.value : value >= target.value) : null;
  figures.push({ scenario, metric, value: Math.round(value * 100) / 100, unit, target: target ? `${target.op} ${target.value} ${unit}` : '', met });
  console.error(`  ${scenario} ${metric}: ${value.toFixed(2)} ${unit}${target ? ` (target ${target.op} ${target.value})` : ''}`);
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

async function latency(): Promise<void> {
  console.error(`latency: 1 client, sequential, ${COUNTS.latency} jobs`);
  const server = await startServer('latency', { PRINTERS: 'printer-1' });
  const agents = startAgents(server, ['printer-1']);
  await server.events.allOnline(['printer-1'], 30_000);
  const posted = new Map<number, string>();
  const times: number[] = [];
  for (let i = 0; i < COUNTS.latency; i++) {
    const content = marker('latency', i);
    const t0 = performance.now();
    const id = await postJob(server, content, 'printer-1');
    posted.set(id, content);
    times.push((await server.events.printed(id)) - t0);
  }
  await checkExactlyOnce(server, agents.paperDir, 'latency', posted);
  const sorted = [...times].sort((a, b) => a - b);
  figure('latency', 'p50 POST→printed stored', percentile(sorted, 50), 'ms', { op: '<=', value: 2 });
  figure('latency', 'p99 POST→printed stored', percentile(sorted, 99), 'ms', { op: '<=', value: 8 });
  await stopAgents(agents);
  await stopServer(server);
}

async function throughputRun(label: string, server: Server, agents: Agents): Promise<number> {
  await server.events.allOnline(agents.printerIds, 60_000);
  const posted = new Map<number, string>();
  const t0 = performance.now();
  const ids = await runPool(COUNTS.throughput, COUNTS.throughputClients, async (i) => {
    const content = marker(label, i);
    const id = await postJob(server, content, agents.printerIds[i % agents.printerIds.length]!);
    posted.set(id, content);
    return id;
  });
  const postedIn = performance.now() - t0;
  await Promise.all(ids.map((id) => server.events.printed(id)));
  const elapsed = performance.now() - t0;
  await checkExactlyOnce(server, agents.paperDir, label, posted);
  const rate = (COUNTS.throughput / elapsed) * 1000;
  figure(label, 'accepted (POST 201) rate', (COUNTS.throughput / postedIn) * 1000, 'jobs/s');
  return rate;
}

async function throughput(): Promise<number> {
  const printerIds = Array.from({ length: COUNTS.printers }, (_, i) => `bench-${i}`);
  console.error(`throughput: ${COUNTS.throughputClients} clients, ${COUNTS.printers} printers, ${COUNTS.throughput} jobs (embedded broker)`);
  const server = await startServer('throughput', { PRINTERS: printerIds.join(',') });
  const agents = startAgents(server, printerIds);
  const sampler = new RssSampler(() => [server.child?.pid]);
  const rate = await throughputRun('throughput', server, agents);
  figure('throughput', 'sustained POST→printed', rate, 'jobs/s', { op: '>=', value: 3000 });
  figure('throughput', 'server RSS max', sampler.stop(), 'MB');
  await stopAgents(agents);
  await stopServer(server);
  return rate;
}

async function external(embeddedRate: number | null): Promise<void> {
  let mosquitto: string;
  try {
    mosquitto = execFileSync('sh', ['-c', 'command -v mosquitto || ls /usr/sbin/mosquitto'], { encoding: 'utf8' }).trim().split('\n')[0]!;
  } catch {
    console.error('external: mosquitto is not installed (apt-get install mosquitto); skipped');
    return;
  }
  const printerIds = Array.from({ length: COUNTS.printers }, (_, i) => `bench-${i}`);
  console.error(`throughput: same load through an external Mosquitto broker`);
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-bench-mosquitto-'));
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\nmax_inflight_messages 0\n`);
  const broker = track(spawn(mosquitto, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] }), 'mosquitto');
  await sleep(300);
  const brokerUrl = `mqtt://127.0.0.1:${port}`;
  const server = await startServer('external', { PRINTERS: printerIds.join(','), MQTT_URL: brokerUrl, MQTT_PORT: '-1' });
  const agents = startAgents(server, printerIds, brokerUrl);
  const rate = await throughputRun('external', server, agents);
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
  const groups = Array.from({ length: processes }, (_, p) => ({ prefix: `fleet${p}`, count: Math.min(perProcess, COUNTS.fleet - p * perProcess) }));
  const printerIds = groups.flatMap(({ prefix, count }) => Array.from({ length: count }, (_, i) => `${prefix}-${i}`));
  // Every printer has its own token, so every one is configured.
  const server = await startServer('fleet', { PRINTERS: printerIds.join(',') });
  const paperDir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-bench-fleet-'));
  const fleetChildren = groups.map(({ prefix, count }, p) =>
    track(
      tsx('bench/fleet.ts', { FLEET_PREFIX: prefix, FLEET_COUNT: String(count), FLEET_DIR: paperDir, FLEET_TOKENS_DIR: server.dataDir, MQTT_URL: server.wsUrl, RECONNECT_MIN_MS: '500', RECONNECT_MAX_MS: '5000' }, true),
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
  figure('fleet', `server RSS max (${COUNTS.fleet} agents)`, Math.max(sampler.stop(), rssMb(server.child?.pid)), 'MB', { op: '<=', value: 300 });
  await Promise.all(fleetChildren.map(stopChild));
  fs.rmSync(paperDir, { recursive: true, force: true });
  await stopServer(server);
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
  const agents = startAgents(server, ['catchup-1']);
  await Promise.all(ids.map((id) => server.events.printed(id)));
  const elapsed = (performance.now() - t0) / 1000;
  const order = await checkExactlyOnce(server, agents.paperDir, 'catchup', posted);
  const paper = order.get('catchup-1') ?? [];
  const inOrder = paper.every((id, i) => i === 0 || id > paper[i - 1]!);
  if (!inOrder) throw new Error('catch-up: jobs were printed out of order');
  figure('catch-up', `all ${COUNTS.catchUp} printed in order, from agent start`, elapsed, 's', { op: '<=', value: 5 });
  await stopAgents(agents);
  await stopServer(server);
}

async function agent(): Promise<void> {
  console.error(`agent: one agent idle, then under a load of ${COUNTS.agentLoad} jobs`);
  const server = await startServer('agent', { PRINTERS: 'printer-1' });
  const t0 = performance.now();
  const agents = startAgents(server, ['printer-1']);
  await server.events.allOnline(['printer-1'], 30_000);
  figure('agent', 'start → subscribed and online', (server.events.onlineAt.get('printer-1')! - t0) / 1000, 's', { op: '<=', value: 1 });
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

// ---------- main ----------

async function main(): Promise<void> {
  const machine = { cpu: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length, memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.platform()} ${os.release()}` };
  console.error(`Printhop benchmark${smoke ? ' (smoke: small counts, figures not comparable to targets)' : ''} on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}`);
  let embeddedRate: number | null = null;
  if (wanted('latency')) await latency();
  if (wanted('throughput')) embeddedRate = await throughput();
  if (wanted('external')) await external(embeddedRate);
  if (wanted('fleet')) await fleet();
  if (wanted('catch-up')) await catchUp();
  if (wanted('agent')) await agent();

  const rows = figures.map((f) => [f.scenario, f.metric, `${f.value} ${f.unit}`, f.target || '—', f.met === null ? '' : f.met ? 'met' : 'NOT met']);
  const header = ['scenario', 'figure', 'measured', 'target', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(`\nPrinthop benchmark${smoke ? ' (smoke)' : ''} — ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB, Node ${machine.node}`);
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
  console.log(JSON.stringify({ bench: 'printhop', smoke, machine, figures, exactlyOnce: 'checked' }));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error('benchmark failed:', err);
    process.exit(1);
  },
);
