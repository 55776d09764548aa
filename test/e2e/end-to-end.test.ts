import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { topics } from '../../protocol/topics';
import {
  connectClient,
  getJson,
  mosquittoClientArgs,
  postJson,
  startTestAgent,
  startTestServer,
  testEachMode,
  waitFor,
} from '../support/harness';

const printed = async (baseUrl: string, id: number) =>
  waitFor(`job ${id} printed`, async () => {
    const { json } = await getJson<PrintJob>(baseUrl, `/jobs/${id}`);
    return json.status === 'printed' ? json : null;
  });

testEachMode(
  'a job posted over HTTP is stored, printed by a real agent over MQTT-over-WebSocket, and shown printed',
  async (t, mode) => {
    const server = await startTestServer(t, {}, { mode });
    const agent = await startTestAgent(t, server);
    await waitFor('printer online', async () => (await server.printers.get('printer-1'))?.state === 'online');

    const res = await postJson(server.baseUrl, '/print', { content: 'Crème brûlée à 5 €' });
    assert.equal(res.status, 201);
    const created = res.json as PrintJob;
    assert.equal(res.headers.get('location'), `/jobs/${created.id}`);
    assert.equal(created.content, 'Crème brûlée à 5 €');
    assert.equal(created.printerId, 'printer-1');
    assert.ok(['pending', 'sent'].includes(created.status));
    assert.ok(!Number.isNaN(Date.parse(created.createdAt)));

    const job = await printed(server.baseUrl, created.id);
    assert.ok(job.printedAt);

    const paper = agent.paper();
    assert.deepEqual(paper.unexpected, []);
    assert.equal(paper.receipts.length, 1);
    const receipt = paper.receipts[0]!;
    assert.deepEqual(receipt.commands.slice(0, 3), ['ESC @', 'FS .', 'ESC t 19']);
    assert.equal(receipt.codePage, 'PC858');
    assert.equal(receipt.cut, true);
    assert.equal(receipt.commands.at(-1), 'GS V 0');
    const rule = '-'.repeat(48);
    assert.equal(receipt.lines[0], rule);
    assert.equal(receipt.lines[1], 'MESSAGE À IMPRIMER');
    assert.equal(receipt.lines[2], '');
    assert.equal(receipt.lines[3], 'Crème brûlée à 5 €');
    assert.equal(receipt.lines[4], '');
    assert.match(receipt.lines[5]!, /^Date: \d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
    assert.equal(receipt.lines[6], rule);
    // The accents are the code page's own bytes: è=0x8A û=0x96 é=0x82 à=0x85 €=0xD5 in PC858.
    const raw = agent.paper().receipts.length && (await import('node:fs')).readFileSync(agent.printerFile);
    assert.ok(
      raw &&
        raw.includes(
          Buffer.from([
            0x43, 0x72, 0x8a, 0x6d, 0x65, 0x20, 0x62, 0x72, 0x96, 0x6c, 0x82, 0x65, 0x20, 0x85, 0x20, 0x35, 0x20, 0xd5,
          ]),
        ),
    );
  },
);

testEachMode('an agent over plain TCP MQTT prints too, on 58 mm paper in WPC1252', async (t, mode) => {
  const server = await startTestServer(t, {}, { mode });
  const agent = await startTestAgent(t, server, { mqttUrl: server.tcpUrl, columns: 32, codePage: 'WPC1252' });
  const res = await postJson(server.baseUrl, '/print', {
    content: 'Un message assez long pour être coupé en plusieurs lignes sur du papier étroit.',
  });
  await printed(server.baseUrl, (res.json as PrintJob).id);
  const receipt = agent.paper().receipts[0]!;
  assert.equal(receipt.codePage, 'WPC1252');
  assert.ok(
    receipt.lines.every((line) => line.length <= 32),
    receipt.text,
  );
  assert.deepEqual(receipt.lines.slice(3, 6), [
    'Un message assez long pour être',
    'coupé en plusieurs lignes sur du',
    'papier étroit.',
  ]);
});

testEachMode('mosquitto_sub on the TCP port sees the job on printers/printer-1/jobs', async (t, mode) => {
  const server = await startTestServer(t, {}, { mode });
  // -d prints the SUBACK, so the test knows when the subscription is in place (line-buffered: stdout is a pipe).
  const sub = spawn('stdbuf', [
    '-oL',
    'mosquitto_sub',
    ...mosquittoClientArgs(server, 'debug'),
    '-d',
    '-t',
    'printers/+/jobs',
    '-v',
    '-q',
    '1',
    '-C',
    '1',
    '-W',
    '10',
  ]);
  t.after(() => sub.kill());
  let out = '';
  sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => sub.on('exit', resolve));
  await waitFor('mosquitto_sub subscribed', () => /received SUBACK/.test(out));
  const res = await postJson(server.baseUrl, '/print', { content: 'vu par mosquitto' });
  assert.equal(await exited, 0, out);
  const line = out.split('\n').find((l) => l.startsWith('printers/')) ?? '';
  const [topic, ...rest] = line.trim().split(' ');
  assert.equal(topic, 'printers/printer-1/jobs');
  const message = JSON.parse(rest.join(' ')) as { id: number; content: string; createdAt: string };
  assert.equal(message.id, (res.json as PrintJob).id);
  assert.equal(message.content, 'vu par mosquitto');
});

