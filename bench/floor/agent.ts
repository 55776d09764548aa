/**
 * The frame alone, agent side (see server.ts): subscribes with QoS 1, and for each job publishes DESIGN's two
 * acks with QoS 1 (`received`, then `printed` once its bytes are appended to the printer file). Without
 * FLOOR_SYNCS, no disk wait at all: each message is answered in its handler. Env: MQTT_URL (mqtt:// or ws://),
 * PRINTER_ID, PRINTER_FILE, JOURNAL_FILE, FLOOR_SYNCS.
 *
 * FLOOR_SYNCS=1: the least journal DESIGN allows ("Exactly once on paper": a job's PUBACK and `received` ack
 * only once the journal holds it; its `printed` ack only once the journal holds that; at most one job
 * interrupted per crash), in its cheapest form: lines written over zeros written ahead (a sync commits no file
 * size, as Printhop's journal), `fdatasync` on the calling thread. Group commit where DESIGN lets it:
 * - a job that finds the agent idle (nothing printing, nothing taken yet in this turn of the event loop) is
 *   taken and printed at once, in its message's handler: two syncs, no wait;
 * - otherwise the jobs that arrive in one turn go to the journal in one write and ONE sync, at the end of the
 *   turn, then their PUBACKs and `received` acks leave together (mqtt.js hands a message over only once the
 *   last one is acknowledged, so the PUBACK is sent here, as Printhop's link does);
 * - printing goes one job a turn, in arrival order: its bytes, then its `printed` line and ONE sync, then its
 *   `printed` ack. Jobs are printed in the order of their `received` lines, so a `printed` line on disk also
 *   says which job may have started next: after a crash, the first `received` job without `printed` is the
 *   one interrupted, and the ones after it were never started. No sync can be shared between two jobs'
 *   `printed` lines without leaving both unknown after a crash (two interrupted).
 * So a job costs one sync of its own and a share of its arrival's: two for a job alone, about one under load.
 * (Until stop 35 this variant made two syncs a job, each in the message's handler: a bound for a job alone,
 * not under load, where Printhop's journal already shared the arrivals' syncs.)
 */
import fs from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { oneFramePerTick } from '../../runtime/websocket-frames';

const printerId = process.env.PRINTER_ID ?? 'printer-1';
const file = process.env.PRINTER_FILE ?? `${printerId}.prn`;
const url = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';

const JOURNAL_BYTES = 4 * 1024 * 1024;
let journal: number | null = null;
let journalAt = 0;
if (process.env.FLOOR_SYNCS === '1') {
  journal = fs.openSync(process.env.JOURNAL_FILE ?? `${file}.journal`, 'w');
  fs.writeSync(journal, Buffer.alloc(JOURNAL_BYTES));
  fs.fsyncSync(journal);
}
/** The lines, in one write over the zeros, and one fdatasync. */
const durable = (lines: string): void => {
  if (journal === null) return;
  const bytes = Buffer.from(lines);
  if (journalAt + bytes.length > JOURNAL_BYTES) journalAt = 0;
  journalAt += fs.writeSync(journal, bytes, 0, bytes.length, journalAt);
  fs.fdatasyncSync(journal);
};

const frames = /^wss?:/.test(url) ? oneFramePerTick() : null;
const client = mqtt.connect(url, {
  clientId: `floor-${printerId}`,
  clean: false,
  ...(frames ? { createWebsocket: frames.createWebsocket } : {}),
});
frames?.attach(client);
client.on('connect', () => {
  if (!frames) (client.stream as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
  void client.subscribeAsync(`printers/${printerId}/jobs`, { qos: 1 });
});
const printer = fs.openSync(file, 'a');
type Job = { id: number; content: string };
/** The job's number and content, or null for a payload that is not one (logged, ignored). */
function parseJob(payload: Buffer): Job | null {
  try {
    const job = JSON.parse(payload.toString()) as { id?: unknown; content?: unknown };
    if (typeof job.id === 'number' && typeof job.content === 'string') return { id: job.id, content: job.content };
  } catch {
    // below
  }
  console.error('not a job:', payload.toString().slice(0, 100));
  return null;
}
const ack = (id: number, status: string) =>
  client.publish(`printers/${printerId}/acks`, JSON.stringify({ id, status, at: new Date().toISOString() }), {
    qos: 1,
  });
/** Printable ASCII only: the content never becomes a command (as the baseline's agent). */
const print = (job: Job) =>
  fs.writeSync(
    printer,
    Buffer.concat([
      Buffer.from([0x1b, 0x40]),
      Buffer.from(`${job.content.replace(/[^\x20-\x7e\n]/g, '?')}\n\n\n`, 'latin1'),
      Buffer.from([0x1d, 0x56, 0x00]),
    ]),
  );

if (journal === null)
  client.on('message', (_topic, payload) => {
    const job = parseJob(payload);
    if (!job) return;
    ack(job.id, 'received');
    print(job);
    ack(job.id, 'printed');
  });
else takeWithJournal(client);

function takeWithJournal(client: MqttClient): void {
  /** mqtt.js, handlers/publish.js: an error passed to handleMessage's callback means "no PUBACK from me". */
  const pubackSentHere = Object.assign(new Error('PUBACK sent once the job is in the journal'), { here: true });
  const sendPuback = (messageId: number) =>
    (client as unknown as { _sendPacket(p: { cmd: 'puback'; messageId: number }): void })._sendPacket({
      cmd: 'puback',
      messageId,
    });
  let arrived: Array<Job & { messageId: number | undefined }> = [];
  const toPrint: Job[] = [];
  let printing = false;
  /** A job was taken at once in this turn: the next ones of the turn wait for its end, together. */
  let tookThisTurn = false;
  client.handleMessage = (packet, done) => {
    if (packet.cmd !== 'publish') return done();
    const job = parseJob(Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));
    if (!job) return done();
    const idle = !printing && !tookThisTurn && !arrived.length;
    arrived.push({ ...job, messageId: packet.messageId });
    if (idle) {
      tookThisTurn = true;
      setImmediate(() => (tookThisTurn = false));
      take();
    } else if (arrived.length === 1) setImmediate(take);
    done(pubackSentHere);
  };
  function take(): void {
    const jobs = arrived;
    arrived = [];
    durable(jobs.map((job) => `${job.id} received\n`).join(''));
    for (const job of jobs) {
      if (job.messageId !== undefined) sendPuback(job.messageId);
      ack(job.id, 'received');
      toPrint.push(job);
    }
    if (!printing) {
      printing = true;
      printNext();
    }
  }
  function printNext(): void {
    const job = toPrint.shift();
    if (!job) {
      printing = false;
      return;
    }
    print(job);
    durable(`${job.id} printed\n`);
    ack(job.id, 'printed');
    setImmediate(printNext);
  }
}
process.on('SIGTERM', () => void client.endAsync().then(() => process.exit(0)));
