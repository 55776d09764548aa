/**
 * The embedded broker counts the connections of each printer's agent (MessageBus#agentConnection), real Aedes,
 * real mqtt.js over loopback: the number changes each time the agent's own client id connects, not for other
 * clients, and the first message of a new connection already finds the new number (the dispatcher tells an
 * agent's status on the connection its backlog's pass sends to from a reconnection by it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqtt from 'mqtt';
import pino from 'pino';
import { EmbeddedBroker } from '../../../broker-server/broker/embedded-broker';
import { agentClientId } from '../../../protocol/accounts';
import { topics } from '../../../protocol/topics';

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test("each connection of a printer's agent changes its number, before its first message is handled; other clients do not", async (t) => {
  const broker = new EmbeddedBroker({ host: '127.0.0.1', tcpPort: 0 }, pino({ level: 'silent' }));
  await broker.start();
  t.after(() => broker.stop());
  const url = `mqtt://127.0.0.1:${broker.tcpPort}`;
  // The number the broker gave the agent's connection when each of its statuses was handled.
  const heard: number[] = [];
  await broker.subscribe(topics.status('p1'), async () => {
    heard.push(broker.agentConnection('p1'));
  });
  assert.equal(broker.agentConnection('p1'), 0, 'never connected');

  const connectAgent = async () => {
    const agent = await mqtt.connectAsync(url, { clientId: agentClientId('p1'), clean: false, reconnectPeriod: 0 });
    // The agent's first packet after CONNACK: its status.
    agent.publish(topics.status('p1'), JSON.stringify({ state: 'online' }), { qos: 1, retain: false });
    return agent;
  };
  const first = await connectAgent();
  await until(() => heard.length === 1, "the first connection's status");
  assert.deepEqual(heard, [1]);
  // The same connection's later status: the same number.
  await first.publishAsync(topics.status('p1'), JSON.stringify({ state: 'online' }), { qos: 1 });
  assert.deepEqual(heard, [1, 1]);

  // Another client, even one publishing on the printer's topics, and another printer's agent: p1's number stays.
  const other = await mqtt.connectAsync(url, { clientId: 'a-tool', clean: true, reconnectPeriod: 0 });
  t.after(() => other.endAsync());
  const p2 = await mqtt.connectAsync(url, { clientId: agentClientId('p2'), clean: true, reconnectPeriod: 0 });
  t.after(() => p2.endAsync());
  await other.publishAsync(topics.status('p1'), JSON.stringify({ state: 'online' }), { qos: 1 });
  assert.deepEqual(heard, [1, 1, 1]);
  assert.equal(broker.agentConnection('p2'), 1);

  // The agent reconnects (same client id, its persistent session): a new number, already for its first status.
  await first.endAsync();
  const second = await connectAgent();
  t.after(() => second.endAsync());
  await until(() => heard.length === 4, "the second connection's status");
  assert.deepEqual(heard, [1, 1, 1, 2]);
});
