/**
 * Fault injection with real processes: the server and the agent are child processes (SIGKILL, SIGTERM),
 * the network between them goes through a proxy the test cuts, and the printer is a virtual network
 * printer that can be switched off or fail mid-receipt. Each scenario pushes at least 200 jobs through,
 * then audits the paper against the API: printed exactly once, or interrupted (at most once on paper),
 * or failed with a reason (not on paper); nothing lost, nothing twice.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import mqtt from 'mqtt';
import { Database } from '../../broker-server/store/database';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import type { PrinterInfo } from '../../broker-server/printers/printer-status-list';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import { topics } from '../../protocol/topics';
import { ServerProcess, spawnAgent } from '../support/child-programs';
import { getJson, postJson, startVirtualPrinter, tempDir, testLogger, waitFor } from '../support/harness';
import { MqttProxy, type Packet } from '../support/mqtt-proxy';
import { allFinal, allJobs, auditPaper, type AuditResult, readPaper } from '../support/paper-audit';

const N = 200;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Posts one job; its id when the server answered 201, null when it was down or refused. */
async function post(baseUrl: string, content: string): Promise<number | null> {
  try {
    const res = await postJson(baseUrl, '/print', { content });
    return res.status === 201 ? (res.json as PrintJob).id : null;
  } catch {
    return null;
  }
}

/** Posts until `count` more jobs are accepted, `paceMs` apart, going on through refusals (server down). */
async function postMany(baseUrl: string, prefix: string, count: number, accepted: number[], paceMs = 0): Promise<void> {
  let got = 0;
  for (let attempt = 0; got < count; attempt++) {
    const id = await post(baseUrl, `${prefix} ${attempt}`);
    if (id !== null) {
      accepted.push(id);
      got++;
    } else {
      await sleep(50);
    }
    if (paceMs) await sleep(paceMs);
  }
}

const FINAL = new Set(['printed', 'failed', 'interrupted']);

async function printerOne(baseUrl: string): Promise<PrinterInfo> {
  const { json } = await getJson<PrinterInfo[]>(baseUrl, '/printers');
  const printer = json.find((p) => p.id === 'printer-1');
  assert.ok(printer, 'printer-1 is listed');
  return printer;
}

const printerIs = (baseUrl: string, state: PrinterInfo['state'], timeoutMs = 30_000) =>
  waitFor(
    `printer-1 ${state}`,
    async () => ((await printerOne(baseUrl)).state === state ? printerOne(baseUrl) : null),
    timeoutMs,
    100,
  );

function report(t: TestContext, name: string, audit: AuditResult, extra = ''): void {
  t.diagnostic(
    `${name}: ${audit.printed.length} printed, ${audit.interrupted.length} interrupted (${audit.partial} partly on paper), ${audit.failed.length} failed${extra}`,
  );
}

