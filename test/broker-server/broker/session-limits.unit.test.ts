/** Issue 20's rules in milliseconds: persistent sessions (broker/session-limits.ts), webhook targets, and their settings. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Client } from 'aedes';
import memoryPersistence from 'aedes-persistence';
import { ConfigError, loadServerConfig } from '../../../config';
import {
  boundQueues,
  dropSession,
  PersistentSessions,
  type SessionPersistence,
} from '../../../broker-server/broker/session-limits';
import { isRefusedAddress, webhookTargetProblem } from '../../../broker-server/webhooks/webhook-targets';

const client = (id: string) => ({ id }) as unknown as Client;

test('persistent sessions: bounded per account, an existing or reserved one always admitted, expired once away long enough', () => {
  let now = 1_000_000;
  const sessions = new PersistentSessions({ maxPerAccount: 2, expiryMs: 60_000, maxQueued: 3 }, () => now);
  const a = client('a');
  sessions.opened('debug', a);
  sessions.opened('debug', client('b'));
  assert.equal(sessions.mayOpen('debug', 'c', false), false, 'a third one');
  assert.equal(sessions.mayOpen('debug', 'a', false), true, 'an existing one comes back');
  assert.equal(sessions.mayOpen('debug', 'printhop-agent-x', true), true, 'reserved');
  assert.equal(sessions.mayOpen('printer-1', 'c', false), true, 'another account');
  assert.equal(sessions.ownerOf('a'), 'debug');
  sessions.left(client('a')); // another connection object with the same id: not the one kept
  now += 120_000;
  assert.deepEqual(sessions.expired(), [], 'still connected');
  sessions.left(a);
  now += 59_999;
  assert.deepEqual(sessions.expired(), []);
  now += 1;
  assert.deepEqual(sessions.expired(), ['a']);
  assert.equal(sessions.ownerOf('a'), undefined);
  sessions.cleaned('b');
  assert.equal(sessions.size, 0);
});

test('an away session’s queue stops at its cap, is counted down as it is delivered, and is emptied when it expires', async () => {
  const sessions = new PersistentSessions({ maxPerAccount: 5, expiryMs: 1, maxQueued: 3 });
  const persistence = boundQueues(memoryPersistence() as unknown as SessionPersistence, sessions);
  await (persistence as unknown as { setup(b: unknown): Promise<void> }).setup({ id: 'broker' });
  sessions.opened('debug', client('w'));
  for (let i = 0; i < 5; i++)
    await persistence.outgoingEnqueueCombi([{ clientId: 'w' }, { clientId: 'other' }], {
      cmd: 'publish',
      topic: 't',
      payload: Buffer.from(String(i)),
      qos: 1,
    });
  assert.equal(sessions.queued('w'), 3);
  const queued: unknown[] = [];
  for await (const p of persistence.outgoingStream({ id: 'w' })) queued.push(p);
  assert.equal(queued.length, 3, 'three kept for it');
  let other = 0;
  for await (const _ of persistence.outgoingStream({ id: 'other' })) other++;
  assert.equal(other, 5, 'a client id without a kept session is not capped here');
  await persistence.outgoingClearMessageId({ id: 'w' }, queued[0]);
  assert.equal(sessions.queued('w'), 2);
  await dropSession(persistence, 'w');
  let left = 0;
  for await (const _ of persistence.outgoingStream({ id: 'w' })) left++;
  assert.equal(left, 0, 'emptied');
});

test('settings: MQTT_SESSION_EXPIRY takes seconds or s/m/h/d; bad values are named', () => {
  const config = loadServerConfig({});
  assert.deepEqual(config.mqttLimits.sessions, { maxPerAccount: 10, expiryMs: 86_400_000, maxQueued: 1000 });
  assert.deepEqual(config.eventReplay, { maxBytes: 8_388_608, bufferBytes: 262_144, perMinute: 6, burst: 10 });
  assert.equal(config.webhooks.allowPrivate, false);
  assert.equal(config.webhooks.payloadMs, 3 * 86_400_000);
  for (const [text, ms] of [
    ['90', 90_000],
    ['12h', 43_200_000],
    ['2d', 172_800_000],
    ['30m', 1_800_000],
  ] as const)
    assert.equal(loadServerConfig({ MQTT_SESSION_EXPIRY: text }).mqttLimits.sessions!.expiryMs, ms, text);
  assert.throws(
    () => loadServerConfig({ MQTT_SESSION_EXPIRY: 'a week', EVENT_REPLAY_BUFFER_BYTES: '10' }),
    (err: ConfigError) => /MQTT_SESSION_EXPIRY/.test(err.message) && /EVENT_REPLAY_BUFFER_BYTES/.test(err.message),
  );
});

test('webhook targets: this machine, link-local and metadata refused; private ranges and public addresses allowed', async () => {
  for (const a of [
    '127.0.0.1',
    '127.9.9.9',
    '0.0.0.0',
    '169.254.169.254',
    '::1',
    '::',
    'fe80::1',
    'fd00:ec2::254',
    '::ffff:127.0.0.1',
    '::ffff:a9fe:a9fe',
  ])
    assert.equal(isRefusedAddress(a), true, a);
  for (const a of ['10.0.0.1', '172.16.5.4', '192.168.1.1', 'fd12::1', '93.184.215.14', '2001:db8::1'])
    assert.equal(isRefusedAddress(a), false, a);
  const lookup = async (host: string) => (host === 'rebind.example' ? ['93.184.215.14', '127.0.0.1'] : ['10.1.1.1']);
  assert.match(
    (await webhookTargetProblem('http://rebind.example/x', false, lookup))!,
    /rebind\.example, which is 127\.0\.0\.1/,
  );
  assert.equal(await webhookTargetProblem('http://pos.lan/x', false, lookup), null);
  assert.equal(await webhookTargetProblem('http://127.0.0.1/x', true, lookup), null, 'WEBHOOK_ALLOW_PRIVATE=true');
  const failing = async () => {
    throw new Error('ENOTFOUND');
  };
  assert.equal(
    await webhookTargetProblem('http://nowhere.example/', false, failing),
    null,
    'checked again when sending',
  );
});
