/**
 * Several server instances on one PostgreSQL database and one Mosquitto broker: what they share
 * (jobs, the live stream of changes), what only one of them does (re-publication, per printer), and
 * exactly-once printing when one of them is killed in the middle of a stream of jobs.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import pg from 'pg';
import { newInstanceId } from '../../broker-server/cluster/instance-id';
import { PostgresPrinterClaims } from '../../broker-server/cluster/postgres-printer-claims';
import { JobService, type PrintJob } from '../../broker-server/jobs/job-service';
import { topics } from '../../protocol/topics';
import {
  connectClient,
  getJson,
  postJson,
  startTestAgent,
  startTestDatabase,
  startTestServer,
  tempDir,
  testLogger,
  waitFor,
  type TestServer,
} from '../support/harness';
import {
  cleanupStack,
  createTestDatabase,
  externalServicesMissing,
  freePort,
  postgresMissing,
  startMosquitto,
  testBrokerAccounts,
} from '../support/services';
import { readSse } from '../support/sse';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Every event of GET /jobs/events, as it arrives (closed before the server stops, which would otherwise wait for it). */
async function watchEvents(server: TestServer): Promise<Array<{ event: string; job: PrintJob }>> {
  const controller = new AbortController();
  server.external!.defer(async () => controller.abort());
  const res = await fetch(`${server.baseUrl}/jobs/events`, { signal: controller.signal });
  const events: Array<{ event: string; job: PrintJob }> = [];
  void readSse(res.body!, ({ event, data }) => {
    if (event === 'job' && data) events.push({ event, job: JSON.parse(data) as PrintJob });
  });
  return events;
}

async function twoInstances(t: TestContext, overrides = {}): Promise<[TestServer, TestServer]> {
  const a = await startTestServer(t, { stallAfterMs: 0, ...overrides }, { mode: 'external' });
  const b = await startTestServer(t, { stallAfterMs: 0, ...overrides }, { join: a });
  return [a, b];
}

test(
  'two instances on one database: racing transitions of the same jobs apply once each, forward only, without deadlock',
  { skip: postgresMissing() },
  async (t) => {
    const databaseUrl = await createTestDatabase();
    const services = await Promise.all(
      [0, 1].map(
        async () =>
          new JobService((await startTestDatabase(t, 'postgres', databaseUrl)).createPrintStore(), testLogger()),
      ),
    );
    const [a, b] = services as [JobService, JobService];
    const jobs = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).create({ printerId: 'p1', content: `j${i}` })),
    );
    const ids = jobs.map((j) => j.id);
    const uidOf = new Map(jobs.map((j) => [j.id, j.uid]));
    const at = new Date().toISOString();
    // The same transitions from both instances at once, in opposite orders (their batches lock the same rows).
    const results = await Promise.all([
      ...ids.map((id) => a.transition(id, 'sent')),
      ...[...ids].reverse().map((id) => b.transition(id, 'sent')),
      ...ids.map((id) => a.applyAck('p1', { id, uid: uidOf.get(id)!, status: 'printed', at })),
      ...[...ids].reverse().map((id) => b.applyAck('p1', { id, uid: uidOf.get(id)!, status: 'printed', at })),
      ...ids.map((id) => b.applyAck('p1', { id, uid: uidOf.get(id)!, status: 'received', at })),
    ]);
    const changed = results.filter((r) => r.changed).map((r) => `${r.job.id}:${r.job.status}`);
    assert.equal(new Set(changed).size, changed.length, 'no transition applied twice');
    for (const id of ids) assert.ok(changed.includes(`${id}:printed`), `job ${id} printed once`);
    const final = await Promise.all(ids.map((id) => a.queries.get(id)));
    assert.ok(final.every((j) => j?.status === 'printed'));
  },
);

test(
  "each printer's re-publication belongs to one instance, and passes to another when that instance's connection dies",
  { skip: postgresMissing() },
  async (t) => {
    const databaseUrl = await createTestDatabase();
    const [a, b] = [
      new PostgresPrinterClaims(databaseUrl, newInstanceId(), testLogger()),
      new PostgresPrinterClaims(databaseUrl, newInstanceId(), testLogger()),
    ];
    await Promise.all([a.start(), b.start()]);
    t.after(() => Promise.all([a.stop(), b.stop()]));
    assert.equal(await a.claim('p1'), true);
    assert.equal(await a.claim('p1'), true, 'an instance keeps its claim');
    assert.equal(await b.claim('p1'), false);
    // A crash, as PostgreSQL sees it: the backend holding the claim goes away.
    const admin = new pg.Client({ connectionString: databaseUrl });
    await admin.connect();
    t.after(() => admin.end());
    const { rowCount } = await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()",
    );
    assert.equal(rowCount, 1);
    await waitFor('the other instance takes the printer over', () => b.claim('p1'));
    assert.equal(await b.claim('p2'), true);
    await waitFor('the first instance back on its own connection', async () => (await a.claim('p3')) === true);
    assert.equal(await a.claim('p1'), false, 'and it no longer believes it holds what it lost');
    assert.equal(await a.claim('p2'), false);
  },
);

