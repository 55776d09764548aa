import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import mqtt from 'mqtt';
import type { PrintJob } from '../../../broker-server/jobs/job-service';
import type { PrinterInfo } from '../../../broker-server/printers/printer-status-list';
import { agentClientId } from '../../../protocol/accounts';
import { topics } from '../../../protocol/topics';
import {
  captureLogger,
  connectClient,
  getJson,
  mqttCredentials,
  postJson,
  startTestAgent,
  startTestServer,
  type TestServer,
  waitFor,
} from '../../support/harness';
import { connackRefusal, mosquittoArgs, mosquittoPub } from '../../support/broker-clients';
import { runToEnd } from '../../support/child-programs';

const TWO_PRINTERS = { printers: ['printer-1', 'printer-2'] };

/** The SUBACK return code of each filter: 128 is a refusal (mqtt.js rejects then, with the SUBACK attached). */
async function grantedQos(client: mqtt.MqttClient, filters: string[]): Promise<number[]> {
  try {
    return (await client.subscribeAsync(filters, { qos: 1 })).map((g) => g.qos);
  } catch (err) {
    const granted = (err as { packet?: { granted?: Array<number | { qos: number }> } }).packet?.granted;
    if (!granted) throw err;
    return granted.map((g) => (typeof g === 'number' ? g : g.qos));
  }
}

const jobStatus = async (server: TestServer, id: number) =>
  (await getJson<PrintJob>(server.baseUrl, `/jobs/${id}`)).json.status;

test('a client without credentials, with a wrong password or an unknown name gets CONNACK "not authorized", logged without the password', async (t) => {
  const capture = captureLogger();
  const server = await startTestServer(t, {}, { log: capture.log });
  const real = mqttCredentials(server, { printerId: 'printer-1' });
  const wrong = 'definitely-not-the-token-42';

  assert.equal(await connackRefusal(server, {}), 5, 'anonymous');
  assert.equal(await connackRefusal(server, { username: 'printer-1', password: wrong }), 5, 'wrong password');
  assert.equal(await connackRefusal(server, { username: 'printer-1' }), 5, 'no password');
  assert.equal(
    await connackRefusal(server, { username: 'nobody', password: real.password }),
    5,
    "another account's password",
  );
  assert.equal(
    await connackRefusal(server, { username: 'printer-1', password: real.password }),
    undefined,
    'the right token is accepted',
  );

  const anonymous = await runToEnd(t, 'mosquitto_sub', [
    ...mosquittoArgs(server, null),
    '-t',
    'printers/#',
    '-C',
    '1',
    '-W',
    '5',
  ]);
  assert.notEqual(anonymous.code, 0);
  assert.match(anonymous.stderr, /Connection Refused: not authori[sz]ed/);
  const wrongPub = await mosquittoPub(
    t,
    server,
    { username: 'printer-1', password: wrong },
    topics.acks('printer-1'),
    '{}',
  );
  assert.notEqual(wrongPub.code, 0);
  assert.match(wrongPub.stderr, /not authori[sz]ed/);

  const refusals = capture.entries().filter((e) => e.msg === 'mqtt connection refused');
  // After an address's first failure, the others of the minute are summed up in one line (issue 17).
  const summaries = capture.entries().filter((e) => e.msg === 'mqtt login failures from one address (summary)');
  assert.deepEqual(
    [...new Set([...refusals.map((e) => e.reason), ...summaries.flatMap((e) => e.reasons as string[])])].sort(),
    ['no password', 'no user name', 'unknown user', 'wrong password'],
  );
  assert.ok(
    refusals.some((e) => e.username === 'printer-1' && e.reason === 'wrong password' && e.address === '127.0.0.1') ||
      summaries.some(
        (e) =>
          e.address === '127.0.0.1' &&
          (e.usernames as string[]).includes('printer-1') &&
          (e.reasons as string[]).includes('wrong password'),
      ),
  );
  const logged = capture.text();
  assert.ok(!logged.includes(wrong), 'a tried password is never logged');
  for (const as of ['debug', 'server', { printerId: 'printer-1' }] as const)
    assert.ok(!logged.includes(mqttCredentials(server, as).password), 'no token is ever logged');
});

