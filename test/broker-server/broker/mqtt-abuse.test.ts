import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import type { PrintJob } from '../../../broker-server/jobs/job-service';
import type { PrinterInfo } from '../../../broker-server/printers/printer-status-list';
import { MAX_PACKET_BYTES } from '../../../broker-server/broker/embedded-broker';
import { packetSizeWatcher } from '../../../broker-server/broker/packet-size-guard';
import { topics } from '../../../protocol/topics';
import {
  captureLogger,
  connectClient,
  getJson,
  postJson,
  startTestAgent,
  startTestServer,
  type TestServer,
  waitFor,
} from '../../support/harness';

const snapshot = async (server: TestServer) => ({
  jobs: (await getJson<PrintJob[]>(server.baseUrl, '/jobs')).json,
  printers: (await getJson<PrinterInfo[]>(server.baseUrl, '/printers')).json,
});

test("broken and hostile acks and statuses from a printer's own topics are logged, ignored, and change nothing", async (t) => {
  const capture = captureLogger();
  const server = await startTestServer(t, { printers: ['printer-1', 'printer-2'] }, { log: capture.log });
  const agent = await startTestAgent(t, server, { printerId: 'printer-1' });
  await waitFor('printer-1 online', async () => (await server.printers.get('printer-1'))?.state === 'online');
  const { id: mine, uid: mineUid } = (
    await postJson(server.baseUrl, '/print', { content: 'imprimé', printerId: 'printer-1' })
  ).json as PrintJob;
  await waitFor(
    'printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${mine}`)).json.status === 'printed',
  );
  const { id: theirs, uid: theirsUid } = (
    await postJson(server.baseUrl, '/print', { content: 'pour printer-2', printerId: 'printer-2' })
  ).json as PrintJob;
  await waitFor(
    'sent',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${theirs}`)).json.status === 'sent',
  );
  const before = await snapshot(server);

  // printer-1's token, but not its agent: what a compromised or buggy agent could send.
  const rogue = await connectClient(t, server, { printerId: 'printer-1' }, { clientId: 'rogue-printer-1' });
  const now = new Date().toISOString();
  const acks: Array<string | Buffer> = [
    'not json',
    Buffer.from([0xff, 0xfe, 0x00, 0x1b, 0x40]),
    '[]',
    'null',
    '{"id": "1", "status": "printed", "at": "2026-01-01T00:00:00Z"}',
    `{"id": ${mine}, "status": "eaten", "at": "${now}"}`,
    `{"id": ${mine}, "status": "failed", "at": "not a date"}`,
    `{"id": -4, "status": "printed", "at": "${now}"}`,
    `{"id": 1e400, "status": "printed", "at": "${now}"}`,
    `{"id": ${mine}, "status": "failed", "at": "${now}", "error": "${'x'.repeat(5000)}"}`,
    `{"id": ${mine}, "uid": "${mineUid}", "status": "failed", "at": "${now}"}`, // printed is final
    `{"id": 987654, "uid": "${mineUid}", "status": "printed", "at": "${now}"}`, // unknown id
    `{"id": ${theirs}, "uid": "${theirsUid}", "status": "printed", "at": "${now}"}`, // printer-2's job, on printer-1's acks
    `{"id": ${mine}, "uid": "${theirsUid}", "status": "failed", "at": "${now}"}`, // its number, another job's uid
    `{"id": ${mine}, "uid": "not-a-uuid", "status": "failed", "at": "${now}"}`,
    `{"id": ${mine}, "status": "failed", "at": "${now}"}`, // no uid: an agent of job protocol 1
    JSON.stringify({ id: theirs, status: 'printed', at: now, pad: 'x'.repeat(60_000) }).slice(0, 50_000), // large, cut JSON
    `{"__proto__": {"status": "printed"}, "id": ${theirs}}`,
  ];
  for (const payload of acks) await rogue.publishAsync(topics.acks('printer-1'), payload, { qos: 1 });
  const statuses = [
    '{',
    '{"state": "on fire"}',
    '{"state": "online", "columns": 1e9}',
    '{"state": "online", "detail": 42}',
    '"online"',
  ];
  for (const payload of statuses) await rogue.publishAsync(topics.status('printer-1'), payload, { qos: 1 });

  // Acks are applied in the background (many share one commit), after their PUBACK: wait for the
  // verdicts on the well-formed ones, then check that nothing changed.
  const ignored = await waitFor('the four well-formed acks judged', () => {
    const judged = capture.entries().filter((e) => String(e.msg).startsWith('ack ignored'));
    return judged.length >= 4 ? judged : null;
  });
  assert.equal(ignored.length, 4);
  assert.ok(ignored.some((e) => e.jobId === mine && e.reason === 'not-allowed'));
  assert.ok(ignored.some((e) => e.jobId === 987654 && e.reason === 'unknown-job'));
  assert.ok(ignored.some((e) => e.jobId === theirs && e.reason === 'wrong-printer' && e.printerId === 'printer-1'));
  assert.ok(ignored.some((e) => e.jobId === mine && e.reason === 'other-uid'));
  const logged = capture.entries();
  assert.equal(logged.filter((e) => e.msg === 'malformed ack ignored').length, 13);
  assert.ok(
    logged.some((e) => /ack without job uid refused.*upgrade the agent/.test(String(e.msg)) && e.jobId === mine),
  );
  assert.equal(logged.filter((e) => e.msg === 'malformed status ignored').length, statuses.length);
  assert.deepEqual(await snapshot(server), before, 'no job and no printer changed');

  // Still serving: the agent prints the next job.
  const next = (
    (await postJson(server.baseUrl, '/print', { content: 'toujours là', printerId: 'printer-1' })).json as PrintJob
  ).id;
  await waitFor(
    'next printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${next}`)).json.status === 'printed',
  );
  assert.deepEqual(
    agent.paper().receipts.map((r) => r.lines[3]),
    ['imprimé', 'toujours là'],
  );
});

