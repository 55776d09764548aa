/**
 * The embedded broker's TCP side (broker-server/broker/embedded-broker.ts), real Aedes, real mqtt.js over
 * loopback: the packets the broker writes to one connection in one turn of the event loop leave in one
 * socket write (runtime/one-write-per-turn.ts), and the client still gets each message whole and in order;
 * a refused CONNACK still reaches the client before the connection closes.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import pino from 'pino';
import { EmbeddedBroker } from '../../../broker-server/broker/embedded-broker';

async function startBroker(t: { after: (fn: () => Promise<void>) => void }, refuse = false) {
  const broker = new EmbeddedBroker(
    {
      host: '127.0.0.1',
      tcpPort: 0,
      ...(refuse
        ? {
            hooks: {
              authenticate: (_client, _user, _password, done) =>
                done(Object.assign(new Error('refused'), { returnCode: 4 }) as never, false),
            },
          }
        : {}),
    },
    pino({ level: 'silent' }),
  );
  await broker.start();
  t.after(() => broker.stop());
  return broker;
}

/** Counts the system-call-level writes (`_write`/`_writev`) of every socket the broker accepts. */
function countSocketWrites(t: { after: (fn: () => void) => void }): { writes: number } {
  const counter = { writes: 0 };
  const write = net.Socket.prototype._write;
  const writev = net.Socket.prototype._writev!;
  net.Socket.prototype._write = function (this: net.Socket, ...args: Parameters<net.Socket['_write']>) {
    if (isBrokerSide(this)) counter.writes++;
    return write.apply(this, args);
  };
  net.Socket.prototype._writev = function (this: net.Socket, ...args: Parameters<NonNullable<net.Socket['_writev']>>) {
    if (isBrokerSide(this)) counter.writes++;
    return writev.apply(this, args);
  };
  t.after(() => {
    net.Socket.prototype._write = write;
    net.Socket.prototype._writev = writev;
  });
  return counter;
}
const brokerSockets = new WeakSet<net.Socket>();
const isBrokerSide = (socket: net.Socket) => brokerSockets.has(socket);

test('the packets of one turn to a TCP client leave in one write; the client gets them whole and in order', async (t) => {
  const broker = await startBroker(t);
  (broker as unknown as { aedes: Aedes }).aedes.on('client', (client) => brokerSockets.add(client.conn as net.Socket));
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.tcpPort}`, {
    clientId: 'tcp-turns',
    clean: true,
    reconnectPeriod: 0,
  });
  t.after(() => client.endAsync());
  const got: string[] = [];
  client.on('message', (_topic, payload) => got.push(payload.toString()));
  await client.subscribeAsync('printers/p1/jobs', { qos: 0 });
  const counter = countSocketWrites(t);
  const sent = Array.from({ length: 20 }, (_, i) => `job ${i} ${'é'.repeat(i)}`);
  await Promise.all(sent.map((m) => broker.publish('printers/p1/jobs', m, { qos: 0 })));
  const deadline = Date.now() + 5000;
  while (got.length < sent.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(got, sent);
  assert.equal(counter.writes, 1, `20 messages of one turn in one socket write (got ${counter.writes})`);
});

test('a refused CONNACK reaches the TCP client before the broker closes the connection', async (t) => {
  const broker = await startBroker(t, true);
  const client = mqtt.connect(`mqtt://127.0.0.1:${broker.tcpPort}`, {
    clientId: 'refused',
    reconnectPeriod: 0,
    username: 'x',
    password: 'y',
  });
  t.after(() => client.endAsync(true));
  const err = await new Promise<Error & { code?: number }>((resolve) => client.once('error', resolve));
  assert.equal(err.code, 4, 'the client read the CONNACK and its return code');
});
