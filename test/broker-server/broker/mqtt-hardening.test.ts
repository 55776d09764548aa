/**
 * Issue 17, broker side: QoS 2 floods without PUBREL, connections per account, client ids taken over
 * by another account, and password guessing, each replayed against the real embedded broker with
 * mqtt.js, raw MQTT packets and mosquitto_pub.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { topics } from '../../../protocol/topics';
import {
  captureLogger,
  connectClient,
  mqttCredentials,
  startTestServer,
  type TestServer,
  waitFor,
} from '../../support/harness';
import { connackRefusal, mosquittoArgs, mosquittoPub } from '../../support/broker-clients';
import { runToEnd } from '../../support/child-programs';

/** A raw MQTT 3.1.1 connection: what a hostile client sends, byte for byte, and the packets it gets back. */
async function rawClient(t: TestContext, server: TestServer, username: string, password: string) {
  const socket = net.connect(server.mqttPort!, '127.0.0.1');
  t.after(() => socket.destroy());
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  const received: mqttPacket.Packet[] = [];
  parser.on('packet', (p) => received.push(p));
  socket.on('data', (d) => parser.parse(d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(
    mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId: `raw-${Math.random()}`,
      keepalive: 60,
      username,
      password: Buffer.from(password),
    }),
  );
  await waitFor('connack', () => received.find((p) => p.cmd === 'connack'));
  return { socket, received, closed };
}

test('QoS 2 publishes are refused: the connection is closed, no PUBREC, nothing kept waiting for a PUBREL (raw packets, mqtt.js, mosquitto_pub)', async (t) => {
  const server = await startTestServer(t);
  const { username, password } = mqttCredentials(server, { printerId: 'printer-1' });
  const raw = await rawClient(t, server, username, password);
  assert.equal((raw.received[0] as mqttPacket.IConnackPacket).returnCode, 0);
  const payload = Buffer.alloc(60 * 1024, 'x');
  for (let id = 1; id <= 50; id++) {
    if (raw.socket.destroyed) break;
    raw.socket.write(
      mqttPacket.generate({
        cmd: 'publish',
        topic: topics.acks('printer-1'),
        payload,
        qos: 2,
        messageId: id,
        retain: false,
        dup: false,
      }),
    );
  }
  await raw.closed;
  assert.deepEqual(
    raw.received.filter((p) => p.cmd === 'pubrec'),
    [],
    'no QoS 2 message was taken',
  );

  const client = await connectClient(t, server, { printerId: 'printer-1' });
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  client.publish(topics.acks('printer-1'), '{}', { qos: 2 });
  await closed;

  const pub = await mosquittoPub(t, server, { username, password }, topics.acks('printer-1'), '{}', { qos: 2 });
  assert.notEqual(pub.code, 0, 'mosquitto_pub -q 2 fails');
  // QoS 1, what the protocol uses, still works.
  const ok = await mosquittoPub(t, server, { username, password }, topics.status('printer-1'), '{"state":"online"}', {
    retain: true,
  });
  assert.equal(ok.code, 0, ok.stderr);
});

test('in-flight incoming messages per connection are bounded by MQTT_MAX_INFLIGHT (aedes would keep 1,000)', async (t) => {
  const server = await startTestServer(t, {
    mqttLimits: { maxInflight: 7, maxConnectionsPerAccount: 10, authMaxFailures: 10, authBlockMs: 30_000 },
  });
  const aedes = (server.broker as unknown as { aedes: { maxInflightInbound: number } }).aedes;
  assert.equal(aedes.maxInflightInbound, 7);
});

