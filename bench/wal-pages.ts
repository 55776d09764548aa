/**
 * What a job costs SQLite's WAL: pages written per job by the real job store (migrations, group commit,
 * triggers), for jobs that go through one at a time and in batches over ten printers. Each page is one WAL
 * frame (its 24-byte header and 4 KiB: two `pwrite64` calls), and a checkpoint later copies each distinct page
 * into the database file once more. Each step starts with an empty WAL (`wal_checkpoint(TRUNCATE)`) and ends
 * with `wal_checkpoint(PASSIVE)`, whose `log` column is the number of frames the WAL then holds.
 *
 *   npx tsx bench/wal-pages.ts [JOBS]      (default 6,400; prints one line per batch size, then JSON)
 *
 * A job here is its insert and its three moves (`sent`, `received`, `printed`), each step of a batch started
 * together so that the group commit takes it as one commit, as under load; batch size 1 is a job alone, whose
 * `sent`, `received` and `printed` the agent's acks bring one at a time.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { Database } from '../broker-server/store/database';

export interface WalPages {
  batch: number;
  /** WAL pages (frames) a job, its four commits' shares together. */
  framesPerJob: number;
  /** Pages a commit of each step. */
  perCommit: Record<string, number>;
}

/** `jobs` jobs through a new store's four steps, `batch` at a time. */
export async function walPages(jobs: number, batch: number): Promise<WalPages> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-wal-'));
  const db = new Database({ dataDir: dir, databaseUrl: null }, pino({ level: 'warn' }));
  await db.start();
  try {
    const store = db.createPrintStore();
    // On the store's own connection, between its commits (each step's promises are all settled).
    const empty = () => db.sql.all('PRAGMA wal_checkpoint(TRUNCATE)', []);
    const written = async () =>
      Number((await db.sql.all<{ log: number }>('PRAGMA wal_checkpoint(PASSIVE)', []))[0]!.log);
    const steps = { insert: 0, sent: 0, received: 0, printed: 0 };
    for (let done = 0; done < jobs; done += batch) {
      await empty();
      const made = await Promise.all(
        Array.from({ length: batch }, (_, i) =>
          store.insert({
            printerId: `printer-${(done + i) % 10}`,
            content: `job ${done + i}`,
            kind: 'message',
            reprintOf: null,
          }),
        ),
      );
      steps.insert += await written();
      for (const to of ['sent', 'received', 'printed'] as const) {
        await empty();
        await Promise.all(made.map((job) => store.transition({ id: job.id, to, at: new Date(), uid: job.uid })));
        steps[to] += await written();
      }
    }
    const commits = jobs / batch;
    return {
      batch,
      framesPerJob: Math.round((Object.values(steps).reduce((a, b) => a + b, 0) / jobs) * 100) / 100,
      perCommit: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, Math.round((v / commits) * 10) / 10])),
    };
  } finally {
    await db.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const jobs = Number(process.argv[2] ?? 6400);
  const results = [];
  for (const batch of [1, 8, 32]) {
    const r = await walPages(jobs, batch);
    results.push(r);
    console.log(
      `batch ${String(batch).padStart(2)}: ${r.framesPerJob} WAL pages a job; pages a commit: ${Object.entries(
        r.perCommit,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  }
  console.log(JSON.stringify({ bench: 'wal-pages', jobs, results }));
}