test("a printer may subscribe only to its own jobs: another printer's jobs, wildcards and $SYS are refused (mqtt.js and mosquitto_sub)", async (t) => {
  const server = await startTestServer(t, TWO_PRINTERS);
  const intruder = await connectClient(t, server, { printerId: 'printer-2' });
  const granted = await grantedQos(intruder, [
    topics.jobs('printer-1'),
    'printers/+/jobs',
    'printers/#',
    '#',
    '$SYS/#',
    topics.acks('printer-2'),
    topics.status('printer-1'),
    topics.jobs('printer-2'),
  ]);
  assert.deepEqual(granted, [128, 128, 128, 128, 128, 128, 128, 1]);
  const seen: string[] = [];
  intruder.on('message', (topic) => seen.push(topic));

  const sub = await runToEnd(t, 'mosquitto_sub', [
    ...mosquittoArgs(server, { printerId: 'printer-2' }),
    '-t',
    topics.jobs('printer-1'),
    '-C',
    '1',
    '-W',
    '5',
  ]);
  assert.match(sub.stderr, /All subscription requests were denied/);
  assert.equal(sub.stdout, '');

  // A job of printer-1 reaches printer-1's agent, and nobody else.
  const agent = await startTestAgent(t, server, { printerId: 'printer-1' });
  const job = (
    await postJson(server.baseUrl, '/print', { content: 'pour printer-1 seulement', printerId: 'printer-1' })
  ).json as PrintJob;
  await waitFor('printed', async () => (await jobStatus(server, job.id)) === 'printed');
  assert.equal(agent.paper().receipts.length, 1);
  assert.deepEqual(seen, []);
});

test("a fake ack (printer-2 acknowledging printer-1's job) is refused and changes nothing (mqtt.js and mosquitto_pub)", async (t) => {
  const capture = captureLogger();
  const server = await startTestServer(t, TWO_PRINTERS, { log: capture.log });
  const job = (await postJson(server.baseUrl, '/print', { content: 'à ne pas confirmer' })).json as PrintJob;
  await waitFor('sent', async () => (await jobStatus(server, job.id)) === 'sent');
  const fake = JSON.stringify({ id: job.id, status: 'printed', at: new Date().toISOString() });

  const published = await mosquittoPub(t, server, { printerId: 'printer-2' }, topics.acks('printer-1'), fake);
  assert.notEqual(published.code, 0, 'the broker drops the connection instead of acknowledging');
  assert.match(published.stderr, /connection was lost/i);

  const intruder = await connectClient(t, server, { printerId: 'printer-2' });
  const closed = new Promise<void>((resolve) => intruder.once('close', () => resolve()));
  intruder.publish(topics.acks('printer-1'), fake, { qos: 1 });
  await closed;

  // Nor may the debug or server accounts forge acks.
  for (const as of ['debug', 'server'] as const) {
    const r = await mosquittoPub(t, server, as, topics.acks('printer-1'), fake);
    assert.notEqual(r.code, 0, as);
  }
  assert.equal(await jobStatus(server, job.id), 'sent');
  assert.equal(
    capture.entries().filter((e) => e.msg === 'mqtt publish refused' && e.topic === topics.acks('printer-1')).length,
    4,
  );
});

