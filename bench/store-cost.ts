/**
 * What the job store's writes cost the server's threads, per job, against the bench's durable frame's SQL and
 * with one part of Printhop's schema taken away at a time: the ledger's line for SQLite, measured alone.
 *
 *   npx tsx bench/store-cost.ts [--batch=50] [--jobs=7500] [--repeat=3]
 *
 * A job is its insert and its three moves (`sent`, `received`, `printed`), each step of a batch started together
 * so that the group commit takes it as one commit, as under the throughput load (`bench/wal-pages.ts` does the
 * same to count pages). The CPU is read from /proc: the main thread's own (`/proc/self/task/<pid>/stat`), and
 * the rest of the process (libuv's pool running SQLite, V8's GC threads). Each variant runs in a process of its
 * own, `--repeat` times in turn, so that the machine's drift falls on all of them alike.
 *
 * Variants:
 * - `printhop`: the store as it is (migrations, triggers, group commit, the read after each commit).
 * - `printhop -status index`, `printhop -unfinished index`: the same with that index dropped (not a proposal:
 *   `GET /jobs?status=` and the dispatcher read through them), to size its upkeep.
 * - `frame 2 writes`: the durable frame's statements (`bench/floor/server.ts`): a multi-row
 *   `INSERT … RETURNING id`, then `UPDATE … WHERE id IN (…) RETURNING id` to `printed`, on a table with no
 *   index, trigger or event log; the same WAL and `synchronous = FULL`.
 * - `frame 4 writes`: the frame's statements for Printhop's four steps.
 * - `frame 4 writes + event log`: and Printhop's event-log table and triggers (one row per change).
 * - `frame 4 writes + event log + Printhop's table`: and Printhop's `print_jobs` as its migrations make it (its
 *   columns, uid, and three indexes), each move writing the stamp Printhop writes. What is left between this
 *   line and `printhop` is Printhop's own way of writing: its SQL text, the read after each commit, its JavaScript.
 * - `… + read after commit`: and after each statement, Printhop's read of the new events joined with their jobs,
 *   as the store reads them (`eventsAsJson`: each event one JSON text, mapped by `toJobEvent`).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import sqlite3 from 'sqlite3';
import { toSqlite } from '../broker-server/db/sql-client';
import { Database } from '../broker-server/store/database';
import { cpuMs } from './proc-cpu';
import { eventsAsJson } from '../broker-server/store/sqlite-print-store';

export const STORE_COST_VARIANTS = [
  'printhop',
  'printhop -status index',
  'printhop -unfinished index',
  'frame 2 writes',
  'frame 4 writes',
  'frame 4 writes + event log',
  "frame 4 writes + event log + Printhop's table",
  "frame 4 writes + event log + Printhop's table + read after commit",
] as const;
type Variant = (typeof STORE_COST_VARIANTS)[number];

export interface StoreCost {
  variant: Variant;
  batch: number;
  jobs: number;
  /** CPU µs a job: the whole process, its main thread, and the rest (SQLite on libuv's pool, GC threads). */
  process: number;
  main: number;
  other: number;
  /** Wall-clock µs a job. */
  wall: number;
}

const mainThreadMicros = () => cpuMs(process.pid, true) * 1000;
const processMicros = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** One step of a batch: its writes started together, all awaited. */
type Cycle = (round: number) => Promise<void>;

/** A variant's cycle; how many jobs its table holds `printed` (each run checks that all of them are); its stop. */
interface Run {
  cycle: Cycle;
  printed: () => Promise<number>;
  stop: () => Promise<void>;
}

async function printhopCycle(dir: string, batch: number, variant: Variant): Promise<Run> {
  const db = new Database({ dataDir: dir, databaseUrl: null }, pino({ level: 'warn' }));
  await db.start();
  if (variant === 'printhop -status index') await db.sql.run('DROP INDEX print_jobs_status');
  if (variant === 'printhop -unfinished index') await db.sql.run('DROP INDEX print_jobs_unfinished');
  const store = db.createPrintStore();
  const cycle: Cycle = async (round) => {
    const made = await Promise.all(
      Array.from({ length: batch }, (_, i) =>
        store.insert({
          printerId: `printer-${i % 10}`,
          content: `job ${round}-${i}: a message of a few words`,
          kind: 'message',
          reprintOf: null,
        }),
      ),
    );
    for (const to of ['sent', 'received', 'printed'] as const)
      await Promise.all(made.map((job) => store.transition({ id: job.id, to, at: new Date(), uid: job.uid })));
  };
  const printed = async () =>
    Number((await db.sql.get<{ n: number }>("SELECT COUNT(*) AS n FROM print_jobs WHERE status = 'printed'"))?.n);
  return { cycle, printed, stop: () => db.stop() };
}

