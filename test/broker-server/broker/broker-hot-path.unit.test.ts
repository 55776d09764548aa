/**
 * What the embedded broker remembers on its hot path (issue 22), with fakes: each connection's publish
 * verdicts (broker/access.ts `PublishVerdicts`), and the persistent subscriptions matching a topic
 * (broker/subscription-lookups.ts), forgotten whenever a subscription changes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Client, PublishPacket } from 'aedes';
import { createAccessHooks, PublishVerdicts } from '../../../broker-server/broker/access';
import { MqttAccounts } from '../../../broker-server/broker/tokens';
import {
  rememberSubscriptionLookups,
  type SubscriptionStore,
} from '../../../broker-server/broker/subscription-lookups';
import { testLogger } from '../../support/basics';

test('a connection’s publish verdict is decided once per topic and retain flag, and per connection', () => {
  const verdicts = new PublishVerdicts(3);
  const decided: string[] = [];
  const decide = (client: string, topic: string, retain: boolean, answer: boolean) => () => {
    decided.push(`${client} ${topic} ${retain}`);
    return answer;
  };
  const a = {};
  const b = {};
  for (let i = 0; i < 5; i++)
    assert.equal(verdicts.verdict(a, 'printers/p1/acks', false, decide('a', 'acks', false, true)), true);
  assert.equal(verdicts.verdict(a, 'printers/p1/acks', true, decide('a', 'acks', true, false)), false);
  assert.equal(verdicts.verdict(a, 'printers/p1/acks', true, decide('a', 'acks', true, true)), false, 'kept');
  assert.equal(verdicts.verdict(b, 'printers/p1/acks', false, decide('b', 'acks', false, false)), false, 'its own');
  assert.deepEqual(decided, ['a acks false', 'a acks true', 'b acks false']);
  // Past the bound, the connection's verdicts start again.
  verdicts.verdict(a, 't1', false, decide('a', 't1', false, true));
  verdicts.verdict(a, 't2', false, decide('a', 't2', false, true));
  verdicts.verdict(a, 'printers/p1/acks', false, decide('a', 'acks', false, true));
  assert.equal(decided.at(-1), 'a acks false');
});

test('the access hooks still refuse, packet after packet, what an agent may not publish', async () => {
  const accounts = MqttAccounts.of(
    { debug: 'd'.repeat(32), server: 's'.repeat(32), printers: { p1: 'p'.repeat(32) } },
    '/nonexistent',
  );
  const hooks = createAccessHooks(accounts, { debugCanPublish: false }, testLogger());
  const client = { id: 'printhop-agent-p1', clean: false } as unknown as Client;
  await new Promise<void>((resolve, reject) =>
    hooks.authenticate(client, 'p1', Buffer.from('p'.repeat(32)), (err, ok) => (err || !ok ? reject(err) : resolve())),
  );
  const publish = (topic: string, retain = false) =>
    new Promise<boolean>((resolve) =>
      hooks.authorizePublish(
        client,
        { cmd: 'publish', topic, payload: '', qos: 1, retain, dup: false } as PublishPacket,
        (err) => resolve(!err),
      ),
    );
  for (let i = 0; i < 3; i++) {
    assert.equal(await publish('printers/p1/acks'), true);
    assert.equal(await publish('printers/p1/acks', true), false, 'a retained ack');
    assert.equal(await publish('printers/p2/acks'), false, "another printer's acks");
    assert.equal(await publish('printers/p1/jobs'), false, 'jobs');
    assert.equal(await publish('printers/p1/status', true), true);
  }
});

/** aedes-persistence's subscription side, counting its topic matches. */
function fakeStore() {
  const subs = new Map<string, string[]>();
  const store = {
    lookups: 0,
    gate: null as Promise<void> | null,
    async subscriptionsByTopic(topic: string) {
      store.lookups++;
      const answer = [...(subs.get(topic) ?? [])].map((clientId) => ({ clientId, topic }));
      if (store.gate) await store.gate;
      return answer;
    },
    async addSubscriptions(client: { id: string }, list: Array<{ topic: string }>) {
      for (const { topic } of list) subs.set(topic, [...(subs.get(topic) ?? []), client.id]);
    },
    async removeSubscriptions(client: { id: string }, list: string[]) {
      for (const topic of list)
        subs.set(
          topic,
          (subs.get(topic) ?? []).filter((id) => id !== client.id),
        );
    },
    async cleanSubscriptions(client: { id: string }) {
      for (const [topic, ids] of subs)
        subs.set(
          topic,
          ids.filter((id) => id !== client.id),
        );
    },
  };
  return store;
}

test('the subscriptions matching a topic are looked up once, until a subscription changes', async () => {
  const store = fakeStore();
  const remembered = rememberSubscriptionLookups(store as unknown as SubscriptionStore);
  const topic = 'printers/p1/jobs';
  assert.deepEqual(await remembered.subscriptionsByTopic(topic), []);
  assert.deepEqual(await remembered.subscriptionsByTopic(topic), []);
  assert.equal(store.lookups, 1, 'the second publish asks nothing');
  await remembered.addSubscriptions({ id: 'agent' }, [{ topic }]);
  assert.deepEqual(
    await remembered.subscriptionsByTopic(topic),
    [{ clientId: 'agent', topic }],
    'a new subscriber is seen',
  );
  await remembered.subscriptionsByTopic(topic);
  assert.equal(store.lookups, 2);
  await remembered.removeSubscriptions({ id: 'agent' }, [topic]);
  assert.deepEqual(await remembered.subscriptionsByTopic(topic), [], 'an unsubscribed one is gone');
  await remembered.addSubscriptions({ id: 'agent' }, [{ topic }]);
  assert.equal((await remembered.subscriptionsByTopic(topic)).length, 1);
  await remembered.cleanSubscriptions({ id: 'agent' });
  assert.deepEqual(await remembered.subscriptionsByTopic(topic), [], 'a clean session drops them');
});

test('an answer looked up while a subscription changed is not kept', async () => {
  const store = fakeStore();
  const remembered = rememberSubscriptionLookups(store as unknown as SubscriptionStore);
  const topic = 'printers/p1/jobs';
  let open!: () => void;
  store.gate = new Promise((resolve) => (open = resolve));
  const stale = remembered.subscriptionsByTopic(topic); // reads "nobody" and waits
  await remembered.addSubscriptions({ id: 'agent' }, [{ topic }]);
  store.gate = null;
  open();
  assert.deepEqual(await stale, []);
  assert.deepEqual(await remembered.subscriptionsByTopic(topic), [{ clientId: 'agent', topic }]);
});
