/**
 * The cost ledger: where a job's CPU goes, stage by stage, in each process, from a V8 CPU profile cut to the
 * time window of one phase of the bench (samples outside it, such as start-up, are left out), next to the
 * system calls (`strace -c -f`) and wake-ups (context switches) of the same phase. `npm run bench --
 * --only=ledger` produces it; docs/performance.md keeps its figures.
 */
import fs from 'node:fs';
import path from 'node:path';
import { SourceMap } from 'node:module';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber?: number;
  columnNumber?: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Stages in the order a job meets them; the first rule that matches a frame's file (or name) wins. */
const STAGES: Array<[stage: string, test: RegExp]> = [
  ['garbage collection', /^\(garbage collector\)$/],
  ['native, outside JavaScript (system calls, libuv, SQLite, zlib)', /^\(program\)$/],
  // Node's bindings have no file: named by function.
  [
    'system calls made from JavaScript (socket and file writes, reads, syncs)',
    /^(writev|writeBuffer|writeBuffers|writeString|writeUtf8String|writeLatin1String|writeAsciiString|fdatasync|fsync|read|readBuffers|readFileUtf8|open|openFileHandle|close|fstat|lstat|stat|internalModuleStat|ftruncate|rename|unlink|shutdown)$/,
  ],
  ['JSON (parse, stringify)', /^(parse|stringify)$/],
  [
    'validation (zod, the schemas)',
    /node_modules\/zod\/|\/http\/api\/validation\.ts|\/http\/api\/api-schemas\.ts|\/protocol\/messages\.ts/,
  ],
  [
    'idempotency and API keys',
    /\/http\/api\/idempotency\.ts|\/http\/api\/api-keys\.ts|idempotency-store|api-key-store/,
  ],
  [
    'HTTP: parse, Express, middleware, answer',
    /node:_http_|node:http|node_modules\/(express|router|body-parser|raw-body|finalhandler|send|serve-static|on-finished|content-type|type-is|qs|cookie|statuses|http-errors|mime|accepts|negotiator|vary|etag|fresh|proxy-addr|depd|iconv-lite\/lib\/index)\/|\/http\/(?:guards\/|page\/)?(app|host-check|security-headers|rate-limit|body-limit|cross-site|errors|responses|http-server|api-document|request-kind|in-one-layer)\.ts|\/http\/(?:api|page)\/(page|jobs-api|printers-api|events|webhooks-api|operations|create-once|context|json-body|json-answer)\.ts|\/http\/routes\//,
  ],
  [
    'database: statements and commits (Sequelize, sqlite3, pg, the stores)',
    /node_modules\/(sequelize|sqlite3|pg|pg-protocol|umzug|dottie|wkx|retry-as-promised)\/|\/store\/|\/db\//,
  ],
  [
    'event log, live streams (SSE), views',
    /\/http\/(?:api\/|page\/|guards\/)?(job-event-stream|page-updates|live-streams|sse-writer|views|html|snapshot-batch|stream-limits)\.ts/,
  ],
  ['webhooks', /\/webhooks\//],
  ['job rules and service', /\/jobs\/|\/protocol\/states\.ts/],
  [
    'MQTT: broker, packets, WebSocket, client',
    /node_modules\/(aedes|aedes-[a-z-]+|mqemitter|mqtt|mqtt-packet|qlobber|ws|bl|readable-stream|fastfall|fastparallel|fastseries|reusify|hyperid|retimer|duplexify|end-of-stream|process-nextick-args|worker-timers)\/|\/broker\/|\/agent\/link\.ts|\/protocol\/topics\.ts|\/runtime\/(websocket-frames|tcp-nodelay|one-write-per-turn)\.ts/,
  ],
  [
    'logging (pino)',
    /node_modules\/(pino|pino-std-serializers|sonic-boom|thread-stream|fast-redact|quick-format-unescaped|atomic-sleep|on-exit-leak-free)\/|\/config\/logger\.ts/,
  ],
  ['agent: journal', /\/agent\/journal\.ts/],
  [
    'agent: receipt layout and ESC/POS encoding',
    /\/protocol\/(receipt-layout|receipt-limits|codepages)\.ts|\/agent\/receipt\.ts|node_modules\/(escpos|iconv-lite)\//,
  ],
  ['agent: printer transport', /\/agent\/printers\//],
  ['agent: print agent', /\/agent\/print-agent\.ts/],
  [
    'streams, timers, sockets (Node core)',
    /^node:|^(runMicrotasks|processTicksAndRejections|processTimers|listOnTimeout)$/,
  ],
  ['TypeScript loader (tsx; not in the build)', /node_modules\/(tsx|esbuild|get-tsconfig)\//],
];

export function stageOf(frame: CallFrame): string {
  const subject = frame.url || frame.functionName;
  for (const [stage, test] of STAGES) if (test.test(subject)) return stage;
  return 'other JavaScript';
}

/**
 * A frame of a bundled file (dist/*.mjs) named by its source file, through the `.map` the build writes beside it
 * with PRINTHOP_BUILD_SOURCEMAP=1 (or in `mapDir`, where the maps were moved); other frames as they are.
 */
export function sourceResolver(mapDir?: string): (frame: CallFrame) => CallFrame {
  const maps = new Map<string, SourceMap | null>();
  const mapOf = (url: string): SourceMap | null => {
    if (!maps.has(url)) {
      let map: SourceMap | null = null;
      try {
        const file = fileURLToPath(url);
        const mapFile = mapDir ? path.join(mapDir, `${path.basename(file)}.map`) : `${file}.map`;
        map = new SourceMap(JSON.parse(fs.readFileSync(mapFile, 'utf8')));
      } catch {
        // no map: the frame keeps its bundle's name
      }
      maps.set(url, map);
    }
    return maps.get(url)!;
  };
  return (frame) => {
    if (!frame.url.startsWith('file:') || !frame.url.endsWith('.mjs')) return frame;
    const entry = mapOf(frame.url)?.findEntry(frame.lineNumber ?? 0, frame.columnNumber ?? 0);
    const source = entry && 'originalSource' in entry ? entry.originalSource : undefined;
    return source ? { ...frame, url: source } : frame;
  };
}

/** CPU time per stage (µs) of the samples taken between `fromUs` and `toUs` (the profile's clock: monotonic µs). */
export function stagesInWindow(file: string, fromUs: number, toUs: number, mapDir?: string): Map<string, number> {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  const resolve = sourceResolver(mapDir);
  const byId = new Map(profile.nodes.map((n) => [n.id, { ...n, callFrame: resolve(n.callFrame) }]));
  const stages = new Map<string, number>();
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (at < fromUs || at > toUs) return;
    const frame = byId.get(id)!.callFrame;
    if (frame.functionName === '(idle)') return;
    const stage = stageOf(frame);
    stages.set(stage, (stages.get(stage) ?? 0) + dt);
  });
  return stages;
}

/** `strace -c` output: calls per system call name. */
export function parseStraceSummary(text: string): Map<string, number> {
  const calls = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m && m[2] !== 'total') calls.set(m[2]!, Number(m[1]));
  }
  return calls;
}