/** `print_jobs` and its indexes as Printhop's migrations leave them (`sqlite_master` of a migrated database). */
const PRINTHOP_TABLE =
  "CREATE TABLE print_jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, printer_id VARCHAR(64) NOT NULL, content TEXT NOT NULL, status VARCHAR(16) NOT NULL DEFAULT 'pending', error TEXT, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL, sent_at DATETIME, received_at DATETIME, printed_at DATETIME, finished_at DATETIME, reprint_of INTEGER, kind VARCHAR(16) NOT NULL DEFAULT 'message', created_by VARCHAR(80), uid VARCHAR(36))";
const PRINTHOP_INDEXES = [
  'CREATE INDEX print_jobs_status ON print_jobs (status, id)',
  'CREATE UNIQUE INDEX print_jobs_uid ON print_jobs (uid)',
  "CREATE INDEX print_jobs_unfinished ON print_jobs (printer_id, id) WHERE status IN ('pending', 'sent', 'received')",
];

const EVENT_LOG = [
  `CREATE TABLE job_events (id INTEGER PRIMARY KEY AUTOINCREMENT, job_id INTEGER NOT NULL, printer_id TEXT NOT NULL, status TEXT NOT NULL, at TEXT NOT NULL)`,
  `CREATE TRIGGER job_events_insert AFTER INSERT ON print_jobs BEGIN
     INSERT INTO job_events (job_id, printer_id, status, at) VALUES (NEW.id, NEW.printer_id, NEW.status, NEW.updated_at); END`,
  `CREATE TRIGGER job_events_update AFTER UPDATE OF status ON print_jobs WHEN OLD.status IS NOT NEW.status BEGIN
     INSERT INTO job_events (job_id, printer_id, status, at) VALUES (NEW.id, NEW.printer_id, NEW.status, NEW.updated_at); END`,
];

async function frameCycle(dir: string, batch: number, variant: Variant): Promise<Run> {
  const db = new sqlite3.Database(path.join(dir, 'frame.sqlite'));
  const all = (sql: string, params: unknown[] = []) =>
    new Promise<Array<{ id: number }>>((resolve, reject) =>
      db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as Array<{ id: number }>))),
    );
  await all('PRAGMA journal_mode = WAL');
  await all('PRAGMA synchronous = FULL');
  const printhopTable = variant.includes("Printhop's table");
  const readAfter = variant.endsWith('read after commit');
  let lastEvent = 0;
  // The store's own read (sqlite-print-store.ts) on this connection, its `$n` as sqlite3's `?n` (as SqliteClient).
  const runner = {
    all: <T extends object>(sql: string, params: readonly unknown[] = []) =>
      all(toSqlite(sql), [...params]) as unknown as Promise<T[]>,
  };
  const readEvents = async () => {
    if (!readAfter) return;
    lastEvent = (await eventsAsJson(runner, lastEvent)).at(-1)?.id ?? lastEvent;
  };
  await all(
    printhopTable
      ? PRINTHOP_TABLE
      : 'CREATE TABLE print_jobs (id INTEGER PRIMARY KEY, printer_id TEXT NOT NULL, content TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)',
  );
  if (printhopTable) for (const sql of PRINTHOP_INDEXES) await all(sql);
  if (variant.includes('event log')) for (const sql of EVENT_LOG) await all(sql);
  const first = printhopTable ? 'pending' : 'queued';
  const steps: Array<[string, string]> =
    variant === 'frame 2 writes'
      ? [[first, 'printed']]
      : [
          [first, 'sent'],
          ['sent', 'received'],
          ['received', 'printed'],
        ];
  /** The stamps Printhop's moves write beside the status. */
  const stamp: Record<string, string> = printhopTable
    ? { sent: ', sent_at = ?1', received: ', received_at = ?1', printed: ', printed_at = ?1, finished_at = ?1' }
    : {};
  /** Printhop's table holds dates as Sequelize writes them (`2026-12-07 13:31:10.669 +00:00`). */
  const stampNow = () => {
    const iso = new Date().toISOString();
    return printhopTable ? `${iso.slice(0, 10)} ${iso.slice(11, 23)} +00:00` : iso;
  };
  const cycle: Cycle = async (round) => {
    const now = stampNow();
    const rows = await all(
      printhopTable
        ? `INSERT INTO print_jobs (uid, printer_id, content, kind, status, created_at, updated_at) VALUES ${Array.from({ length: batch }, () => "(?, ?, ?, 'message', 'pending', ?, ?)").join(', ')} RETURNING id`
        : `INSERT INTO print_jobs (printer_id, content, status, created_at, updated_at) VALUES ${Array.from({ length: batch }, () => "(?, ?, 'queued', ?, ?)").join(', ')} RETURNING id`,
      Array.from({ length: batch }, (_, i) => [
        ...(printhopTable ? [randomUUID()] : []),
        `printer-${i % 10}`,
        `job ${round}-${i}: a message of a few words`,
        now,
        now,
      ]).flat(),
    );
    await readEvents();
    const ids = rows.map((r) => r.id);
    for (const [from, to] of steps) {
      await all(
        `UPDATE print_jobs SET status = '${to}', updated_at = ?1${stamp[to] ?? ''} WHERE status = '${from}' AND id IN (${ids.map(() => '?').join(', ')}) RETURNING id`,
        [stampNow(), ...ids],
      );
      await readEvents();
    }
  };
  const printed = async () =>
    Number(
      ((await all("SELECT COUNT(*) AS id FROM print_jobs WHERE status = 'printed'")) as Array<{ id: number }>)[0]!.id,
    );
  return { cycle, printed, stop: () => new Promise<void>((resolve) => db.close(() => resolve())) };
}