/** The agent of printer-1 on `server` (its printer a paper file in `dir` unless `printer` is given), started and online. */
async function agentOnline(
  t: TestContext,
  server: ServerProcess,
  dir: string,
  options: { printer?: string; mqttUrl?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const paperFile = path.join(dir, 'paper.prn');
  spawnAgent(t, {
    mqttUrl: options.mqttUrl ?? server.wsUrl,
    printer: options.printer ?? `file:${paperFile}`,
    dataDir: path.join(dir, 'agent'),
    credentials: server.credentials({ printerId: 'printer-1' }),
    ...(options.env ? { env: options.env } : {}),
  });
  await printerIs(server.baseUrl, 'online');
  return paperFile;
}

const completeReceipts = (paper: Buffer) => decodeEscPos(paper).receipts.filter((r) => r.cut).length;

test('agent SIGKILLed again and again while printing: each job is on paper once, or interrupted (at most one per kill)', async (t) => {
  const dir = tempDir(t);
  const server = await ServerProcess.create(t, path.join(dir, 'server'));
  const paperFile = path.join(dir, 'paper.prn');
  const options = {
    mqttUrl: server.wsUrl,
    printer: `file:${paperFile}`,
    dataDir: path.join(dir, 'agent'),
    credentials: server.credentials({ printerId: 'printer-1' }),
  };
  let agent = spawnAgent(t, options, 'agent#1');
  await printerIs(server.baseUrl, 'online');

  const accepted: number[] = [];
  let posted = false;
  const posting = postMany(server.baseUrl, 'kill-agent', N, accepted, 15).finally(() => (posted = true));
  const paperSize = () => readPaper(paperFile).length;
  /** True once the agent is writing receipts again; false when there is nothing left to print. */
  const printingAgain = async (): Promise<boolean> => {
    const before = paperSize();
    const deadline = Date.now() + 30_000;
    for (let i = 0; Date.now() < deadline; i++) {
      if (paperSize() > before) return true;
      if (posted && i % 100 === 0 && (await allJobs(server.baseUrl)).every((j) => FINAL.has(j.status))) return false;
      await sleep(2);
    }
    throw new Error(`the agent printed nothing for 30 s: ${agent.output}`);
  };
  let kills = 0;
  while (kills < 8 && (await printingAgain())) {
    await sleep(Math.random() * 30);
    await agent.kill('SIGKILL');
    kills++;
    if (kills === 1) {
      const offline = await printerIs(server.baseUrl, 'offline');
      assert.ok(offline.lastSeenAt, 'the page can say when the printer was last seen');
    }
    agent = spawnAgent(t, options, `agent#${kills + 1}`);
  }
  await posting;
  const jobs = await allFinal(server.baseUrl);
  const audit = auditPaper({ jobs, paper: readPaper(paperFile), accepted });
  report(t, 'agent kills', audit, `, ${kills} kills`);
  assert.deepEqual(audit.problems, []);
  assert.ok(kills >= 4, `only ${kills} kills landed while printing`);
  assert.equal(jobs.length, N);
  assert.ok(audit.interrupted.length <= kills, `${audit.interrupted.length} interrupted for ${kills} kills`);
  assert.equal(audit.failed.length, 0);
  for (const job of audit.interrupted) assert.match(job.error ?? '', /may be partly printed/);
});

test('server SIGKILLed with jobs pending, sent, received and printed: nothing lost, nothing twice', async (t) => {
  const dir = tempDir(t);
  const server = await ServerProcess.create(t, path.join(dir, 'server'));
  const printer = await startVirtualPrinter(t);
  const options = {
    mqttUrl: server.wsUrl,
    printer: printer.url,
    dataDir: path.join(dir, 'agent'),
    credentials: server.credentials({ printerId: 'printer-1' }),
  };
  const agent = spawnAgent(t, options, 'agent#1');
  await printerIs(server.baseUrl, 'online');
  const accepted: number[] = [];
  const snapshots: Array<Record<string, number>> = [];
  const snapshot = async () => {
    const counts: Record<string, number> = {};
    for (const job of await allJobs(server.baseUrl)) counts[job.status] = (counts[job.status] ?? 0) + 1;
    snapshots.push(counts);
    return counts;
  };

  // 1. Killed mid-stream; then jobs committed by a server that died before publishing them.
  const first = postMany(server.baseUrl, 'kill-server a', 60, accepted, 10);
  await waitFor('30 accepted', () => accepted.length >= 30, 30_000);
  await snapshot();
  await server.kill('SIGKILL');
  const db = new Database(server.dataDir, testLogger());
  await db.start();
  const store = db.createPrintStore();
  for (let i = 0; i < 20; i++)
    await store.insert({
      printerId: 'printer-1',
      content: `kill-server pending ${i}`,
      kind: 'message',
      reprintOf: null,
    });
  await db.stop();
  await server.start();
  await first;

  // 2. Killed while the agent holds jobs it cannot print yet (printer off): they are `received`.
  await printer.stop();
  const second: number[] = [];
  await postMany(server.baseUrl, 'kill-server b', 60, second);
  accepted.push(...second);
  await waitFor(
    'jobs received by the agent',
    async () => (await allJobs(server.baseUrl)).some((j) => j.status === 'received'),
    30_000,
  );
  assert.ok(((await snapshot()).received ?? 0) > 0);
  await server.kill('SIGKILL');
  await server.start();
  await printer.start();

  // 3. Killed while its jobs are `sent`: published to an agent that is down, into a broker that dies with them.
  await allFinal(server.baseUrl);
  await agent.kill('SIGKILL');
  await printerIs(server.baseUrl, 'offline');
  const third: number[] = [];
  await postMany(server.baseUrl, 'kill-server c', 60, third);
  accepted.push(...third);
  // Each job's `sent` mark is committed after its publish (with the next commit, or within 100 ms).
  await waitFor(
    '60 jobs sent',
    async () => (await allJobs(server.baseUrl)).filter((j) => j.status === 'sent').length === 60,
    30_000,
  );
  assert.equal((await snapshot()).sent, 60);
  await server.kill('SIGKILL');
  await server.start();
  spawnAgent(t, options, 'agent#2');

  const jobs = await allFinal(server.baseUrl);
  const audit = auditPaper({ jobs, paper: printer.paper(), accepted });
  report(t, 'server kills', audit, `; states at the kills: ${JSON.stringify(snapshots)}`);
  assert.deepEqual(audit.problems, []);
  // A POST whose row was committed when the server died got no 201: not accepted, but stored, and printed too.
  assert.ok(jobs.length >= N && jobs.length <= N + 10, `${jobs.length} jobs stored for ${N} accepted`);
  const neverPublished = jobs.filter((j) => j.content.startsWith('kill-server pending'));
  assert.equal(neverPublished.length, 20);
  // Printed, or (like any job) cut short by the printer switch-off of step 2: never lost, never failed.
  assert.deepEqual(
    neverPublished
      .filter((j) => j.status !== 'printed' && j.status !== 'interrupted')
      .map((j) => `${j.id} ${j.status} ${j.error ?? ''}`),
    [],
    'jobs committed but never published reach the paper',
  );
  // Two faults can cut a receipt short here: the printer switched off (step 2) and the agent killed (step 3).
  assert.ok(
    audit.interrupted.length <= 2,
    `${audit.interrupted.length} interrupted for one printer switch-off and one agent kill`,
  );
  assert.equal(audit.failed.length, 0);
});

test('server (and its embedded broker) restarted with SIGTERM mid-stream: it exits cleanly and every job is printed once', async (t) => {
  const dir = tempDir(t);
  const server = await ServerProcess.create(t, path.join(dir, 'server'));
  const paperFile = await agentOnline(t, server, dir);
  const accepted: number[] = [];
  const posting = postMany(server.baseUrl, 'restart-broker', N, accepted, 10);
  for (const at of [50, 100, 150]) {
    await waitFor(`${at} accepted`, () => accepted.length >= at, 60_000);
    const exit = await server.kill('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null }, server.program?.output);
    await server.start();
    // The new broker knows nothing of the agent: it must say `online` again, which is also what makes the server re-publish.
    await printerIs(server.baseUrl, 'online');
  }
  await posting;
  const jobs = await allFinal(server.baseUrl);
  const audit = auditPaper({ jobs, paper: readPaper(paperFile), accepted });
  report(t, 'broker restarts', audit);
  assert.deepEqual(audit.problems, []);
  assert.ok(jobs.length >= N);
  assert.equal(audit.printed.length, jobs.length, 'no job is interrupted or failed by a broker restart');
});

test('network cut for 30 s between agent and server: jobs posted meanwhile are printed after reconnection, once, in order', async (t) => {
  const dir = tempDir(t);
  const server = await ServerProcess.create(t, path.join(dir, 'server'));
  const proxy = new MqttProxy(server.mqttPort);
  const proxyPort = await proxy.start(t);
  const paperFile = await agentOnline(t, server, dir, {
    mqttUrl: `mqtt://127.0.0.1:${proxyPort}`,
    env: { RECONNECT_MAX_MS: '3000' },
  });
  const accepted: number[] = [];
  await postMany(server.baseUrl, 'network-cut before', 10, accepted);
  await allFinal(server.baseUrl);

  proxy.cut();
  const cutAt = Date.now();
  await printerIs(server.baseUrl, 'offline');
  await postMany(server.baseUrl, 'network-cut during', N, accepted);
  await sleep(30_000 - (Date.now() - cutAt));
  const during = await allJobs(server.baseUrl);
  assert.equal(during.filter((j) => j.status === 'printed').length, 10, 'nothing crosses a cut network');
  const connectionsBefore = proxy.connections;
  proxy.restore();

  const jobs = await allFinal(server.baseUrl);
  const audit = auditPaper({ jobs, paper: readPaper(paperFile), accepted });
  report(t, 'network cut', audit, `, ${proxy.connections - connectionsBefore} reconnection(s)`);
  assert.deepEqual(audit.problems, []);
  assert.equal(audit.printed.length, N + 10);
  assert.deepEqual(
    audit.paperOrder,
    jobs.map((j) => j.content),
    'printed in the order they were posted',
  );
  assert.equal((await printerOne(server.baseUrl)).state, 'online');
});

test('printer switched off: jobs wait on the agent, the printer problem is shown, and all print once, in order, when it is back', async (t) => {
  const dir = tempDir(t);
  const server = await ServerProcess.create(t, path.join(dir, 'server'));
  const printer = await startVirtualPrinter(t);
  await printer.stop();
  await agentOnline(t, server, dir, { printer: printer.url });
  const accepted: number[] = [];
  await postMany(server.baseUrl, 'printer-off', N, accepted);
  const shown = await waitFor('the printer problem on GET /printers', async () => {
    const p = await printerOne(server.baseUrl);
    return /cannot reach the printer/.test(p.detail ?? '') ? p : null;
  });
  assert.equal(shown.state, 'online', 'the agent is online; its printer is not');
  await waitFor(
    'every job held by the agent',
    async () => (await allJobs(server.baseUrl)).every((j) => j.status === 'received'),
    30_000,
  );
  await sleep(1000);
  assert.equal(printer.paper().length, 0);

  await printer.start();
  const jobs = await allFinal(server.baseUrl);
  const audit = auditPaper({ jobs, paper: printer.paper(), accepted });
  report(t, 'printer off then on', audit);
  assert.deepEqual(audit.problems, []);
  assert.equal(audit.printed.length, N);
  assert.deepEqual(
    audit.paperOrder,
    jobs.map((j) => j.content),
    'printed in the order they were posted',
  );
  await waitFor('printer problem cleared', async () => {
    const p = await printerOne(server.baseUrl);
    return p.condition === 'ok' && !/cannot reach/.test(p.detail ?? '');
  });
});

test('printer off for longer than PRINTER_RETRY_LIMIT_MS: every job fails with the reason, nothing prints, and a reprint works once it is back', async (t) => {
  const dir = tempDir(t);
  const server = await ServerProcess.create(t, path.join(dir, 'server'));
  const printer = await startVirtualPrinter(t);
  await printer.stop();
  await agentOnline(t, server, dir, { printer: printer.url, env: { PRINTER_RETRY_LIMIT_MS: '2000' } });
  const accepted: number[] = [];
  await postMany(server.baseUrl, 'printer-gone', N, accepted);
  const jobs = await allFinal(server.baseUrl);
  const audit = auditPaper({ jobs, paper: printer.paper(), accepted });
  report(t, 'printer gone', audit);
  assert.deepEqual(audit.problems, []);
  assert.equal(audit.failed.length, N);
  for (const job of audit.failed) assert.match(job.error ?? '', /cannot reach the printer at tcp:\/\/127\.0\.0\.1:\d+/);

  await printer.start();
  const original = audit.failed[7]!;
  const res = await postJson(server.baseUrl, `/jobs/${original.id}/reprint`, {});
  assert.equal(res.status, 201);
  const reprint = res.json as PrintJob;
  assert.equal(reprint.reprintOf, original.id);
  assert.equal(reprint.content, original.content);
  await waitFor(
    'reprint printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${reprint.id}`)).json.status === 'printed',
  );
  assert.deepEqual(
    decodeEscPos(printer.paper()).receipts.map((r) => r.lines[3]),
    [original.content],
  );
  assert.equal(
    (await getJson<PrintJob>(server.baseUrl, `/jobs/${original.id}`)).json.status,
    'failed',
    'the original stays as it was',
  );
});

test('printer failing mid-receipt: those jobs are interrupted, never reprinted automatically; the rest print once; a reprint is a new job', async (t) => {
  const dir = tempDir(t);
  const server = await ServerProcess.create(t, path.join(dir, 'server'));
  const printer = await startVirtualPrinter(t);
  for (let n = 10; n <= N; n += 25) printer.failing.add(n);
  spawnAgent(t, {
    mqttUrl: server.wsUrl,
    printer: printer.url,
    dataDir: path.join(dir, 'agent'),
    credentials: server.credentials({ printerId: 'printer-1' }),
  });
  const accepted: number[] = [];
  await postMany(server.baseUrl, 'mid-write', N, accepted);
  const jobs = await allFinal(server.baseUrl);
  const audit = auditPaper({ jobs, paper: printer.paper(), accepted });
  report(t, 'printer failing mid-write', audit, `, ${printer.failed} failures injected`);
  assert.deepEqual(audit.problems, []);
  assert.equal(printer.failed, printer.failing.size);
  assert.equal(
    audit.interrupted.length,
    printer.failed,
    'each failure mid-receipt is reported, none is hidden as printed',
  );
  assert.equal(audit.partial, printer.failed, 'each is partly on paper');
  assert.equal(printer.receiptConnections, N, 'no job was sent to the printer twice');
  for (const job of audit.interrupted) assert.match(job.error ?? '', /may be partly printed.*(ECONNRESET|EPIPE)/);

  const original = audit.interrupted[0]!;
  const res = await postJson(server.baseUrl, `/jobs/${original.id}/reprint`, {});
  assert.equal(res.status, 201);
  const reprint = res.json as PrintJob;
  assert.equal(reprint.reprintOf, original.id);
  await waitFor(
    'reprint printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${reprint.id}`)).json.status === 'printed',
  );
  const receipts = decodeEscPos(printer.paper()).receipts.filter((r) => r.cut);
  assert.equal(receipts.length, N - printer.failed + 1);
  assert.equal(
    receipts.filter((r) => r.lines[3] === original.content).length,
    1,
    'the reprint is on paper once, whole',
  );
  assert.equal(
    (await getJson<PrintJob>(server.baseUrl, `/jobs/${original.id}`)).json.status,
    'interrupted',
    'the original stays interrupted',
  );
});

test('the same job published many times, before and after it printed: it is on paper once', async (t) => {
  const dir = tempDir(t);
  const server = await ServerProcess.create(t, path.join(dir, 'server'));
  const paperFile = await agentOnline(t, server, dir);
  const client = await mqtt.connectAsync(server.tcpUrl, {
    reconnectPeriod: 0,
    clientId: 'test-duplicator',
    ...server.credentials('server'),
  });
  t.after(() => client.endAsync(true));
  const acks: Array<{ id: number; status: string }> = [];
  await client.subscribeAsync(topics.acks('printer-1'), { qos: 1 });
  client.on('message', (_topic, payload) =>
    acks.push(JSON.parse(payload.toString()) as { id: number; status: string }),
  );
  const publishAll = async (jobs: PrintJob[], times: number) => {
    for (let k = 0; k < times; k++) {
      await Promise.all(
        jobs.map((j) =>
          client.publishAsync(
            topics.jobs('printer-1'),
            JSON.stringify({ id: j.id, uid: j.uid, content: j.content, createdAt: j.createdAt }),
            { qos: 1 },
          ),
        ),
      );
    }
  };

  const accepted: number[] = [];
  const posting = postMany(server.baseUrl, 'duplicate', N, accepted);
  while (accepted.length < N) {
    await publishAll(await allJobs(server.baseUrl), 1);
    await sleep(50);
  }
  await posting;
  await publishAll(await allJobs(server.baseUrl), 2);
  let jobs = await allFinal(server.baseUrl);
  const before = acks.length;
  await publishAll(jobs, 3);
  await waitFor('an ack for each copy of a printed job', () => acks.length - before >= 3 * N, 60_000);
  assert.ok(acks.slice(before).every((a) => a.status === 'printed'));
  jobs = await allFinal(server.baseUrl);
  const audit = auditPaper({ jobs, paper: readPaper(paperFile), accepted });
  report(t, 'duplicates', audit);
  assert.deepEqual(audit.problems, []);
  assert.equal(completeReceipts(readPaper(paperFile)), N);
  assert.equal(audit.printed.length, N);
});

test('acks lost after printing (swallowed on the network, then in an agent crash): re-sent, applied, and nothing printed twice', async (t) => {
  const dir = tempDir(t);
  const server = await ServerProcess.create(t, path.join(dir, 'server'));
  const proxy = new MqttProxy(server.mqttPort);
  const proxyPort = await proxy.start(t);
  const paperFile = path.join(dir, 'paper.prn');
  const options = {
    mqttUrl: `mqtt://127.0.0.1:${proxyPort}`,
    printer: `file:${paperFile}`,
    dataDir: path.join(dir, 'agent'),
    credentials: server.credentials({ printerId: 'printer-1' }),
  };
  const agent = spawnAgent(t, options, 'agent#1');
  await printerIs(server.baseUrl, 'online');
  const isPrintedAck = (packet: Packet) =>
    packet.cmd === 'publish' &&
    packet.topic === topics.acks('printer-1') &&
    /"status":"printed"/.test(packet.payload.toString());
  const half = N / 2;
  const accepted: number[] = [];
  const statuses = async () => new Set((await allJobs(server.baseUrl)).map((j) => j.status));

  // The `printed` acks vanish on the way; the connection then drops and the agent reconnects.
  proxy.dropFromClient = isPrintedAck;
  await postMany(server.baseUrl, 'ack-lost a', half, accepted);
  await waitFor(`${half} receipts on paper`, () => completeReceipts(readPaper(paperFile)) >= half, 60_000);
  await waitFor(
    'every job received: on paper, but the server does not know yet',
    async () => {
      const seen = await statuses();
      return seen.size === 1 && seen.has('received');
    },
    30_000,
  );
  assert.ok(proxy.dropped >= half);
  proxy.dropFromClient = null;
  proxy.cut();
  proxy.restore();
  await allFinal(server.baseUrl);

  // Again, but the agent is killed before it can re-send: the next one re-sends from its journal.
  proxy.dropFromClient = isPrintedAck;
  await postMany(server.baseUrl, 'ack-lost b', half, accepted);
  await waitFor(`${N} receipts on paper`, () => completeReceipts(readPaper(paperFile)) >= N, 60_000);
  // Their `received` acks went through (only `printed` ones are swallowed): waited for, as a loaded machine
  // may apply them after the receipts are on paper.
  await waitFor(
    `the ${half} jobs of the second half received`,
    async () => (await allJobs(server.baseUrl)).filter((j) => j.status === 'received').length === half,
    30_000,
  );
  await agent.kill('SIGKILL');
  proxy.dropFromClient = null;
  spawnAgent(t, options, 'agent#2');

  const jobs = await allFinal(server.baseUrl);
  const audit = auditPaper({ jobs, paper: readPaper(paperFile), accepted });
  report(t, 'acks lost', audit, `, ${proxy.dropped} acks swallowed`);
  assert.deepEqual(audit.problems, []);
  assert.equal(audit.printed.length, N);
  assert.equal(completeReceipts(readPaper(paperFile)), N);
});