test('the debug account can watch every printer topic but publish nothing; MQTT_DEBUG_CAN_PUBLISH lets it send a job by hand', async (t) => {
  const server = await startTestServer(t);
  const agent = await startTestAgent(t, server);
  await waitFor('printer online', async () => (await server.printers.get('printer-1'))?.state === 'online');

  const watcher = spawn('mosquitto_sub', [
    ...mosquittoArgs(server, 'debug'),
    '-t',
    'printers/#',
    '-v',
    '-q',
    '1',
    '-C',
    '4',
    '-W',
    '15',
  ]);
  t.after(() => watcher.kill());
  let out = '';
  watcher.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const watched = new Promise<number | null>((resolve) => watcher.on('exit', resolve));
  await waitFor('retained status seen', () => out.includes(`${topics.status('printer-1')} `));
  const job = (await postJson(server.baseUrl, '/print', { content: 'observé' })).json as PrintJob;
  assert.equal(await watched, 0);
  const lines = out
    .trim()
    .split('\n')
    .map((l) => l.slice(0, l.indexOf(' ')));
  assert.deepEqual(lines, [
    topics.status('printer-1'),
    topics.jobs('printer-1'),
    topics.acks('printer-1'),
    topics.acks('printer-1'),
  ]);
  await waitFor('printed', async () => (await jobStatus(server, job.id)) === 'printed');

  const byHand = JSON.stringify({
    id: 999_999,
    uid: randomUUID(),
    content: 'à la main',
    createdAt: new Date().toISOString(),
  });
  const refused = await mosquittoPub(t, server, 'debug', topics.jobs('printer-1'), byHand);
  assert.notEqual(refused.code, 0);
  const debug = await connectClient(t, server, 'debug');
  assert.deepEqual(await grantedQos(debug, ['#', '$SYS/#', 'printers/+/acks']), [128, 128, 1]);
  const closed = new Promise<void>((resolve) => debug.once('close', () => resolve()));
  debug.publish(topics.status('printer-1'), JSON.stringify({ state: 'offline' }), { qos: 1, retain: true });
  await closed;
  assert.equal((await server.printers.get('printer-1'))?.state, 'online');
  assert.equal(agent.paper().receipts.length, 1, 'the job by hand was not printed');

  const open = await startTestServer(t, { debugCanPublish: true });
  const openAgent = await startTestAgent(t, open);
  await waitFor('printer online', async () => (await open.printers.get('printer-1'))?.state === 'online');
  const allowed = await mosquittoPub(t, open, 'debug', topics.jobs('printer-1'), byHand);
  assert.equal(allowed.code, 0, allowed.stderr);
  await waitFor('job by hand printed', () => openAgent.paper().receipts.length === 1);
  assert.equal(openAgent.paper().receipts[0]!.lines[3], 'à la main');
  const stillNoAck = await mosquittoPub(t, open, 'debug', topics.acks('printer-1'), '{}');
  assert.notEqual(stillNoAck.code, 0, 'even then, only jobs');
});