test('one account may hold at most MQTT_MAX_CONNECTIONS_PER_ACCOUNT connections; a reconnection under the same client id still gets in', async (t) => {
  const server = await startTestServer(t, {
    mqttLimits: { maxInflight: 20, maxConnectionsPerAccount: 3, authMaxFailures: 10, authBlockMs: 30_000 },
  });
  const debug = mqttCredentials(server, 'debug');
  for (let i = 0; i < 3; i++) await connectClient(t, server, 'debug', { clientId: `watch-${i}` });
  assert.equal(
    await connackRefusal(server, { ...debug, clientId: 'watch-3' }),
    3,
    'a fourth connection: server unavailable',
  );
  const sub = await runToEnd(t, 'mosquitto_sub', [
    ...mosquittoArgs(server, debug),
    '-t',
    'printers/#',
    '-C',
    '1',
    '-W',
    '3',
  ]);
  assert.match(sub.stderr, /unavailable/);
  // The same client id replaces its own connection (an agent reconnecting before the broker saw it leave).
  const again = await connectClient(t, server, 'debug', { clientId: 'watch-1' });
  assert.ok(again.connected);
  // Other accounts have their own count.
  assert.equal(
    await connackRefusal(server, { ...mqttCredentials(server, { printerId: 'printer-1' }), clientId: 'p1-tool' }),
    undefined,
  );
});

test("a client id belongs to the account using it, clean sessions too: a printer account cannot kick debug's watcher", async (t) => {
  const server = await startTestServer(t);
  const watcher = await connectClient(t, server, 'debug', { clientId: 'watcher', clean: true });
  let kicked = false;
  watcher.on('close', () => (kicked = true));
  assert.equal(
    await connackRefusal(server, {
      ...mqttCredentials(server, { printerId: 'printer-1' }),
      clientId: 'watcher',
      clean: true,
    }),
    5,
  );
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(kicked, false, 'debug is still connected');
  assert.ok(watcher.connected);
  // Once debug has left, the id is free again.
  await watcher.endAsync();
  await waitFor(
    'id released',
    async () =>
      (await connackRefusal(server, {
        ...mqttCredentials(server, { printerId: 'printer-1' }),
        clientId: 'watcher',
        clean: true,
      })) === undefined,
  );
});

test('password guessing: after MQTT_AUTH_MAX_FAILURES an address is refused for a while, logged in summary; the right password works again after (mqtt.js, mosquitto_pub)', async (t) => {
  const capture = captureLogger('info');
  const server = await startTestServer(
    t,
    { mqttLimits: { maxInflight: 20, maxConnectionsPerAccount: 10, authMaxFailures: 5, authBlockMs: 2_000 } },
    { log: capture.log },
  );
  const right = mqttCredentials(server, { printerId: 'printer-1' });
  const guesses = Array.from({ length: 200 }, (_, i) => `guess-number-${i}-xxxxxxxx`);
  const codes = await Promise.all(
    guesses.map((password) => connackRefusal(server, { username: 'printer-1', password })),
  );
  assert.ok(
    codes.every((c) => c === 5 || c === 3),
    `every guess refused: ${[...new Set(codes)].join(',')}`,
  );
  assert.ok(codes.filter((c) => c === 3).length >= 150, 'most guesses were refused without even being checked');

  // Blocked now: even the right password, for MQTT_AUTH_BLOCK_SECONDS.
  assert.equal(await connackRefusal(server, right), 3);
  const blocked = await mosquittoPub(t, server, right, topics.status('printer-1'), '{"state":"online"}');
  assert.notEqual(blocked.code, 0);
  assert.match(blocked.stderr, /unavailable/);

  await new Promise((r) => setTimeout(r, 2200));
  const pub = await mosquittoPub(t, server, right, topics.status('printer-1'), '{"state":"online"}');
  assert.equal(pub.code, 0, pub.stderr);
  assert.equal(await connackRefusal(server, right), undefined, 'the right password is accepted again');

  const lines = capture.entries().filter((e) => /mqtt connection refused|login failures/.test(String(e.msg)));
  assert.ok(lines.length <= 3, `${lines.length} log lines for 200 guesses`);
  const summary = lines.find((e) => e.msg === 'mqtt login failures from one address (summary)');
  assert.ok(summary, 'a summary line');
  assert.equal(summary.address, '127.0.0.1');
  assert.ok(Number(summary.failures) + Number(summary.refusedWhileBlocked) >= 200);
  const text = capture.text();
  assert.ok(!guesses.some((g) => text.includes(g)), 'no tried password is logged');
  assert.ok(!text.includes(right.password));
});