test(
  "the live stream of each instance shows every job's changes, whichever instance applied them, never backwards",
  { skip: externalServicesMissing() },
  async (t) => {
    const [a, b] = await twoInstances(t);
    const streams = [await watchEvents(a), await watchEvents(b)] as const;
    const statuses = (events: Array<{ job: PrintJob }>, id: number) =>
      events.filter((e) => e.job.id === id).map((e) => e.job.status);

    // No agent yet: each job is created and sent by the instance that accepted it, and by no other.
    const ids: number[] = [];
    for (let i = 0; i < 20; i++)
      ids.push(((await postJson((i % 2 ? b : a).baseUrl, '/print', { content: `flux ${i}` })).json as PrintJob).id);
    for (const [n, events] of streams.entries()) {
      await waitFor(
        `stream ${n} shows every job sent`,
        () => ids.every((id) => statuses(events, id).includes('sent')),
        3000,
      ).catch((err) => {
        throw new Error(`${err}: ${ids.map((id) => statuses(events, id).join('+')).join(' ')}`);
      });
      for (const id of ids) assert.deepEqual(statuses(events, id), ['pending', 'sent'], `stream ${n}, job ${id}`);
      assert.ok(
        events.every((e) => e.job.content.startsWith('flux ')),
        'with their content',
      );
    }

    // Acks go to either instance (shared subscription); both streams show every job printed.
    await startTestAgent(t, a, { printerId: 'printer-1', mqttUrl: a.tcpUrl });
    for (const [n, events] of streams.entries()) {
      await waitFor(`stream ${n} shows every job printed`, () =>
        ids.every((id) => statuses(events, id).includes('printed')),
      );
      for (const id of ids) {
        const seen = statuses(events, id);
        assert.deepEqual(seen.slice(0, 2), ['pending', 'sent']);
        assert.ok(
          ['printed', 'received,printed'].includes(seen.slice(2).join()),
          `stream ${n}, job ${id}: ${seen.join()}`,
        );
      }
    }
  },
);

test(
  'an agent coming online gets its unfinished jobs re-published by one instance only',
  { skip: externalServicesMissing() },
  async (t) => {
    const [a, b] = await twoInstances(t);
    const watcher = await connectClient(t, a, 'debug', { clientId: 'watcher' });
    const published: string[] = [];
    watcher.on('message', (_topic, payload) => published.push(payload.toString()));
    await watcher.subscribeAsync(topics.jobs('printer-1'), { qos: 1 });
    const ids: number[] = [];
    for (let i = 0; i < 6; i++)
      ids.push(
        ((await postJson((i % 2 ? b : a).baseUrl, '/print', { content: `en attente ${i}` })).json as PrintJob).id,
      );
    await Promise.all([a.dispatcher.idle(), b.dispatcher.idle()]);
    const seenOnline = [a, b].map(
      (s) =>
        new Promise<void>((resolve) =>
          s.printers.events.on('printer', (p) => p.id === 'printer-1' && p.state === 'online' && resolve()),
        ),
    );

    const agent = await startTestAgent(t, a, { printerId: 'printer-1', mqttUrl: a.tcpUrl });
    for (const id of ids)
      await waitFor(
        `job ${id} printed`,
        async () => (await getJson<PrintJob>(b.baseUrl, `/jobs/${id}`)).json.status === 'printed',
      );
    await Promise.all(seenOnline);
    await new Promise((r) => setImmediate(r));
    await Promise.all([a.dispatcher.idle(), b.dispatcher.idle()]);
    // Everything either instance published has reached the watcher before this.
    const barrier = await connectClient(t, a, 'server', { clientId: 'barrier' });
    await barrier.publishAsync(topics.jobs('printer-1'), 'barrier', { qos: 1 });
    await waitFor('the barrier', () => published.includes('barrier'));

    const count = (id: number) =>
      published.filter((p) => p !== 'barrier' && (JSON.parse(p) as { id: number }).id === id).length;
    assert.deepEqual(
      ids.map(count),
      ids.map(() => 2),
      'each job: once by the instance that accepted it, once re-published by one instance',
    );
    assert.equal(agent.paper().receipts.length, ids.length);
  },
);

// ---------- two server processes, three agents, 1,000 jobs, one instance killed ----------

const JOBS = 1000;
const KILL_AFTER = 400;
const PRINTERS = ['p1', 'p2', 'p3'];

interface Instance {
  name: string;
  child: ChildProcess;
  baseUrl: string;
  log: () => string;
}

