/**
 * The frame alone: what any implementation that keeps Express, Aedes and mqtt.js and sends DESIGN's messages
 * must spend a job, with nothing else. `POST /print` is answered at once with an id from a counter (no
 * database, no commit, no idempotency, no validation beyond a string); the job is published with QoS 1 by the
 * embedded Aedes; the agent's `received` and `printed` acks (QoS 1) come back; `printed` goes out on
 * `GET /jobs/events` as Printhop's `event: job` lines. Aedes on WebSocket (`/mqtt`) and TCP, with Printhop's own
 * transport measures (one write per turn per connection, one WebSocket frame per write). Not a product: a
 * lower bound, so that the bench can tell what the job path adds to the parts it must keep
 * (docs/performance.md, "The frame alone").
 *
 * FLOOR_DURABLE=1, the durable frame: the least a server keeping DESIGN's two server-side commits does. SQLite
 * through the sqlite3 package (WAL, its default `synchronous`, FULL), the baseline's `print_jobs` table in
 * DATA_DIR/printhop.sqlite (so the bench's exactly-once check reads it as it reads the baseline's): the job's
 * INSERT committed before its `201` (its rowid is the job's id); on a `printed` ack, the UPDATE to `printed`
 * committed before the `printed` event is sent. Group commit, as Printhop's store: the INSERTs that arrive
 * while a commit runs go in the next one, as ONE statement (one transaction, one sync), and so do the UPDATEs;
 * a job alone has its two commits of its own. (Until stop 35 each statement was its own commit under load too.)
 * The ack's PUBACK does not wait for that commit: if the server dies before it, the job is still `queued`, and
 * DESIGN's re-publication of unfinished jobs brings the agent's `printed` ack again (the bench does not restart
 * it). Nothing else is stored: no `sent`, no `received` (DESIGN needs neither durable before anything). Env:
 * PORT, MQTT_PORT, FLOOR_DURABLE, DATA_DIR; FLOOR_SQLITE_SYNCHRONOUS=OFF, a diagnostic only (not DESIGN's: the
 * commits are not durable), to tell the syncs' share from the statements'.
 */
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Aedes } from 'aedes';
import express from 'express';
import sqlite3 from 'sqlite3';
import { WebSocketServer } from 'ws';
import { brokerTcpConnection, brokerWebSocketStream } from '../../runtime/broker-connections';

/** Each event-stream block, written once, sent to every open `GET /jobs/events`. */
const streams = new Set<http.ServerResponse>();
const send = (event: 'job' | 'printer', data: object): void => {
  const block = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
  for (const res of streams) res.write(block);
};

/** The most items in one commit: one statement's parameters stay far below SQLite's limit (32,766). */
const MAX_GROUP = 1000;

/**
 * Group commit: the items written while a commit runs go to the next one, all at once (`write` makes it one
 * statement, so one transaction and one sync), up to MAX_GROUP; an item that finds no commit running starts one.
 */
function grouped<T, R>(write: (items: T[]) => Promise<R[]>): (item: T) => Promise<R> {
  const queue: Array<{ item: T; resolve: (result: R) => void; reject: (err: unknown) => void }> = [];
  let running = false;
  const next = (): void => {
    if (running || !queue.length) return;
    running = true;
    const batch = queue.splice(0, MAX_GROUP);
    write(batch.map((w) => w.item))
      .then(
        (results) => batch.forEach((w, i) => w.resolve(results[i]!)),
        (err: unknown) => batch.forEach((w) => w.reject(err)),
      )
      .finally(() => {
        running = false;
        next();
      });
  };
  return (item) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      next();
    });
}

/** FLOOR_DURABLE=1: the job's INSERT and its UPDATE to `printed`, each committed in a group; null without a database. */
const store = await (async () => {
  if (process.env.FLOOR_DURABLE !== '1') return null;
  const db = new sqlite3.Database(path.join(process.env.DATA_DIR ?? '.', 'printhop.sqlite'));
  const all = (sql: string, params: unknown[] = []) =>
    new Promise<Array<{ id: number }>>((resolve, reject) =>
      db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as Array<{ id: number }>))),
    );
  /** A statement alone: its rowid and whether it changed a row. */
  const run = (sql: string, params: unknown[]) =>
    new Promise<sqlite3.RunResult>((resolve, reject) =>
      db.run(sql, params, function (this: sqlite3.RunResult, err) {
        if (err) reject(err);
        else resolve(this);
      }),
    );
  await all('PRAGMA journal_mode = WAL');
  if (process.env.FLOOR_SQLITE_SYNCHRONOUS === 'OFF') await all('PRAGMA synchronous = OFF');
  await all(
    'CREATE TABLE print_jobs (id INTEGER PRIMARY KEY, printer_id TEXT NOT NULL, content TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL)',
  );
  return {
    /**
     * Each job's id. Several: one INSERT whose rows go in VALUES order with rising rowids (RETURNING's own order
     * is not promised). One: the statement of a job alone (no RETURNING), as the baseline's.
     */
    insert: grouped(async (jobs: Array<{ printerId: string; content: string }>) => {
      const now = new Date().toISOString();
      if (jobs.length === 1) {
        const [job] = jobs as [{ printerId: string; content: string }];
        const { lastID } = await run(
          "INSERT INTO print_jobs (printer_id, content, status, created_at, updated_at) VALUES (?, ?, 'queued', ?, ?)",
          [job.printerId, job.content, now, now],
        );
        return [lastID];
      }
      const rows = await all(
        `INSERT INTO print_jobs (printer_id, content, status, created_at, updated_at) VALUES ${jobs.map(() => "(?, ?, 'queued', ?, ?)").join(', ')} RETURNING id`,
        jobs.flatMap((job) => [job.printerId, job.content, now, now]),
      );
      return rows.map((row) => row.id).sort((a, b) => a - b);
    }),
    /** Whether each job moved to `printed` (false: it was printed already, so nothing is said again). */
    printed: grouped(async (ids: number[]) => {
      if (ids.length === 1) {
        const { changes } = await run(
          "UPDATE print_jobs SET status = 'printed', updated_at = ? WHERE id = ? AND status = 'queued'",
          [new Date().toISOString(), ids[0]],
        );
        return [changes > 0];
      }
      const rows = await all(
        `UPDATE print_jobs SET status = 'printed', updated_at = ? WHERE status = 'queued' AND id IN (${ids.map(() => '?').join(', ')}) RETURNING id`,
        [new Date().toISOString(), ...ids],
      );
      const moved = new Set(rows.map((row) => row.id));
      return ids.map((id) => moved.delete(id));
    }),
  };
})();

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
      const printed = () => send('job', { id: ack.id, status: 'printed' });
      if (ack.status !== 'printed') {
        // `received`: nothing to store or say.
      } else if (!store) printed();
      else
        // Durable: committed, then the event; an ack of a job already printed changes nothing and says nothing.
        store.printed(ack.id).then(
          (moved) => {
            if (moved) printed();
          },
          (err: unknown) => console.error('ack', err),
        );
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
  if (store) {
    store.insert({ printerId, content }).then(
      (id) => accepted(res, id, printerId, content),
      (err: unknown) => {
        console.error('insert', err);
        res.status(500).json({ error: 'not stored' });
      },
    );
    return;
  }
  accepted(res, ++nextId, printerId, content);
});
/** The job is stored if it is to be: the `201`, then the job published for its printer. */
function accepted(res: express.Response, id: number, printerId: string, content: string): void {
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
}
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