test("status spoofing is refused: a printer cannot publish another's status, not even as its Last Will, nor take its client id", async (t) => {
  const server = await startTestServer(t, TWO_PRINTERS);
  await startTestAgent(t, server, { printerId: 'printer-1' });
  await waitFor('printer-1 online', async () => (await server.printers.get('printer-1'))?.state === 'online');
  const before = (await server.printers.get('printer-1'))!;

  const spoof = await mosquittoPub(
    t,
    server,
    { printerId: 'printer-2' },
    topics.status('printer-1'),
    '{"state":"offline"}',
    { retain: true },
  );
  assert.notEqual(spoof.code, 0);

  // A Last Will on printer-1's status, fired by a crash of printer-2's connection.
  const willing = await connectClient(
    t,
    server,
    { printerId: 'printer-2' },
    {
      clientId: 'printer-2-with-a-forged-will',
      will: { topic: topics.status('printer-1'), payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true },
    },
  );
  (willing.stream as unknown as { destroy(): void }).destroy();
  // Its own will on its own status goes through, which shows wills are delivered at all.
  const honest = await connectClient(
    t,
    server,
    { printerId: 'printer-2' },
    {
      clientId: 'printer-2-honest',
      will: {
        topic: topics.status('printer-2'),
        payload: Buffer.from('{"state":"offline","detail":"will"}'),
        qos: 1,
        retain: true,
      },
    },
  );
  (honest.stream as unknown as { destroy(): void }).destroy();
  await waitFor('printer-2 will delivered', async () => (await server.printers.get('printer-2'))?.detail === 'will');

  const after = (await server.printers.get('printer-1'))!;
  assert.equal(after.state, 'online');
  assert.equal(after.lastSeenAt, before.lastSeenAt);
  const watcher = await connectClient(t, server, 'debug');
  const retained = new Promise<string>((resolve) =>
    watcher.on('message', (topic, payload) => topic === topics.status('printer-1') && resolve(payload.toString())),
  );
  await watcher.subscribeAsync(topics.status('printer-1'), { qos: 1 });
  assert.equal(JSON.parse(await retained).state, 'online', 'the retained status is still the agent’s own');

  // Session takeover: printer-2 (or the debug account) using printer-1's agent client id would inherit its queued jobs.
  for (const as of [{ printerId: 'printer-2' }, 'debug'] as const) {
    assert.equal(
      await connackRefusal(server, {
        ...mqttCredentials(server, as),
        clientId: agentClientId('printer-1'),
        clean: false,
      }),
      5,
    );
  }
  const debug = mqttCredentials(server, 'debug');
  const mine = await connectClient(t, server, 'debug', { clientId: 'debug-persistent', clean: false });
  await mine.endAsync();
  assert.equal(
    await connackRefusal(server, { ...mqttCredentials(server, 'server'), clientId: 'debug-persistent', clean: false }),
    5,
    "another account's session",
  );
  assert.equal(
    await connackRefusal(server, { ...debug, clientId: 'debug-persistent', clean: false }),
    undefined,
    'its owner may resume it',
  );
});

test('the server account may publish jobs and read acks and status, and nothing more', async (t) => {
  const server = await startTestServer(t);
  const agent = await startTestAgent(t, server);
  await waitFor('printer online', async () => (await server.printers.get('printer-1'))?.state === 'online');
  const asServer = await connectClient(t, server, 'server');
  assert.deepEqual(await grantedQos(asServer, ['printers/+/acks', 'printers/+/status', '#']), [1, 1, 128]);
  const acks: string[] = [];
  asServer.on(
    'message',
    (topic, payload) => topic.endsWith('/acks') && acks.push(JSON.parse(payload.toString()).status),
  );
  await asServer.publishAsync(
    topics.jobs('printer-1'),
    JSON.stringify({ id: 777_777, uid: randomUUID(), content: 'du serveur', createdAt: new Date().toISOString() }),
    { qos: 1 },
  );
  await waitFor('printed ack', () => acks.includes('printed'));
  assert.equal(agent.paper().receipts[0]!.lines[3], 'du serveur');
  const refused = await mosquittoPub(t, server, 'server', topics.status('printer-1'), '{"state":"offline"}');
  assert.notEqual(refused.code, 0);
  assert.equal((await getJson<PrinterInfo[]>(server.baseUrl, '/printers')).json[0]!.state, 'online');
});

test('an agent with a wrong token is refused (and logged) and never shows its printer online; with its token it prints', async (t) => {
  const capture = captureLogger();
  const server = await startTestServer(t, {}, { log: capture.log });
  const impostor = await startTestAgent(t, server, { mqttPassword: 'not-the-token-of-printer-1' });
  await waitFor('refusal logged', () =>
    capture
      .entries()
      .some((e) => e.msg === 'mqtt connection refused' && e.username === 'printer-1' && e.reason === 'wrong password'),
  );
  await impostor.stop();
  assert.equal((await server.printers.get('printer-1'))?.state, 'unknown');
  const job = (await postJson(server.baseUrl, '/print', { content: 'pour le vrai agent' })).json as PrintJob;
  assert.equal(impostor.paper().receipts.length, 0);
  const agent = await startTestAgent(t, server);
  await waitFor('printed', async () => (await jobStatus(server, job.id)) === 'printed');
  assert.equal(agent.paper().receipts.length, 1);
});
