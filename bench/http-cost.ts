/**
 * What the server's HTTP side costs per request: a server from a build (`--root=DIR`, default this checkout;
 * `npm run build` there first, with PRINTHOP_BUILD_SOURCEMAP=1 for the per-file table), no agent (a job stays
 * `pending`: the request's own work, not the printing), one reader on GET /jobs/events as the bench has,
 * driven over loopback in four phases:
 *
 *   POST /print, one at a time · POST /print, 16 clients · GET /jobs/:id, one at a time · GET /health (the floor)
 *
 * Each phase runs three times: under V8's CPU profiler (the ledger's stages, and the source files where the
 * time goes, self and inclusive), plain (CPU of every thread from /proc, wake-ups), and under `strace -c -f`
 * (system calls). Figures are per request.
 *
 *   npx tsx bench/http-cost.ts [--root=DIR] [--n=1000] [--plain]   (--plain: CPU only, one pass, one JSON line)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../test/support/ports';
import { request } from './http-request';
import { contextSwitches, parseStraceSummary, sourceResolver, stageOf } from './cost-ledger';
import { cpuMs } from './proc-cpu';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) =>
  args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const root = path.resolve(option('root', path.resolve(import.meta.dirname, '..')));
const N = Number(option('n', '1000'));
const serverFile = path.join(root, 'dist/printhop-server.mjs');
if (!fs.existsSync(serverFile)) throw new Error(`${serverFile} does not exist: npm run build in ${root} first`);

interface Server {
  child: ChildProcess;
  port: number;
  dataDir: string;
  agent: http.Agent;
  events: http.ClientRequest;
}

async function startServer(profileDir: string | null): Promise<Server> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-http-cost-'));
  const [port, mqttPort] = [await freePort(), await freePort()];
  const child = spawn(
    process.execPath,
    [...(profileDir ? ['--cpu-prof', '--cpu-prof-interval=200', `--cpu-prof-dir=${profileDir}`] : []), serverFile],
    {
      cwd: root,
      env: {
        ...process.env,
        PORT: String(port),
        MQTT_PORT: String(mqttPort),
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        PRINT_RATE_PER_MINUTE: '0',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await request(agent, port, 'GET', '/health')).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('the server did not start');
    await sleep(100);
  }
  // One reader of the job events, as the bench's client has: the fan-out of each change is part of a job's cost.
  const events = http.get({ host: '127.0.0.1', port, path: '/jobs/events', agent: false }, (res) => res.resume());
  events.on('error', () => {});
  return { child, port, dataDir, agent, events };
}

async function stopServer(server: Server): Promise<void> {
  server.events.destroy();
  server.agent.destroy();
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
  fs.rmSync(server.dataDir, { recursive: true, force: true });
}

async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

let lastJob = 0;
const expect = (status: number, res: { status: number; body: string }) => {
  if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}: ${res.body}`);
  return res;
};
const post = async (s: Server, i: number) => {
  const res = expect(201, await request(s.agent, s.port, 'POST', '/print', { content: `http cost ${i}` }));
  lastJob = (JSON.parse(res.body) as { id: number }).id;
};

const PHASES: Array<{ title: string; run: (s: Server, n: number) => Promise<void> }> = [
  { title: 'POST /print, one at a time', run: (s, n) => pool(n, 1, (i) => post(s, i)) },
  { title: 'POST /print, 16 clients', run: (s, n) => pool(n, 16, (i) => post(s, i)) },
  {
    title: 'GET /jobs/:id, one at a time',
    run: (s, n) =>
      pool(n, 1, async (i) => void expect(200, await request(s.agent, s.port, 'GET', `/jobs/${1 + (i % lastJob)}`))),
  },
  {
    title: 'GET /health (the floor)',
    run: (s, n) => pool(n, 1, async () => void expect(200, await request(s.agent, s.port, 'GET', '/health'))),
  },
];

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

async function pass(mode: 'profile' | 'plain' | 'strace') {
  const profileDir = mode === 'profile' ? fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-http-prof-')) : null;
  const server = await startServer(profileDir);
  const pid = server.child.pid!;
  await pool(300, 4, (i) => post(server, i)); // warm-up: JIT, statements, pool
  const out: Array<{
    title: string;
    cpuMs: number;
    wakeups: number;
    from: number;
    to: number;
    syscalls?: Map<string, number>;
  }> = [];
  for (const phase of PHASES) {
    let tracer: { child: ChildProcess; file: string; exited: Promise<unknown> } | null = null;
    if (mode === 'strace') {
      const file = path.join(os.tmpdir(), `printhop-http-strace-${process.pid}.txt`);
      const child = spawn('strace', ['-c', '-f', '-o', file, '-p', String(pid)], { stdio: 'ignore' });
      tracer = { child, file, exited: new Promise((resolve) => child.once('exit', resolve)) };
      await sleep(500);
    }
    await sleep(200);
    const cpu0 = cpuMs(pid);
    const sw0 = contextSwitches(pid).voluntary;
    const from = monotonicUs();
    await phase.run(server, N);
    const to = monotonicUs();
    const entry = {
      title: phase.title,
      cpuMs: cpuMs(pid) - cpu0,
      wakeups: contextSwitches(pid).voluntary - sw0,
      from,
      to,
    };
    if (tracer) {
      tracer.child.kill('SIGINT');
      await tracer.exited;
      out.push({ ...entry, syscalls: parseStraceSummary(fs.readFileSync(tracer.file, 'utf8')) });
      fs.rmSync(tracer.file, { force: true });
    } else out.push(entry);
  }
  await stopServer(server);
  const profile = profileDir
    ? path.join(
        profileDir,
        fs.readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'))!,
      )
    : null;
  return { phases: out, profile };
}

/**
 * The steps of a request, by the innermost frame of the sample's stack that belongs to one: Express calls each
 * middleware from the previous one's `next()`, so the deepest step on the stack is the one working.
 */
