/**
 * The frame alone: what any implementation that keeps Express, Aedes and mqtt.js and sends DESIGN's messages
 * must spend a job, with nothing else. `POST /print` is answered at once with an id from a counter (no
 * database, no commit, no idempotency, no validation beyond a string); the job is published with QoS 1 by the
 * embedded Aedes; the agent's `received` and `printed` acks (QoS 1) come back; `printed` goes out on
 * `GET /jobs/events` as Printhop's `event: job` lines. Aedes on WebSocket (`/mqtt`) and TCP, with Printhop's own
 * transport measures (one write per turn per connection, one WebSocket frame per write). Not a product: a
 * lower bound, so that the bench can tell what the job path adds to the parts it must keep
 * (docs/performance.md, "The frame alone"). Env: PORT, MQTT_PORT.
 */
import http from 'node:http';
import net from 'node:net';
import { Aedes } from 'aedes';
import express from 'express';
import { WebSocketServer } from 'ws';
import { brokerTcpConnection, brokerWebSocketStream } from '../../runtime/broker-connections';

/** Each event-stream block, written once, sent to every open `GET /jobs/events`. */
const streams = new Set<http.ServerResponse>();
const send = (event: 'job' | 'printer', data: object): void => {
  const block = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  for (const res of streams) res.write(block);
};
const aedes = await Aedes.createBroker();
aedes.on('subscribe', (subscriptions) => {
  for (const { topic } of subscriptions) {
    const printer = /^printers\/([^/]+)\/jobs$/.exec(topic)?.[1];
    if (printer) send('printer', { id: printer, state: 'online' });
  }
});
aedes.subscribe(
  'printers/+/acks',
  (packet, done) => {
    try {
      const ack = JSON.parse(packet.payload.toString()) as { id: number; status: string };
      if (ack.status === 'printed') send('job', { id: ack.id, status: 'printed' });
    } catch (err) {
      console.error('bad ack', err);
    }
    // Not in this call: mqemitter would run the next queued message inside it, and a burst overflows the stack.
    queueMicrotask(done);
  },
  () => undefined,
);

const mqttServer = net.createServer((socket) => aedes.handle(brokerTcpConnection(socket)));
await new Promise<void>((resolve) => mqttServer.listen(Number(process.env.MQTT_PORT ?? 1883), '127.0.0.1', resolve));

let nextId = 0;
const app = express();
app.use(express.json());
app.post('/print', (req, res) => {
  const { content, printerId = 'printer-1' } = req.body as { content?: string; printerId?: string };
  if (typeof content !== 'string' || !content) {
    res.status(400).json({ error: 'content is required' });
    return;
  }
  const id = ++nextId;
  res.status(201).json({ id, printerId, status: 'pending' });
  aedes.publish(
    {
      cmd: 'publish',
      topic: `printers/${printerId}/jobs`,
      payload: Buffer.from(JSON.stringify({ id, content, createdAt: new Date().toISOString() })),
      qos: 1,
      retain: false,
      dup: false,
    },
    () => undefined,
  );
});
app.get('/health', (_req, res) => void res.json({ ok: true }));
app.get('/jobs/events', (req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'close' });
  res.write(': connected\n\n');
  streams.add(res);
  req.on('close', () => streams.delete(res));
});
const server = http.createServer(app);
const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  if (req.url !== '/mqtt') return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => {
    const stream = brokerWebSocketStream(ws);
    stream.on('error', () => undefined);
    aedes.handle(stream);
  });
});
server.listen(Number(process.env.PORT ?? 8080), '127.0.0.1');

process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close();
  aedes.close(() => mqttServer.close(() => process.exit(0)));
});
