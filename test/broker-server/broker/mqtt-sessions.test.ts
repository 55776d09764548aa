/**
 * Persistent MQTT sessions of the embedded broker, bounded (issue 20, finding 5): per account, in what each
 * may queue while its client is away, and in time. Real Aedes, mqtt.js clients over TCP, jobs posted over HTTP.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import type { MqttLimits } from '../../../config';
import { agentClientId } from '../../../protocol/accounts';
import { topics } from '../../../protocol/topics';
import { mqttCredentials, postJson, startTestServer, type TestServer, waitFor } from '../../support/harness';

const limits = (sessions: NonNullable<MqttLimits['sessions']>): MqttLimits => ({
  maxInflight: 20,
  maxConnectionsPerAccount: 10,
  authMaxFailures: 10,
  authBlockMs: 30_000,
  sessions,
});

/** Connects; resolves with the CONNACK's sessionPresent, or the refusal's return code. */
async function connect(
  server: TestServer,
  as: Parameters<typeof mqttCredentials>[1],
  options: mqtt.IClientOptions,
): Promise<{ client: mqtt.MqttClient | null; code?: number; sessionPresent?: boolean }> {
  const client = mqtt.connect(server.tcpUrl, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...mqttCredentials(server, as),
    ...options,
  });
  try {
    const connack = await new Promise<mqtt.IConnackPacket>((resolve, reject) => {
      client.once('connect', resolve);
      client.once('error', reject);
    });
    return { client, sessionPresent: connack.sessionPresent };
  } catch (err) {
    await client.endAsync(true);
    return { client: null, code: (err as { code?: number }).code };
  }
}

test('an account holds at most MQTT_MAX_SESSIONS_PER_ACCOUNT persistent sessions; an existing one comes back, clean ones and the agent are never refused', async (t) => {
  const server = await startTestServer(t, {
    mqttLimits: limits({ maxPerAccount: 3, expiryMs: 86_400_000, maxQueued: 100 }),
  });
  for (const as of ['debug', { printerId: 'printer-1' }] as const) {
    for (let i = 0; i < 3; i++) {
      const { client } = await connect(server, as, {
        clientId: `persist-${JSON.stringify(as).length}-${i}`,
        clean: false,
      });
      assert.ok(client, `session ${i}`);
      await client.subscribeAsync(topics.jobs('printer-1'), { qos: 1 });
      await client.endAsync();
    }
    const fourth = await connect(server, as, { clientId: `persist-${JSON.stringify(as).length}-3`, clean: false });
    assert.equal(fourth.code, 3, 'a fourth persistent session: CONNACK 3');
    const back = await connect(server, as, { clientId: `persist-${JSON.stringify(as).length}-0`, clean: false });
    assert.equal(back.sessionPresent, true, 'an existing session comes back');
    await back.client!.endAsync();
    const clean = await connect(server, as, { clientId: `clean-${JSON.stringify(as).length}`, clean: true });
    assert.ok(clean.client, 'a clean session is not one of them');
    await clean.client.endAsync();
  }
  const agent = await connect(
    server,
    { printerId: 'printer-1' },
    { clientId: agentClientId('printer-1'), clean: false },
  );
  assert.ok(agent.client, 'the agent’s own client id, even with its printer’s slots full');
  await agent.client.endAsync();
  assert.equal(server.broker!.persistentSessions, 7);
});

test('a persistent session queues at most MQTT_MAX_QUEUED_PER_SESSION messages while away; the rest are not kept for it', async (t) => {
  const server = await startTestServer(t, {
    mqttLimits: limits({ maxPerAccount: 10, expiryMs: 86_400_000, maxQueued: 5 }),
  });
  const watcher = await connect(server, 'debug', { clientId: 'watcher', clean: false });
  await watcher.client!.subscribeAsync(topics.jobs('printer-1'), { qos: 1 });
  await watcher.client!.endAsync();
  const ids: number[] = [];
  for (let i = 0; i < 12; i++)
    ids.push(((await postJson(server.baseUrl, '/print', { content: `queued ${i}` })).json as { id: number }).id);
  await waitFor('all 12 published', async () =>
    (await Promise.all(ids.map((id) => server.jobs.queries.get(id)))).every((j) => j?.status === 'sent'),
  );
  const received: string[] = [];
  const back = mqtt.connect(server.tcpUrl, {
    reconnectPeriod: 0,
    clientId: 'watcher',
    clean: false,
    ...mqttCredentials(server, 'debug'),
  });
  t.after(() => back.endAsync(true));
  back.on('message', (_topic, payload) =>
    received.push((JSON.parse(payload.toString()) as { content: string }).content),
  );
  await new Promise((resolve) => back.once('connect', resolve));
  // A message published now arrives after whatever was queued.
  await postJson(server.baseUrl, '/print', { content: 'live marker' });
  await waitFor('the live marker', () => received.includes('live marker'));
  assert.deepEqual(
    received.filter((c) => c !== 'live marker'),
    ['queued 0', 'queued 1', 'queued 2', 'queued 3', 'queued 4'],
  );
});

test('a persistent session whose client stays away for MQTT_SESSION_EXPIRY is dropped, subscriptions and queue', async (t) => {
  const server = await startTestServer(t, {
    mqttLimits: limits({ maxPerAccount: 10, expiryMs: 1000, maxQueued: 100 }),
  });
  const gone = await connect(server, 'debug', { clientId: 'gone-away', clean: false });
  await gone.client!.subscribeAsync(topics.jobs('printer-1'), { qos: 1 });
  const stays = await connect(server, 'debug', { clientId: 'stays', clean: false });
  t.after(() => stays.client!.endAsync(true));
  await gone.client!.endAsync();
  await postJson(server.baseUrl, '/print', { content: 'while away' });
  await waitFor('the session dropped', () => server.broker!.persistentSessions === 1, 15_000);
  const back = await connect(server, 'debug', { clientId: 'gone-away', clean: false });
  t.after(() => back.client!.endAsync(true));
  assert.equal(back.sessionPresent, false, 'no session any more');
  const received: string[] = [];
  back.client!.on('message', (_topic, payload) => received.push(payload.toString()));
  await back.client!.subscribeAsync(topics.jobs('printer-1'), { qos: 1 });
  await postJson(server.baseUrl, '/print', { content: 'after' });
  await waitFor('the new message', () => received.length > 0);
  assert.equal(received.length, 1);
  assert.match(received[0]!, /"content":"after"/, 'nothing queued from before');
});