const STEPS: Array<[step: string, test: RegExp]> = [
  ['security headers', /\/http\/guards\/security-headers\.ts/],
  ['host check (DNS rebinding)', /\/http\/guards\/host-check\.ts/],
  ['announced body size (413)', /\/http\/guards\/body-limit\.ts/],
  ['JSON body: hand-written reader', /\/http\/api\/json-body\.ts/],
  ['JSON body: body-parser (json)', /body-parser\/lib\/types\/json\.js|raw-body|iconv-lite/],
  ['form body parser (passes JSON by)', /body-parser\/lib\/types\/urlencoded\.js/],
  ['body-parser (shared: type checks, reading)', /body-parser\/lib\/(read|utils)\.js/],
  ['API keys: authenticate, requireApiKey, key limit', /\/http\/api\/api-keys\.ts/],
  ['cross-site check', /\/http\/guards\/cross-site\.ts/],
  ['rate limit per address', /\/http\/guards\/rate-limit\.ts|\/http\/app\.ts/],
  ['validation (zod)', /\/http\/api\/validation\.ts|node_modules\/zod\//],
  ['printer and receipt length check', /\/jobs\/job-intake\.ts|\/protocol\/receipt-/],
  ['Idempotency-Key (hash, claim)', /\/http\/api\/(create-once|idempotency)\.ts/],
  ['storing the job (service, store, database)', /\/jobs\/job-service\.ts|\/store\/|\/db\//],
  ['publishing (dispatcher, broker)', /\/jobs\/dispatcher\.ts|\/broker\/|node_modules\/aedes/],
  ['the answer (201, headers, write)', /\/http\/page\/responses\.ts|\/http\/api\/json-answer\.ts/],
  ['route handler', /\/http\/api\/jobs-api\.ts/],
  [
    'event streams (SSE fan-out)',
    /\/http\/(api\/job-event-stream|api\/sse-writer|live-streams|page\/page-updates)\.ts|job-change-log/,
  ],
  ['router gates', /\/http\/api\/context\.ts/],
  ['Express routing (router, layers, path matching)', /node_modules\/(router|path-to-regexp|parseurl)\//],
  ['Express request set-up (app.handle)', /node_modules\/express\/lib\/application\.js/],
];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber?: number; columnNumber?: number };
  children?: number[];
}

/** Per phase window: µs per stage (the ledger's rules), and per source file, self and inclusive. */
function analyse(file: string, from: number, to: number) {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    startTime: number;
    samples: number[];
    timeDeltas: number[];
  };
  const resolve = sourceResolver();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const frames = new Map(profile.nodes.map((n) => [n.id, resolve(n.callFrame)]));
  const short = (url: string, fn: string) =>
    url
      ? url
          .replace(/^.*node_modules\//, '~/')
          .replace(/^.*?\/(broker-server|protocol|runtime|config)\//, '$1/')
          .replace(/^file:\/\/.*\/dist\//, 'dist/')
      : fn;
  const stages = new Map<string, number>();
  const steps = new Map<string, number>();
  const self = new Map<string, number>();
  const functions = new Map<string, number>();
  const inclusive = new Map<string, number>();
  let at = profile.startTime;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (at < from || at > to) return;
    const frame = frames.get(id)!;
    if (frame.functionName === '(idle)') return;
    total += dt;
    const stage = stageOf(frame);
    stages.set(stage, (stages.get(stage) ?? 0) + dt);
    const key = short(frame.url, frame.functionName);
    self.set(key, (self.get(key) ?? 0) + dt);
    const fn = `${frame.functionName || '(anonymous)'} ${key}:${(frame.lineNumber ?? 0) + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + dt);
    let step: string | undefined;
    for (let n: number | undefined = id; n !== undefined && step === undefined; n = parent.get(n)) {
      const url = frames.get(n)!.url;
      if (url) step = STEPS.find(([, test]) => test.test(url))?.[0];
    }
    step ??=
      frame.functionName === '(garbage collector)'
        ? 'garbage collection'
        : frame.functionName === '(program)'
          ? 'native, outside JavaScript'
          : 'Node core: HTTP parser, sockets, streams, timers';
    steps.set(step, (steps.get(step) ?? 0) + dt);
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const f = frames.get(n)!;
      if (!f.url) continue;
      const k = short(f.url, f.functionName);
      if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
      seen.add(k);
    }
  });
  return { stages, steps, self, functions, inclusive, total };
}

// --plain: CPU and wake-ups only (one pass), for runs of two builds interleaved several times.
if (args.includes('--plain')) {
  const plainOnly = await pass('plain');
  console.log(
    JSON.stringify({
      root,
      at: new Date().toISOString(),
      load: os.loadavg()[0],
      cpuUsPerRequest: Object.fromEntries(plainOnly.phases.map((p) => [p.title, Math.round((p.cpuMs * 1000) / N)])),
    }),
  );
  process.exit(0);
}
const profiled = await pass('profile');
const plain = await pass('plain');
const traced = await pass('strace');
const load = os.loadavg().map((l) => l.toFixed(1));

console.log(
  `\nHTTP cost per request: ${root} (${N} requests a phase, load ${load.join(' ')}, ${new Date().toISOString()})\n`,
);
console.log('| phase | CPU µs / request | wake-ups / request | system calls / request | top system calls |');
console.log('| --- | --- | --- | --- | --- |');
PHASES.forEach((phase, i) => {
  const p = plain.phases[i]!;
  const calls = traced.phases[i]!.syscalls!;
  const sum = [...calls.values()].reduce((a, b) => a + b, 0);
  const top = [...calls]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 7)
    .map(([name, count]) => `${name} ${(count / N).toFixed(1)}`)
    .join(', ');
  console.log(
    `| ${phase.title} | ${Math.round((p.cpuMs * 1000) / N)} | ${(p.wakeups / N).toFixed(1)} | ${(sum / N).toFixed(1)} | ${top} |`,
  );
});
PHASES.forEach((phase, i) => {
  const w = profiled.phases[i]!;
  const { stages, steps, self, functions, inclusive, total } = analyse(profiled.profile!, w.from, w.to);
  // The profile samples the main thread; scaled to the CPU /proc counted in the plain pass.
  const scale = total > 0 ? (plain.phases[i]!.cpuMs * 1000) / total / N : 0;
  const rows = (m: Map<string, number>, top: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, us]) => `  ${String(Math.round(us * scale)).padStart(6)} µs  ${k}`)
      .join('\n');
  console.log(`\n## ${phase.title}\nstages (µs / request):\n${rows(stages, 20)}`);
  console.log(`steps of the request (innermost step on the stack):\n${rows(steps, 30)}`);
  console.log(`source files, self:\n${rows(self, 30)}`);
  console.log(`source files, inclusive:\n${rows(inclusive, 40)}`);
  console.log(`functions, self:\n${rows(functions, 60)}`);
});