testEachMode(
  'an agent that is offline when jobs are posted prints each of them exactly once, in order, when it starts',
  async (t, mode) => {
    const server = await startTestServer(t, {}, { mode });
    const ids: number[] = [];
    for (let i = 1; i <= 12; i++)
      ids.push(((await postJson(server.baseUrl, '/print', { content: `hors ligne ${i}` })).json as PrintJob).id);
    const agent = await startTestAgent(t, server);
    for (const id of ids) await printed(server.baseUrl, id);
    const contents = agent.paper().receipts.map((r) => r.lines[3]);
    assert.deepEqual(
      contents,
      ids.map((_, i) => `hors ligne ${i + 1}`),
    );
  },
);

testEachMode(
  'the same job delivered again (re-published, or a raw duplicate) is printed once and its ack is re-sent',
  async (t, mode) => {
    const server = await startTestServer(t, {}, { mode });
    const agent = await startTestAgent(t, server);
    const job = await printed(
      server.baseUrl,
      ((await postJson(server.baseUrl, '/print', { content: 'une seule fois' })).json as PrintJob).id,
    );

    const acks: string[] = [];
    const watcher = await connectClient(t, server, 'server', { clientId: 'test-watcher' });
    await watcher.subscribeAsync(topics.acks('printer-1'), { qos: 1 });
    watcher.on('message', (_topic, payload) => acks.push(JSON.parse(payload.toString()).status));

    for (let i = 0; i < 5; i++) await server.dispatcher.publish(job);
    await watcher.publishAsync(
      topics.jobs('printer-1'),
      JSON.stringify({ id: job.id, uid: job.uid, content: job.content, createdAt: job.createdAt }),
      { qos: 1 },
    );
    await waitFor('six acks re-sent', () => acks.length >= 6);
    assert.ok(
      acks.every((s) => s === 'printed'),
      acks.join(),
    );
    assert.equal(agent.paper().receipts.length, 1);
    assert.equal((await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status, 'printed');
  },
);

testEachMode('a malformed job message is logged and ignored, and the agent keeps printing', async (t, mode) => {
  const server = await startTestServer(t, {}, { mode });
  const agent = await startTestAgent(t, server);
  await waitFor('printer online', async () => (await server.printers.get('printer-1'))?.state === 'online');
  const client = await connectClient(t, server, 'server', { clientId: 'test-garbage' });
  for (const payload of [
    'not json',
    '{"id":"x"}',
    '[]',
    '{"id":1.5,"content":"x","createdAt":"now"}',
    Buffer.from([0xff, 0x00]),
  ]) {
    await client.publishAsync(topics.jobs('printer-1'), payload, { qos: 1 });
  }
  const res = await postJson(server.baseUrl, '/print', { content: 'après les déchets' });
  await printed(server.baseUrl, (res.json as PrintJob).id);
  assert.equal(agent.paper().receipts.length, 1);
});

testEachMode(
  'a job stored but never published (its instance died in between) is published by the stall watchdog once it has not moved for STALL_AFTER_S',
  async (t, mode) => {
    const server = await startTestServer(t, { stallAfterMs: 300 }, { mode });
    const agent = await startTestAgent(t, server);
    await waitFor('printer online', async () => (await server.printers.get('printer-1'))?.state === 'online');
    const orphan = await server.jobs.create({ printerId: 'printer-1', content: 'jamais publié' });
    assert.equal((await printed(server.baseUrl, orphan.id)).content, 'jamais publié');
    assert.equal(agent.paper().receipts.length, 1);
  },
);
