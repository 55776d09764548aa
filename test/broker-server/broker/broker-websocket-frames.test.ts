/**
 * The embedded broker's WebSocket side (broker-server/broker/embedded-broker.ts), real Aedes, real `ws`,
 * HTTP over loopback: a packet Aedes writes in pieces reaches the client as one WebSocket frame, not one
 * frame (and one socket write) per piece; an mqtt.js client over ws:// still gets every message whole.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type net from 'node:net';
import { test } from 'node:test';
import mqtt from 'mqtt';
import mqttPacket from 'mqtt-packet';
import pino from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { EmbeddedBroker, WEBSOCKET_PATH } from '../../../broker-server/broker/embedded-broker';
import { oneFramePerTick } from '../../../runtime/websocket-frames';

async function startBroker(t: { after: (fn: () => Promise<void>) => void }) {
  const broker = new EmbeddedBroker({ host: '127.0.0.1', tcpPort: -1 }, pino({ level: 'silent' }));
  await broker.start();
  const server = http.createServer();
  server.on('upgrade', (req, socket, head) => broker.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    await broker.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { broker, url: `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}${WEBSOCKET_PATH}` };
}

/**
 * A raw MQTT client on a WebSocket to the broker: every frame it gets and the packets in them; connected
 * as `clientId` and subscribed to printers/p1/jobs at `qos` once this resolves.
 */
async function rawSubscriber(t: { after: (fn: () => void) => void }, url: string, clientId: string, qos: 0 | 1) {
  const ws = new WebSocket(url, ['mqtt']);
  t.after(() => ws.terminate());
  const frames: Buffer[] = [];
  const parser = mqttPacket.parser();
  const packets: mqttPacket.Packet[] = [];
  parser.on('packet', (p) => packets.push(p));
  ws.on('message', (data: Buffer) => {
    frames.push(data);
    parser.parse(data);
  });
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(
    mqttPacket.generate({
      cmd: 'connect',
      protocolId: 'MQTT',
      protocolVersion: 4,
      clean: true,
      clientId,
      keepalive: 30,
    }),
  );
  ws.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'printers/p1/jobs', qos }] }));
  await until(() => packets.some((p) => p.cmd === 'suback'));
  return { frames, packets };
}

/** Waits for `check`, 5 s at most. */
async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('a PUBLISH to a WebSocket client is one frame', async (t) => {
  const { broker, url } = await startBroker(t);
  const { frames, packets } = await rawSubscriber(t, url, 'frames', 1);
  const before = frames.length;
  await broker.publish('printers/p1/jobs', JSON.stringify({ id: 1, content: 'x'.repeat(300) }), { qos: 1 });
  await until(() => packets.some((p) => p.cmd === 'publish'));
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(frames.length - before, 1, 'the PUBLISH came in one frame');
  const publish = packets.find((p) => p.cmd === 'publish') as mqttPacket.IPublishPacket;
  assert.equal(JSON.parse(String(publish.payload)).content.length, 300);
});

test('an mqtt.js client over ws:// gets every message whole and in order', async (t) => {
  const { broker, url } = await startBroker(t);
  const client = await mqtt.connectAsync(url, { clientId: 'whole', clean: true, reconnectPeriod: 0 });
  t.after(() => client.endAsync());
  const got: string[] = [];
  client.on('message', (_topic, payload) => got.push(payload.toString()));
  await client.subscribeAsync('printers/p1/jobs', { qos: 1 });
  const sent = Array.from({ length: 200 }, (_, i) => `job ${i} ${'é'.repeat(i)}`);
  await Promise.all(sent.map((m) => broker.publish('printers/p1/jobs', m, { qos: 1 })));
  const deadline = Date.now() + 10_000;
  while (got.length < sent.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(got, sent);
});

// The agent's link attaches before connecting (manualConnect); attached right after mqtt.connect(), whose CONNECT is
// already written (corked until the next tick), it must take the stream all the same (the bench's frame did that,
// and each piece of each packet went as a frame and a socket write of its own).
for (const manualConnect of [true, false])
  test(`an mqtt.js client with oneFramePerTick sends each packet as one frame (attached ${manualConnect ? "before connect(), as the agent's link" : 'right after mqtt.connect()'})`, async (t) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((resolve) => wss.once('listening', resolve));
    // Its connections closed first: wss.close() waits for them (the client's own end comes after, in order).
    t.after(async () => {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    });
    const frames: Buffer[] = [];
    const packets: mqttPacket.Packet[] = [];
    wss.on('connection', (ws) => {
      const parser = mqttPacket.parser();
      parser.on('packet', (p) => {
        packets.push(p);
        if (p.cmd === 'connect') ws.send(mqttPacket.generate({ cmd: 'connack', returnCode: 0, sessionPresent: false }));
      });
      ws.on('message', (data: Buffer) => {
        frames.push(data);
        parser.parse(data);
      });
    });
    const frames_ = oneFramePerTick();
    const client = mqtt.connect(`ws://127.0.0.1:${(wss.address() as net.AddressInfo).port}`, {
      clientId: 'one-frame',
      reconnectPeriod: 0,
      manualConnect,
      createWebsocket: frames_.createWebsocket,
    });
    frames_.attach(client);
    if (manualConnect) client.connect();
    t.after(() => client.endAsync(true));
    await new Promise((resolve) => client.once('connect', resolve));
    assert.equal(frames.length, 1, 'CONNECT in one frame');
    client.publish('printers/p1/acks', JSON.stringify({ id: 1, status: 'printed', at: new Date().toISOString() }), {
      qos: 0,
    });
    const deadline = Date.now() + 5000;
    while (!packets.some((p) => p.cmd === 'publish') && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(frames.length, 2, 'the PUBLISH in one frame');
    assert.equal(JSON.parse(String((packets[1] as mqttPacket.IPublishPacket).payload)).status, 'printed');
  });

test('the packets the broker writes to a WebSocket client in one turn go as one frame, not one each', async (t) => {
  const { broker, url } = await startBroker(t);
  const { frames, packets } = await rawSubscriber(t, url, 'turns', 0);
  const before = frames.length;
  const sent = Array.from({ length: 20 }, (_, i) => `job ${i}`);
  await Promise.all(sent.map((m) => broker.publish('printers/p1/jobs', m, { qos: 0 })));
  const got = () => packets.filter((p): p is mqttPacket.IPublishPacket => p.cmd === 'publish');
  await until(() => got().length === sent.length);
  assert.deepEqual(
    got().map((p) => String(p.payload)),
    sent,
    'every message, whole and in order',
  );
  assert.equal(frames.length - before, 1, `20 messages of one turn in one frame (got ${frames.length - before})`);
});

test('permessage-deflate is declined: frames are not compressed, whatever the client offers', async (t) => {
  const { url } = await startBroker(t);
  // ws's client offers permessage-deflate by default, as the agent's mqtt.js does.
  const ws = new WebSocket(url, ['mqtt'], { perMessageDeflate: true });
  t.after(() => ws.terminate());
  const upgraded = new Promise<http.IncomingMessage>((resolve) => ws.once('upgrade', resolve));
  await new Promise((resolve) => ws.once('open', resolve));
  const answer = await upgraded;
  assert.equal(answer.headers['sec-websocket-extensions'], undefined);
  assert.equal(ws.extensions, '');
});