/** One variant in this process: a warm-up, then `jobs` jobs, `batch` at a time. */
export async function storeCost(variant: Variant, batch: number, jobs: number): Promise<StoreCost> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-store-cost-'));
  try {
    const { cycle, printed, stop } = variant.startsWith('printhop')
      ? await printhopCycle(dir, batch, variant)
      : await frameCycle(dir, batch, variant);
    for (let round = 0; round < 10; round++) await cycle(-round - 1);
    const rounds = Math.max(1, Math.round(jobs / batch));
    const [cpu0, main0, t0] = [processMicros(), mainThreadMicros(), process.hrtime.bigint()];
    for (let round = 0; round < rounds; round++) await cycle(round);
    const [cpu1, main1, t1] = [processMicros(), mainThreadMicros(), process.hrtime.bigint()];
    const n = rounds * batch;
    const done = await printed();
    await stop();
    if (done !== n + 10 * batch) throw new Error(`${variant}: ${done} jobs printed of ${n + 10 * batch}`);
    const round1 = (x: number) => Math.round(x * 10) / 10;
    return {
      variant,
      batch,
      jobs: n,
      process: round1((cpu1 - cpu0) / n),
      main: round1((main1 - main0) / n),
      other: round1((cpu1 - cpu0 - (main1 - main0)) / n),
      wall: round1(Number(t1 - t0) / 1000 / n),
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.split('=')[1]) : fallback;
}

async function main(): Promise<void> {
  const only = process.env.STORE_COST_VARIANT as Variant | undefined;
  const batch = option('batch', 50);
  const jobs = option('jobs', 7500);
  if (only) {
    process.stdout.write(JSON.stringify(await storeCost(only, batch, jobs)));
    return;
  }
  const repeat = option('repeat', 3);
  const results = new Map<Variant, StoreCost[]>(STORE_COST_VARIANTS.map((v) => [v, []]));
  for (let r = 0; r < repeat; r++)
    for (const variant of STORE_COST_VARIANTS) {
      const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1]!, ...process.argv.slice(2)], {
        env: { ...process.env, STORE_COST_VARIANT: variant },
        encoding: 'utf8',
      });
      results.get(variant)!.push(JSON.parse(out) as StoreCost);
    }
  const load = os.loadavg()[0]!.toFixed(2);
  console.log(`store cost, ${jobs} jobs ${batch} at a time, ${repeat} runs each in turn (load ${load}); CPU µs a job:`);
  console.log('| variant | process | main thread | other threads | wall |');
  console.log('| --- | --- | --- | --- | --- |');
  const list = (xs: StoreCost[], k: 'process' | 'main' | 'other' | 'wall') => xs.map((x) => x[k]).join(' / ');
  for (const [variant, xs] of results)
    console.log(
      `| ${variant} | ${list(xs, 'process')} | ${list(xs, 'main')} | ${list(xs, 'other')} | ${list(xs, 'wall')} |`,
    );
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) void main();
