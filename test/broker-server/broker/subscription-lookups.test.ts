/**
 * The embedded broker remembers which persistent subscriptions match a topic (broker/subscription-lookups.ts);
 * with real Aedes and mqtt.js: a session that subscribes, or unsubscribes, after the broker looked a topic up
 * has its messages queued while it is away exactly as before.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { EmbeddedBroker } from '../../../broker-server/broker/embedded-broker';
import { defer, testLogger, waitFor } from '../../support/basics';

const topic = 'printers/p1/jobs';

async function session(broker: EmbeddedBroker, clientId: string) {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, {
    clientId,
    clean: false,
    reconnectPeriod: 0,
  });
  const got: string[] = [];
  client.on('message', (_topic, payload) => got.push(payload.toString()));
  return { client, got };
}

test('a session subscribed after its topic was looked up gets what was published while it was away', async (t) => {
  const broker = new EmbeddedBroker({ host: '127.0.0.1', tcpPort: 0 }, testLogger());
  await broker.start();
  defer(t, () => broker.stop());
  // Looked up with nobody subscribed (the answer is remembered)...
  await broker.publish(topic, 'before anyone', { qos: 1 });
  await broker.publish(topic, 'before anyone, again', { qos: 1 });
  // ...then a persistent session subscribes and goes away.
  const first = await session(broker, 'agent-a');
  await first.client.subscribeAsync(topic, { qos: 1 });
  await first.client.endAsync();
  await broker.publish(topic, 'while away', { qos: 1 });
  const back = await session(broker, 'agent-a');
  defer(t, () => back.client.endAsync());
  await waitFor('the message queued while it was away', () => back.got.includes('while away'));
  assert.deepEqual(back.got, ['while away']);
});

test('a session that unsubscribed gets nothing more, though its topic was looked up while it was subscribed', async (t) => {
  const broker = new EmbeddedBroker({ host: '127.0.0.1', tcpPort: 0 }, testLogger());
  await broker.start();
  defer(t, () => broker.stop());
  const first = await session(broker, 'agent-b');
  await first.client.subscribeAsync(topic, { qos: 1 });
  await broker.publish(topic, 'one', { qos: 1 });
  await waitFor('the first message', () => first.got.includes('one'));
  await first.client.unsubscribeAsync(topic);
  await first.client.endAsync();
  await broker.publish(topic, 'after it left', { qos: 1 });
  const back = await session(broker, 'agent-b');
  defer(t, () => back.client.endAsync());
  // A marker on a topic it still follows: once it arrives, anything queued before it has arrived too.
  await back.client.subscribeAsync('printers/p1/status', { qos: 1 });
  await broker.publish('printers/p1/status', 'marker', { qos: 1 });
  await waitFor('the marker', () => back.got.includes('marker'));
  assert.deepEqual(back.got, ['marker']);
});