async function startInstance(
  t: TestContext,
  name: string,
  env: Record<string, string>,
  defer: (stop: () => Promise<unknown>) => void,
): Promise<Instance> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'broker-server/main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      ...env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATA_DIR: tempDir(t, `printhop-${name}-`),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (d: Buffer) => (log = (log + d.toString()).slice(-20_000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitFor(`instance ${name} up`, async () => (await fetch(`${baseUrl}/health`)).ok, 30_000, 100);
  return { name, child, baseUrl, log: () => log };
}

test(
  `two server processes, three agents, ${JOBS} jobs round-robin, one instance killed mid-stream: every accepted job printed exactly once`,
  { skip: externalServicesMissing() },
  async (t) => {
    const defer = cleanupStack(t);
    const broker = await startMosquitto(t, testBrokerAccounts(PRINTERS), defer);
    const databaseUrl = await createTestDatabase();
    const env = {
      MQTT_URL: broker.tcpUrl,
      MQTT_USERNAME: broker.accounts.server.username,
      MQTT_PASSWORD: broker.accounts.server.password,
      MQTT_PORT: '-1',
      DATABASE_URL: databaseUrl,
      PRINTERS: PRINTERS.join(','),
      DEFAULT_PRINTER_ID: 'p1',
      STALL_AFTER_S: '3',
      // One client address posts everything: the per-address rate limit is tested on its own.
      PRINT_RATE_PER_MINUTE: '0',
    };
    const instances = [await startInstance(t, 'a', env, defer), await startInstance(t, 'b', env, defer)] as [
      Instance,
      Instance,
    ];
    const target = { external: { broker, databaseUrl, defer }, wsUrl: broker.wsUrl };
    const agents = await Promise.all(
      PRINTERS.map((printerId) => startTestAgent(t, target, { printerId, mqttUrl: broker.tcpUrl })),
    );
    for (const instance of instances) {
      await waitFor(`${instance.name} sees the printers online`, async () => {
        const printers = (await getJson<Array<{ id: string; state: string }>>(instance.baseUrl, '/printers')).json;
        return PRINTERS.every((id) => printers.find((p) => p.id === id)?.state === 'online');
      });
    }

    const accepted = new Map<number, string>();
    let refused = 0;
    let started = 0;
    let killedAt = -1;
    const post = async (i: number) => {
      const instance = instances[i % 2]!;
      const content = `multi ${i}`;
      try {
        const res = await postJson(instance.baseUrl, '/print', { content, printerId: PRINTERS[i % 3] });
        if (res.status === 201) accepted.set((res.json as PrintJob).id, content);
        else refused++;
      } catch {
        refused++; // no answer: not accepted (it may still be stored, and must then print once too)
      }
    };
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (started < JOBS) {
          const i = started++;
          if (i === KILL_AFTER) {
            killedAt = accepted.size;
            instances[0].child.kill('SIGKILL');
          }
          await post(i);
        }
      }),
    );
    assert.equal(
      instances[0].child.signalCode ?? (await new Promise((r) => instances[0].child.once('exit', (_c, s) => r(s)))),
      'SIGKILL',
    );
    assert.ok(killedAt > KILL_AFTER / 2, `instance a accepted jobs before it was killed (${killedAt})`);
    assert.ok(refused > 0 && accepted.size > JOBS / 2, `accepted ${accepted.size}, refused ${refused}`);

    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    t.after(() => db.end());
    const unfinished = async () =>
      (await db.query("SELECT count(*)::int AS n FROM print_jobs WHERE status <> 'printed'")).rows[0].n as number;
    await waitFor(
      `every stored job printed (instance b: ${instances[1].log().slice(-2000)})`,
      async () => (await unfinished()) === 0,
      120_000,
      250,
    );

    const stored = (await db.query('SELECT id, printer_id, content FROM print_jobs ORDER BY id')).rows as Array<{
      id: number;
      printer_id: string;
      content: string;
    }>;
    for (const [id, content] of accepted)
      assert.equal(stored.find((r) => r.id === id)?.content, content, `accepted job ${id} is stored`);
    const onPaper = new Map<string, number>();
    for (const [n, agent] of agents.entries()) {
      const paper = agent.paper();
      assert.deepEqual(paper.unexpected, []);
      for (const receipt of paper.receipts) {
        const content = receipt.lines[3]!;
        onPaper.set(content, (onPaper.get(content) ?? 0) + 1);
        const row = stored.find((r) => r.content === content);
        assert.equal(row?.printer_id, PRINTERS[n], `${content} printed on its own printer`);
      }
    }
    const twice = [...onPaper].filter(([, count]) => count > 1);
    assert.deepEqual(twice, [], 'nothing printed twice');
    const missing = stored.filter((r) => onPaper.get(r.content) !== 1);
    assert.deepEqual(missing, [], 'every stored job on paper once');
    assert.equal(onPaper.size, stored.length);
    t.diagnostic(
      `accepted ${accepted.size} (${killedAt} before the kill), refused ${refused}, stored ${stored.length}, printed ${onPaper.size}`,
    );
  },
);
