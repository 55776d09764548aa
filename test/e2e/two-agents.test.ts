/**
 * Issue 24, "two agents, one identity", with the built programs: a second agent started with the same
 * printer id and token, under load. Without --takeover it is refused while the first holds the session (no
 * flapping, nothing on its paper); with --takeover it replaces the first, whose unfinished jobs end
 * `interrupted`. Either way no job is on two papers, and the page and GET /printers say what happened.
 */
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import type { PrinterInfo } from '../../broker-server/printers/printer-status-list';
import { builtPrograms } from '../support/built-programs';
import { type ChildProgram, ServerProcess, spawnAgent } from '../support/child-programs';
import { getJson, postJson, tempDir, waitFor } from '../support/harness';
import { allFinal, auditPaper, readPaper } from '../support/paper-audit';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function printerOne(baseUrl: string): Promise<PrinterInfo> {
  const printer = (await getJson<PrinterInfo[]>(baseUrl, '/printers')).json.find((p) => p.id === 'printer-1');
  assert.ok(printer);
  return printer;
}

/** Posts `count` jobs `paceMs` apart; their ids. */
async function postMany(baseUrl: string, prefix: string, count: number, paceMs: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    const res = await postJson(baseUrl, '/print', { content: `${prefix} ${i}` });
    assert.equal(res.status, 201);
    ids.push((res.json as PrintJob).id);
    await sleep(paceMs);
  }
  return ids;
}

/** Counts the agent's `connected to broker` lines from its start (its kept output is only the tail). */
function countConnects(agent: ChildProgram): () => number {
  let count = 0;
  let rest = '';
  agent.child.stdout!.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop()!;
    count += lines.filter((l) => l.includes('connected to broker')).length;
  });
  return () => count;
}

async function setup(t: TestContext) {
  const dist = path.join(await builtPrograms(t), 'dist');
  const dir = tempDir(t);
  const server = await ServerProcess.create(t, path.join(dir, 'server'), {
    program: path.join(dist, 'printhop-server.mjs'),
  });
  const agentOptions = (name: string) => ({
    mqttUrl: server.tcpUrl,
    printer: `file:${path.join(dir, `paper-${name}.prn`)}`,
    dataDir: path.join(dir, `agent-${name}`),
    credentials: server.credentials({ printerId: 'printer-1' }),
    program: path.join(dist, 'printhop-agent.mjs'),
    env: { LOG_LEVEL: 'info', RECONNECT_MAX_MS: '500' },
  });
  const paper = (name: string) => readPaper(path.join(dir, `paper-${name}.prn`));
  const first = spawnAgent(t, agentOptions('a'), 'agent-a');
  const firstConnects = countConnects(first);
  await waitFor('printer-1 online', async () => (await printerOne(server.baseUrl)).state === 'online', 30_000, 100);
  return { server, agentOptions, paper, first, firstConnects };
}

test('a second agent with the same printer id and token, under load: refused while the first holds the session; no flapping, nothing on two papers', async (t) => {
  const { server, agentOptions, paper, first, firstConnects } = await setup(t);
  const posting = postMany(server.baseUrl, 'load', 60, 25);
  await sleep(300);
  const second = spawnAgent(t, agentOptions('b'), 'agent-b');
  const secondConnects = countConnects(second);
  await waitFor('the second agent says it is refused', () =>
    /another agent with this printer's id/.test(second.output),
  );
  const shown = await waitFor(
    'GET /printers names both agents',
    async () => {
      const printer = await printerOne(server.baseUrl);
      return printer.session && printer.session.attempts >= 3 ? printer : null;
    },
    30_000,
    100,
  );
  const accepted = await posting;
  const jobs = await allFinal(server.baseUrl, 60_000);

  assert.equal(shown.session!.outcome, 'refused');
  assert.deepEqual([shown.session!.holder.host, shown.session!.other.host], [os.hostname(), os.hostname()]);
  assert.notEqual(shown.session!.holder.instance, shown.session!.other.instance);
  assert.equal(shown.state, 'online');
  assert.equal(shown.agent?.host, os.hostname());
  const page = await (await fetch(`${server.baseUrl}/`)).text();
  assert.match(page, /Un second agent pour printer-1, sur [^,]+, a été refusé/);
  // No flapping: the first agent connected once and kept its session; the second never got in.
  assert.equal(firstConnects(), 1);
  assert.equal(secondConnects(), 0);
  assert.match(server.program!.output, /a second agent for printer-1, on .*, was refused/);
  const audit = auditPaper({ jobs, paper: paper('a'), accepted });
  assert.deepEqual(audit.problems, []);
  assert.equal(audit.printed.length, 60);
  assert.equal(paper('b').length, 0, 'nothing on the second paper');

  // The first agent goes away: the second, still trying, takes over the printer by itself.
  await first.kill('SIGTERM');
  await waitFor('the second agent connected', () => secondConnects() === 1, 30_000);
  const after = await postJson(server.baseUrl, '/print', { content: 'for the second agent' });
  await waitFor(
    'printed by the second agent',
    async () =>
      (await getJson<PrintJob>(server.baseUrl, `/jobs/${(after.json as PrintJob).id}`)).json.status === 'printed',
  );
  assert.match(second.output, /the other agent has gone/);
});

test('--takeover replaces the agent holding the session, mid-load: its unfinished jobs end interrupted, no job is on two papers', async (t) => {
  const { server, agentOptions, paper, first, firstConnects } = await setup(t);
  const posting = postMany(server.baseUrl, 'takeover', 80, 10);
  await sleep(400);
  const second = spawnAgent(t, { ...agentOptions('b'), args: ['--takeover'] }, 'agent-b');
  const secondConnects = countConnects(second);
  const accepted = await posting;
  const jobs = await allFinal(server.baseUrl, 60_000);

  const printer = await printerOne(server.baseUrl);
  assert.equal(printer.session?.outcome, 'taken-over');
  assert.notEqual(printer.session.holder.instance, printer.session.other.instance);
  assert.match(await (await fetch(`${server.baseUrl}/`)).text(), /L’agent sur [^ ]+ a pris la session de printer-1/);
  assert.match(server.program!.output, /took printer-1's session from the agent on/);
  // The replaced agent says so and does not fight: it never gets back in.
  await waitFor('the first agent says it is refused', () => /another agent with this printer's id/.test(first.output));
  await sleep(1500);
  assert.equal(firstConnects(), 1);
  assert.equal(secondConnects(), 1);
  assert.ok((await printerOne(server.baseUrl)).session!.attempts >= 1, 'the replaced agent tried, and was refused');
  // Both papers together: a printed job once, an interrupted one at most once, none on both.
  const audit = auditPaper({ jobs, paper: Buffer.concat([paper('a'), paper('b')]), accepted });
  assert.deepEqual(audit.problems, []);
  for (const job of audit.interrupted) assert.match(job.error ?? '', /took this printer's session/);
  assert.ok(audit.printed.length + audit.interrupted.length === 80);
  const onB = auditPaper({ jobs: jobs.filter((j) => j.status === 'printed'), paper: paper('b'), accepted: [] });
  assert.ok(onB.paperOrder.length > 0, 'the new agent printed the jobs that came after');
  t.diagnostic(`${audit.printed.length} printed, ${audit.interrupted.length} interrupted at the takeover`);
});
