/** One agent per printer (broker/agent-sessions.ts): which CONNECT may take a printer's session, from the Last Wills alone. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { AgentSessions, type SessionEvent } from '../../../broker-server/broker/agent-sessions';

const will = (agent?: { instance: string; host: string; takeover?: boolean }) => ({
  payload: Buffer.from(JSON.stringify({ state: 'offline', ...(agent ? { agent } : {}) })),
});
const a = { instance: 'run-a', host: 'comptoir' };
const b = { instance: 'run-b', host: 'bureau' };

function sessions() {
  const s = new AgentSessions(pino({ level: 'silent' }));
  const events: SessionEvent[] = [];
  const takeovers: string[] = [];
  s.onEvent = (e) => events.push(e);
  s.onTakeover = async (e) => void takeovers.push(`${e.holder.host}->${e.other.host}`);
  return { s, events, takeovers };
}

test('the same agent reconnecting (its old connection not yet gone) takes its own session back, unremarked', async () => {
  const { s, events } = sessions();
  let closed = 0;
  assert.equal(await s.admit('p1', will(a), will(a), () => closed++), true);
  assert.deepEqual([events.length, closed], [0, 0]);
});

test('a second agent is refused while the first holds the session, each attempt counted; the first is left alone', async () => {
  const { s, events, takeovers } = sessions();
  let closed = 0;
  for (let i = 0; i < 3; i++) assert.equal(await s.admit('p1', will(b), will(a), () => closed++), false);
  assert.equal(closed, 0);
  assert.deepEqual(takeovers, []);
  assert.deepEqual(
    events.map((e) => [e.outcome, e.holder.host, e.other.host, e.attempts]),
    [
      ['refused', 'comptoir', 'bureau', 1],
      ['refused', 'comptoir', 'bureau', 2],
      ['refused', 'comptoir', 'bureau', 3],
    ],
  );
  assert.equal(s.lastEvent('p1')?.attempts, 3);
  assert.equal(s.lastEvent('p2'), null);
});

test('--takeover: the first agent is closed, then the unfinished jobs are ended, then the newcomer is let in', async () => {
  const { s, events } = sessions();
  const order: string[] = [];
  s.onTakeover = async () => {
    order.push('jobs interrupted');
  };
  const admitted = await s.admit('p1', will({ ...b, takeover: true }), will(a), () => order.push('holder closed'));
  order.push('admitted');
  assert.equal(admitted, true);
  assert.deepEqual(order, ['holder closed', 'jobs interrupted', 'admitted']);
  assert.equal(events[0]?.outcome, 'taken-over');
});

test('agents older than issue 24 (no identity in their will): MQTT’s own rule, the newcomer wins', async () => {
  const { s, events } = sessions();
  assert.equal(await s.admit('p1', will(), will(a), () => undefined), true);
  assert.equal(await s.admit('p1', will(b), will(), () => undefined), true);
  assert.equal(await s.admit('p1', { payload: Buffer.from('not json') }, will(a), () => undefined), true);
  assert.deepEqual(events, []);
});

test('after a takeover, the replaced agent trying again is refused, and the takeover stays what is shown', async () => {
  const { s, events } = sessions();
  assert.equal(await s.admit('p1', will({ ...b, takeover: true }), will(a), () => undefined), true);
  assert.equal(await s.admit('p1', will(a), will(b), () => undefined), false);
  assert.equal(await s.admit('p1', will(a), will(b), () => undefined), false);
  assert.deepEqual(
    [s.lastEvent('p1')?.outcome, s.lastEvent('p1')?.holder.host, s.lastEvent('p1')?.attempts],
    ['taken-over', 'comptoir', 2],
  );
  assert.equal(events.length, 3);
});
