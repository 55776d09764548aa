/**
 * The benchmark's baseline: the same path as Printhop written the straightforward way, so that the gain of
 * Printhop's design is a ratio measured in the same run. Express; SQLite in WAL mode through the sqlite3
 * package with its default `synchronous` (FULL: every statement is its own transaction and sync); one INSERT
 * and two UPDATEs per job (`sent` once the broker has the job, `printed` on the agent's ack); an Aedes broker
 * on TCP in this process and an mqtt.js client publishing each job with QoS 1. No group commit, no batching,
 * no rate limit, no authentication. `GET /jobs/events` sends the same `event: job` lines as Printhop's.
 * Env: PORT, MQTT_PORT, DATA_DIR (printhop.sqlite, the table and columns the bench's exactly-once check reads).
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import path from 'node:path';
import { Aedes } from 'aedes';
import express from 'express';
import mqtt from 'mqtt';
import sqlite3 from 'sqlite3';

const db = new sqlite3.Database(path.join(process.env.DATA_DIR ?? '.', 'printhop.sqlite'));
const run = (sql: string, params: unknown[] = []) =>
  new Promise<sqlite3.RunResult>((resolve, reject) =>
    db.run(sql, params, function (this: sqlite3.RunResult, err) {
      if (err) reject(err);
      else resolve(this);
    }),
  );
await run('PRAGMA journal_mode = WAL');
await run(
  'CREATE TABLE print_jobs (id INTEGER PRIMARY KEY, printer_id TEXT NOT NULL, content TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)',
);

const events = new EventEmitter();
events.setMaxListeners(0);
const aedes = await Aedes.createBroker();
// A printer is online once its agent subscribed to its jobs (the bench waits for that, as with Printhop).
aedes.on('subscribe', (subscriptions) => {
  for (const { topic } of subscriptions) {
    const printer = /^printers\/([^/]+)\/jobs$/.exec(topic)?.[1];
    if (printer) events.emit('printer', { id: printer, state: 'online' });
  }
});
// Nagle off on both ends, as Printhop's WebSocket links have it: otherwise each small packet can wait for a
// delayed ACK (~40 ms), a cost of the TCP defaults, not of the design being compared.
const mqttServer = net.createServer((socket) => {
  socket.setNoDelay(true);
  aedes.handle(socket);
});
await new Promise<void>((resolve) => mqttServer.listen(Number(process.env.MQTT_PORT ?? 1883), '127.0.0.1', resolve));
const client = mqtt.connect(`mqtt://127.0.0.1:${(mqttServer.address() as net.AddressInfo).port}`, {
  clientId: 'baseline-server',
});
await new Promise((resolve) => client.once('connect', resolve));
(client.stream as net.Socket).setNoDelay(true);
await client.subscribeAsync('printers/+/acks', { qos: 1 });

/** The ack may overtake the `sent` update, so each update names the status it moves from. */
async function setStatus(id: number, from: string[], to: string): Promise<void> {
  const { changes } = await run(
    `UPDATE print_jobs SET status = ?, updated_at = ? WHERE id = ? AND status IN (${from.map(() => '?').join(', ')})`,
    [to, new Date().toISOString(), id, ...from],
  );
  if (changes) events.emit('job', { id, status: to });
}
client.on('message', (_topic, payload) => {
  try {
    const ack = JSON.parse(payload.toString()) as { id: number; status: string };
    if (ack.status === 'printed')
      void setStatus(ack.id, ['queued', 'sent'], 'printed').catch((err: unknown) => console.error('ack', err));
  } catch (err) {
    console.error('bad ack', err);
  }
});

const app = express();
app.use(express.json());
app.post('/print', async (req, res) => {
  const { content, printerId = 'printer-1' } = req.body as { content?: string; printerId?: string };
  if (typeof content !== 'string' || !content) {
    res.status(400).json({ error: 'content is required' });
    return;
  }
  const now = new Date().toISOString();
  const { lastID: id } = await run(
    'INSERT INTO print_jobs (printer_id, content, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
    [printerId, content, 'queued', now, now],
  );
  res.status(201).json({ id, printerId, status: 'queued' });
  await client.publishAsync(`printers/${printerId}/jobs`, JSON.stringify({ id, content }), { qos: 1 });
  await setStatus(id, ['queued'], 'sent');
});
app.get('/health', (_req, res) => void res.json({ ok: true }));
app.get('/jobs/events', (req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'close' });
  res.write(': connected\n\n');
  const onJob = (job: unknown) => res.write(`event: job\ndata: ${JSON.stringify(job)}\n\n`);
  const onPrinter = (printer: unknown) => res.write(`event: printer\ndata: ${JSON.stringify(printer)}\n\n`);
  events.on('job', onJob);
  events.on('printer', onPrinter);
  req.on('close', () => {
    events.off('job', onJob);
    events.off('printer', onPrinter);
  });
});
const http = app.listen(Number(process.env.PORT ?? 8080), '127.0.0.1');

process.on('SIGTERM', () => {
  http.closeAllConnections();
  http.close();
  void client.endAsync().then(() => aedes.close(() => mqttServer.close(() => db.close(() => process.exit(0)))));
});