test('an oversized MQTT packet closes the connection before it is read; the broker and the agent carry on', async (t) => {
  const capture = captureLogger();
  const server = await startTestServer(t, {}, { log: capture.log });
  const agent = await startTestAgent(t, server);
  await waitFor('printer online', async () => (await server.printers.get('printer-1'))?.state === 'online');
  const before = await snapshot(server);

  const rogue = await connectClient(t, server, { printerId: 'printer-1' }, { clientId: 'rogue-big' });
  const closed = new Promise<void>((resolve) => rogue.once('close', () => resolve()));
  rogue.publish(topics.acks('printer-1'), Buffer.alloc(MAX_PACKET_BYTES + 10, 0x41), { qos: 1 });
  await closed;

  // Before any CONNECT: a PUBLISH header announcing 200 MiB.
  const raw = net.connect(server.mqttPort!, '127.0.0.1');
  await new Promise((resolve) => raw.once('connect', resolve));
  const rawClosed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
  raw.write(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x64]));
  raw.write(Buffer.alloc(1024, 0x41));
  await rawClosed;

  const tooLarge = capture.entries().filter((e) => e.msg === 'mqtt packet too large: connection closed');
  assert.deepEqual(
    tooLarge.map((e) => e.announcedBytes),
    [MAX_PACKET_BYTES + 10 + 2 + topics.acks('printer-1').length + 2, 100 * 128 ** 3],
  );
  assert.deepEqual(await snapshot(server), before);
  const job = ((await postJson(server.baseUrl, '/print', { content: 'après le gros paquet' })).json as PrintJob).id;
  await waitFor(
    'printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job}`)).json.status === 'printed',
  );
  assert.equal(agent.paper().receipts.length, 1);
});

test('the packet size watcher follows MQTT fixed headers across chunk boundaries', () => {
  const seen: number[] = [];
  const watch = packetSizeWatcher(100, (n) => seen.push(n));
  // A 3-byte PINGREQ-like packet, a 100-byte packet split in three chunks, then a 200-byte header cut after its first length byte.
  watch(Buffer.from([0xc0, 0x00, 0x30, 100]));
  watch(Buffer.alloc(40));
  watch(Buffer.alloc(60));
  watch(Buffer.from([0x30, 0xc8]));
  assert.deepEqual(seen, []);
  watch(Buffer.from([0x01]));
  assert.deepEqual(seen, [200]);
  const garbage: number[] = [];
  packetSizeWatcher(100, (n) => garbage.push(n))(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
  assert.deepEqual(garbage, [Infinity], 'more than four length bytes is not MQTT');
});
