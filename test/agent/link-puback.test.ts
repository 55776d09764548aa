/**
 * The agent's link (agent/link.ts) against a real Aedes broker over TCP: the next job messages are handed
 * to the agent while the first is still being journaled (not one message per journal sync), and each
 * PUBACK leaves only once its own job was taken, in the order the messages came.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { Aedes } from 'aedes';
import pino from 'pino';
import { BrokerLink } from '../../agent/link';
import { loadAgentConfig } from '../../config';
import { topics } from '../../protocol/topics';

const until = async (check: () => boolean, what: string, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

/**
 * A real Aedes broker on loopback TCP, what it saw (PUBACKs of p1's job messages, p1's acks), and a promise of
 * p1's subscription to its jobs. Closed after the test (stop the link before: the server waits for it).
 */
async function broker(t: TestContext) {
  const aedes = await Aedes.createBroker();
  const server = net.createServer((socket) => aedes.handle(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
  });
  const jobsAcked: number[] = [];
  aedes.on('ack', (packet) => {
    if (packet && 'payload' in packet && packet.topic === topics.jobs('p1'))
      jobsAcked.push(Number(String(packet.payload)));
  });
  const acks: string[] = [];
  aedes.on('publish', (packet) => {
    if (packet.topic === topics.acks('p1')) acks.push(String(packet.payload));
  });
  const subscribed = new Promise<void>((resolve) =>
    aedes.on('subscribe', (subs) => subs.some((s) => s.topic === topics.jobs('p1')) && resolve()),
  );
  const config = loadAgentConfig(
    {},
    { mqttUrl: `mqtt://127.0.0.1:${(server.address() as net.AddressInfo).port}`, printerId: 'p1' },
  );
  return { aedes, config, jobsAcked, acks, subscribed };
}

/** Counts every write that reaches the link's socket (one per system call) from now on. */
function countSocketWrites(link: BrokerLink): () => number {
  const socket = (link as unknown as { client: { stream: net.Socket } }).client.stream;
  let socketWrites = 0;
  const writev = socket._writev!.bind(socket);
  const write = socket._write.bind(socket);
  socket._writev = (chunks, callback) => {
    socketWrites++;
    writev(chunks, callback);
  };
  socket._write = (chunk, encoding, callback) => {
    socketWrites++;
    write(chunk, encoding, callback);
  };
  return () => socketWrites;
}

test('job messages are taken while earlier ones are still being journaled; each PUBACK waits for its own job, in order', async (t) => {
  const { aedes, config, jobsAcked: acked, subscribed } = await broker(t);
  const link = new BrokerLink(config, pino({ level: 'silent' }));
  const pending = new Map<number, () => void>();
  const taken: number[] = [];
  link.start(
    (payload) => {
      const n = Number(payload.toString());
      taken.push(n);
      return new Promise<void>((resolve) => pending.set(n, resolve));
    },
    { state: 'online' },
  );
  await subscribed;

  for (const n of [1, 2, 3])
    aedes.publish(
      { cmd: 'publish', topic: topics.jobs('p1'), payload: Buffer.from(String(n)), qos: 1, retain: false, dup: false },
      () => undefined,
    );
  await until(() => taken.length === 3, 'all three messages handed over before any was journaled');
  assert.deepEqual(taken, [1, 2, 3]);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(acked, [], 'no PUBACK before its job is journaled');

  pending.get(2)!(); // the second is durable first: its PUBACK still waits for the first's
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(acked, [], 'PUBACKs go in the order the messages came');
  pending.get(1)!();
  await until(() => acked.length === 2, 'PUBACKs of 1 and 2');
  assert.deepEqual(acked, [1, 2]);
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(acked, [1, 2], 'no PUBACK for 3 yet');
  pending.get(3)!();
  await until(() => acked.length === 3, 'PUBACK of 3');
  assert.deepEqual(acked, [1, 2, 3]);
  await link.stop();
});

test('the PUBACKs and acks of one turn leave in one socket write, not one each', async (t) => {
  const { aedes, config, jobsAcked, acks, subscribed } = await broker(t);
  const link = new BrokerLink(config, pino({ level: 'silent' }));
  const pending: Array<() => void> = [];
  const taken: number[] = [];
  link.start(
    (payload) => {
      taken.push(Number(payload.toString()));
      return new Promise<void>((resolve) => pending.push(resolve));
    },
    { state: 'online' },
  );
  try {
    await check(aedes, link, pending, taken, jobsAcked, acks, subscribed);
  } finally {
    await link.stop();
  }
});

async function check(
  aedes: Aedes,
  link: BrokerLink,
  pending: Array<() => void>,
  taken: number[],
  jobsAcked: number[],
  acks: string[],
  subscribed: Promise<void>,
): Promise<void> {
  await subscribed;
  await new Promise((resolve) => setTimeout(resolve, 100)); // the status publication has left
  for (const n of [1, 2, 3, 4])
    aedes.publish(
      { cmd: 'publish', topic: topics.jobs('p1'), payload: Buffer.from(String(n)), qos: 1, retain: false, dup: false },
      () => undefined,
    );
  await until(() => taken.length === 4, 'all four messages handed over');

  // The agent's socket: every write that reaches it (one per system call).
  const socketWrites = countSocketWrites(link);
  // As the print agent does: the jobs' journal sync resolves them together (their PUBACKs go), and
  // their `received` acks are published in a setImmediate callback of the same turn.
  for (const resolve of pending) resolve();
  setImmediate(() => {
    for (const id of [1, 2, 3, 4])
      void link.publishAck({ id, status: 'received', at: new Date().toISOString() }).catch(() => undefined);
  });
  await until(() => jobsAcked.length === 4 && acks.length === 4, 'four PUBACKs and four acks');
  assert.equal(socketWrites(), 1, `${socketWrites()} socket writes for 4 PUBACKs and 4 acks`);
}

test("while a backlog prints, the acks of several turns leave together (batchWrites); otherwise each turn's leave at its end", async (t) => {
  const { config, acks, subscribed } = await broker(t);
  const link = new BrokerLink(config, pino({ level: 'silent' }));
  link.start(async () => undefined, { state: 'online' });
  try {
    await batches(link, acks, subscribed);
  } finally {
    await link.stop();
  }
});

async function batches(link: BrokerLink, acks: string[], subscribed: Promise<void>): Promise<void> {
  await subscribed;
  await new Promise((resolve) => setTimeout(resolve, 100)); // the status publication has left
  const socketWrites = countSocketWrites(link);
  /** One `printed` ack a turn, five turns in a row (as a backlog's jobs end, one after the other). */
  const fiveTurns = async (first: number) => {
    const before = socketWrites();
    for (let id = first; id < first + 5; id++) {
      void link.publishAck({ id, status: 'printed', at: new Date().toISOString() }).catch(() => undefined);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await until(() => acks.length === first + 4, 'the five acks');
    return socketWrites() - before;
  };

  assert.equal(await fiveTurns(1), 5, 'one socket write a turn');
  link.batchWrites(true);
  // Five turns take well under BATCHED_WRITES_MS; a machine that stops this process for longer in between
  // splits them once more.
  const batched = await fiveTurns(6);
  assert.ok(batched <= 2, `${batched} socket writes for the acks of five turns`);
  link.batchWrites(false);
  assert.equal(await fiveTurns(11), 5, 'one a turn again');
}