/** Voluntary and involuntary context switches of every thread of a process so far (wake-ups and preemptions). */
export function contextSwitches(pid: number | undefined): { voluntary: number; involuntary: number } {
  const total = { voluntary: 0, involuntary: 0 };
  if (!pid) return total;
  try {
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      const status = fs.readFileSync(`/proc/${pid}/task/${task}/status`, 'utf8');
      total.voluntary += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
      total.involuntary += Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0);
    }
  } catch {
    // gone
  }
  return total;
}

export interface LedgerColumn {
  /** "server, one job at a time", … */
  title: string;
  jobs: number;
  /** Measured CPU of the process over the phase (ms), from /proc: the ledger's stages are shares of it. */
  cpuMs: number;
  stages: Map<string, number>;
  switches: { voluntary: number; involuntary: number };
  syscalls?: Map<string, number>;
  syscallJobs?: number;
}

/** The ledger as a Markdown table: µs of CPU per job for each stage, then system calls and wake-ups per job. */
export function formatLedger(columns: LedgerColumn[]): string {
  const stageNames = [...new Set([...STAGES.map(([s]) => s), 'other JavaScript'])].filter((s) =>
    columns.some((c) => (c.stages.get(s) ?? 0) > 0),
  );
  const perJob = (c: LedgerColumn, us: number) => {
    const sampled = [...c.stages.values()].reduce((a, b) => a + b, 0);
    // The profile samples a share of the process's CPU (its own thread, not libuv's pool): scale each stage
    // to the measured CPU so that the column adds up to what /proc counted.
    const scale = sampled > 0 ? (c.cpuMs * 1000) / sampled : 0;
    return Math.round((us * scale) / c.jobs);
  };
  const rows: string[][] = [];
  rows.push([
    '**CPU per job, all threads (µs)**',
    ...columns.map((c) => `**${Math.round((c.cpuMs * 1000) / c.jobs)}**`),
  ]);
  for (const stage of stageNames)
    rows.push([stage, ...columns.map((c) => String(perJob(c, c.stages.get(stage) ?? 0)))]);
  rows.push([
    'wake-ups per job (voluntary context switches)',
    ...columns.map((c) => (c.switches.voluntary / c.jobs).toFixed(1)),
  ]);
  rows.push(['preemptions per job (involuntary)', ...columns.map((c) => (c.switches.involuntary / c.jobs).toFixed(1))]);
  const names = [...new Set(columns.flatMap((c) => [...(c.syscalls?.keys() ?? [])]))];
  const totals = (c: LedgerColumn) => [...(c.syscalls?.values() ?? [])].reduce((a, b) => a + b, 0);
  if (names.length) {
    rows.push([
      '**system calls per job (strace -c -f)**',
      ...columns.map((c) => (c.syscalls ? `**${(totals(c) / c.syscallJobs!).toFixed(0)}**` : 'n/a')),
    ]);
    const top = names
      .map((n) => [n, columns.reduce((s, c) => s + (c.syscalls?.get(n) ?? 0) / (c.syscallJobs ?? 1), 0)] as const)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10);
    for (const [name] of top)
      rows.push([
        `\`${name}\``,
        ...columns.map((c) => (c.syscalls ? ((c.syscalls.get(name) ?? 0) / c.syscallJobs!).toFixed(1) : 'n/a')),
      ]);
  }
  const header = ['stage', ...columns.map((c) => `${c.title} (${c.jobs} jobs)`)];
  return [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}
