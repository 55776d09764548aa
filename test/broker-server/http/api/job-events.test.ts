/**
 * GET /jobs/events' ids and Last-Event-ID replay on the real server and the real database (SQLite, and
 * PostgreSQL with Mosquitto), with a real agent printing: a client that reconnects gets every change it
 * missed, from the database, in order, then the live ones; with two instances on PostgreSQL, the ids of
 * one instance's stream replay on the other and commit order holds under concurrent writers.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { PrintJob } from '../../../../broker-server/jobs/job-service';
import {
  defer,
  getJson,
  postJson,
  startTestAgent,
  startTestServer,
  testEachMode,
  type TestServer,
  waitFor,
} from '../../../support/harness';
import { externalServicesMissing } from '../../../support/services';
import { readSse, type SseMessage } from '../../../support/sse';
import { test } from 'node:test';

/** Every message of GET /jobs/events as it arrives; closed before the server stops. */
async function openEvents(t: TestContext, server: TestServer, headers: Record<string, string> = {}) {
  const controller = new AbortController();
  defer(t, () => controller.abort());
  const res = await fetch(`${server.baseUrl}/jobs/events`, { headers, signal: controller.signal });
  const events: SseMessage[] = [];
  if (res.ok) {
    void readSse(res.body!, (m) => events.push(m));
  }
  const jobs = () =>
    events
      .filter((e) => e.event === 'job')
      .map((e) => ({ id: Number(e.id!.split('.')[0]), job: JSON.parse(e.data!) as PrintJob }));
  /** The id a browser's EventSource would send when reconnecting now. */
  const lastId = () => [...events].reverse().find((e) => e.id !== undefined)?.id;
  return { events, jobs, lastId, close: () => controller.abort() };
}

const post = async (server: TestServer, content: string) =>
  (await postJson(server.baseUrl, '/print', { content })).json as PrintJob;

const printed = (server: TestServer, id: number) =>
  waitFor(
    `job ${id} printed`,
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${id}`)).json.status === 'printed',
  );

testEachMode(
  'GET /jobs/events: each change has an id; reconnecting with Last-Event-ID replays the missed ones from the database, in order, then live',
  async (t, mode) => {
    const server = await startTestServer(t, {}, { mode });
    await startTestAgent(t, server);
    await waitFor('printer online', async () => (await server.printers.get('printer-1'))?.state === 'online');

    const first = await openEvents(t, server);
    await waitFor('connected', () => first.lastId() !== undefined);
    const one = await post(server, 'un');
    await waitFor('one printed on the stream', () =>
      first.jobs().some((e) => e.job.id === one.id && e.job.status === 'printed'),
    );
    const resumeFrom = first.lastId()!;
    first.close();

    // Missed while away.
    const two = await post(server, 'deux');
    const three = await post(server, 'trois');
    await printed(server, two.id);
    await printed(server, three.id);

    const back = await openEvents(t, server, { 'Last-Event-ID': resumeFrom });
    await waitFor('the missed changes', () => back.jobs().filter((e) => e.job.status === 'printed').length === 2);
    const four = await post(server, 'quatre');
    await waitFor('the live one', () => back.jobs().some((e) => e.job.id === four.id && e.job.status === 'printed'));

    const seen = back.jobs();
    const ids = seen.map((e) => e.id);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
      'ids grow',
    );
    assert.equal(new Set(ids).size, ids.length, 'nothing twice');
    assert.ok(ids[0]! > Number(resumeFrom.split('.')[0]), 'nothing from before Last-Event-ID');
    assert.ok(!seen.some((e) => e.job.id === one.id), 'the job already seen is not replayed');
    for (const job of [two, three, four]) {
      const statuses = seen.filter((e) => e.job.id === job.id).map((e) => e.job.status);
      assert.deepEqual(statuses, ['pending', 'sent', 'received', 'printed'], `job ${job.id}: every change, in order`);
    }
    const replayedPrinted = seen.find((e) => e.job.id === two.id && e.job.status === 'printed')!.job;
    assert.deepEqual(replayedPrinted, (await getJson<PrintJob>(server.baseUrl, `/jobs/${two.id}`)).json);
    const replayedSent = seen.find((e) => e.job.id === two.id && e.job.status === 'sent')!.job;
    assert.equal(replayedSent.printedAt, null);
    assert.equal(replayedSent.content, 'deux');

    // Bad ids: a clear 400, or a resync that says to re-read.
    const bad = await fetch(`${server.baseUrl}/jobs/events`, { headers: { 'Last-Event-ID': 'yesterday' } });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { error: string }).error, /Last-Event-ID must be the id of an event/);
    const future = await openEvents(t, server, {
      'Last-Event-ID': String(Number(back.lastId()!.split('.')[0]) + 1000),
    });
    await waitFor('resync', () => future.events.some((e) => e.event === 'resync'));
    const resync = future.events.find((e) => e.event === 'resync')!;
    assert.equal(resync.id, back.lastId());
    assert.equal((JSON.parse(resync.data!) as { reason: string; reread: string }).reread, '/jobs');
  },
);

test(
  'GET /jobs/events on two instances (PostgreSQL): ids are in commit order under concurrent writers, and replay on either instance',
  { skip: externalServicesMissing() },
  async (t) => {
    const a = await startTestServer(t, { mqttPort: -1 }, { mode: 'external' });
    const b = await startTestServer(t, { mqttPort: -1 }, { join: a });
    const onB = await openEvents(t, b);
    await waitFor('connected', () => onB.lastId() !== undefined);
    const start = onB.lastId()!;
    // Concurrent writers on both instances; no agent, so each job is created (and published: sent) only.
    const posted = await Promise.all(Array.from({ length: 40 }, (_, i) => post(i % 2 ? a : b, `job ${i}`)));
    const wanted = (events: ReturnType<typeof onB.jobs>) =>
      posted.every((job) => events.some((e) => e.job.id === job.id && e.job.status === 'sent'));
    await waitFor('every change live on b', () => wanted(onB.jobs()));
    const live = onB.jobs();
    const liveIds = live.map((e) => e.id);
    assert.deepEqual(
      liveIds,
      [...liveIds].sort((x, y) => x - y),
      'live ids grow',
    );
    assert.equal(new Set(liveIds).size, liveIds.length);

    // The same changes replayed from a, from where b's stream started: the same ids, the same jobs.
    const onA = await openEvents(t, a, { 'Last-Event-ID': start });
    await waitFor('every change replayed on a', () => onA.jobs().length >= live.length);
    assert.deepEqual(
      onA
        .jobs()
        .slice(0, live.length)
        .map((e) => `${e.id} ${e.job.id} ${e.job.status}`),
      live.map((e) => `${e.id} ${e.job.id} ${e.job.status}`),
      'a live stream skipped nothing that a replay from the database has',
    );
  },
);
