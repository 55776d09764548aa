/**
 * Issue 24, with the built programs (`npm run build`, plain node): the server's database replaced by an
 * empty one (a reinstall) and restored from a backup, while the agent keeps its journal. Numbers repeat in
 * both cases; the paper, decoded, must hold every job exactly once, and no job may be `printed` that is not
 * on it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sqlite3 from 'sqlite3';
import { DATABASE_FILE } from '../../broker-server/store/database';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import type { PrinterInfo } from '../../broker-server/printers/printer-status-list';
import { builtPrograms } from '../support/built-programs';
import { type ChildProgram, ServerProcess, spawnAgent } from '../support/child-programs';
import { getJson, postJson, tempDir, waitFor } from '../support/harness';
import { allFinal, auditPaper, readPaper } from '../support/paper-audit';

const printerIs = (baseUrl: string, state: PrinterInfo['state']) =>
  waitFor(
    `printer-1 ${state}`,
    async () =>
      (await getJson<PrinterInfo[]>(baseUrl, '/printers')).json.find((p) => p.id === 'printer-1')?.state === state,
    30_000,
    100,
  );

async function print(baseUrl: string, content: string): Promise<PrintJob> {
  const res = await postJson(baseUrl, '/print', { content });
  assert.equal(res.status, 201, JSON.stringify(res.json));
  return res.json as PrintJob;
}

const finalJob = (baseUrl: string, id: number) =>
  waitFor(
    `job ${id} final`,
    async () => {
      const { json } = await getJson<PrintJob>(baseUrl, `/jobs/${id}`);
      return ['printed', 'failed', 'interrupted'].includes(json.status) ? json : null;
    },
    30_000,
    100,
  );

/** A backup of a running server's SQLite database, as `sqlite3 printhop.sqlite "VACUUM INTO 'backup'"` takes it. */
async function backup(dataDir: string, file: string): Promise<void> {
  const db = new sqlite3.Database(path.join(dataDir, DATABASE_FILE));
  try {
    await new Promise<void>((resolve, reject) =>
      db.run('VACUUM INTO ?', [file], (err) => (err ? reject(err) : resolve())),
    );
  } finally {
    await new Promise<void>((resolve) => db.close(() => resolve()));
  }
}

/** The database files of a server's DATA_DIR (SQLite in WAL mode: the file, its -wal and -shm). */
const databaseFiles = (dataDir: string) =>
  ['', '-wal', '-shm'].map((suffix) => path.join(dataDir, DATABASE_FILE + suffix));

test('a reinstalled server (empty database) and a restored backup: every job on paper exactly once, none printed that is not (built programs)', async (t) => {
  const dist = path.join(await builtPrograms(t), 'dist');
  const program = path.join(dist, 'printhop-server.mjs');
  const dir = tempDir(t);
  const dataA = path.join(dir, 'server-a');
  const paperFile = path.join(dir, 'paper.prn');
  const serverA = await ServerProcess.create(t, dataA, { program });
  const agentOptions = {
    mqttUrl: serverA.tcpUrl,
    printer: `file:${paperFile}`,
    dataDir: path.join(dir, 'agent'),
    credentials: serverA.credentials({ printerId: 'printer-1' }),
    program: path.join(dist, 'printhop-agent.mjs'),
    env: { LOG_LEVEL: 'info' },
  };
  let agent: ChildProgram = spawnAgent(t, agentOptions, 'agent#1');
  await printerIs(serverA.baseUrl, 'online');

  // 1. Server A: job 1 prints once.
  const a1 = await finalJob(serverA.baseUrl, (await print(serverA.baseUrl, 'A: job 1')).id);
  assert.equal(a1.status, 'printed');
  // A backup taken after job 1, while job 2 waits (its agent stopped): job 2 is unfinished in the backup.
  await agent.kill('SIGTERM');
  await printerIs(serverA.baseUrl, 'offline');
  const a2 = await print(serverA.baseUrl, 'A: job 2, unfinished in the backup');
  const backupFile = path.join(dir, 'backup-after-job-1.sqlite');
  await backup(dataA, backupFile);
  agent = spawnAgent(t, agentOptions, 'agent#2');
  assert.equal((await finalJob(serverA.baseUrl, a2.id)).status, 'printed');
  const a3 = await finalJob(serverA.baseUrl, (await print(serverA.baseUrl, 'A: job 3, after the backup')).id);
  assert.equal(a3.status, 'printed');
  await serverA.kill('SIGTERM');

  // 2. Server B at the same address, with A's settings and tokens but a new, empty database (a reinstall).
  const dataB = path.join(dir, 'server-b');
  fs.cpSync(dataA, dataB, { recursive: true, filter: (src) => !databaseFiles(dataA).includes(src) });
  const serverB = await ServerProcess.create(t, dataB, {
    program,
    ports: { httpPort: serverA.httpPort, mqttPort: serverA.mqttPort },
  });
  await printerIs(serverB.baseUrl, 'online');
  const b1 = await print(serverB.baseUrl, 'B: job 1 of an empty database');
  assert.equal(b1.id, a1.id, 'the new database numbers its first job 1 again');
  const onB = await allFinal(serverB.baseUrl, 30_000);
  await serverB.kill('SIGTERM');

  // 3. Server A restored from the backup taken after job 1.
  for (const file of databaseFiles(dataA)) fs.rmSync(file, { force: true });
  fs.copyFileSync(backupFile, path.join(dataA, DATABASE_FILE));
  await serverA.start();
  await printerIs(serverA.baseUrl, 'online');
  const r3 = await print(serverA.baseUrl, 'A restored: the next job, numbered 3 again');
  assert.equal(r3.id, a3.id, 'the restored database numbers the next job like the one printed after the backup');
  const restored = await allFinal(serverA.baseUrl, 30_000);
  // Job 2, unfinished in the backup and printed since, is sent again under its uid: answered, not printed again.
  const again = restored.find((j) => j.id === a2.id)!;
  assert.deepEqual([again.uid, again.status], [a2.uid, 'printed']);
  assert.match(agent.output, new RegExp(`"uid":"${a2.uid}".*job already seen: not printed again`));

  const jobs = [...restored, a3, ...onB];
  assert.equal(new Set(jobs.map((j) => j.uid)).size, 5, 'five jobs, in three databases, numbered 1, 2, 3, 1, 3');
  const audit = auditPaper({ jobs, paper: readPaper(paperFile), accepted: [] });
  assert.deepEqual(audit.problems, []);
  assert.equal(audit.printed.length, 5);
  assert.deepEqual(audit.paperOrder, [
    'A: job 1',
    'A: job 2, unfinished in the backup',
    'A: job 3, after the backup',
    'B: job 1 of an empty database',
    'A restored: the next job, numbered 3 again',
  ]);
});
