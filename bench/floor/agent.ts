/**
 * The frame alone, agent side (see server.ts): subscribes with QoS 1, and for each job publishes DESIGN's two
 * acks with QoS 1 (`received`, then `printed` once its bytes are appended to the printer file). With
 * FLOOR_SYNCS=1 it also writes a journal line and `fdatasync`s it before each ack, in the calling thread, over
 * zeros written ahead so that a sync commits no file size (as Printhop's journal does): the cheapest way to make
 * DESIGN's two syncs. Without, no disk wait at all. Env: MQTT_URL (mqtt:// or ws://), PRINTER_ID, PRINTER_FILE,
 * JOURNAL_FILE, FLOOR_SYNCS.
 */
import fs from 'node:fs';
import mqtt from 'mqtt';
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
const durable = (id: number, status: string): void => {
  if (journal === null) return;
  const line = Buffer.from(`${id} ${status}\n`);
  if (journalAt + line.length > JOURNAL_BYTES) journalAt = 0;
  journalAt += fs.writeSync(journal, line, 0, line.length, journalAt);
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
/** The job's number and content, or null for a payload that is not one (logged, ignored). */
function parseJob(payload: Buffer): { id: number; content: string } | null {
  try {
    const job = JSON.parse(payload.toString()) as { id?: unknown; content?: unknown };
    if (typeof job.id === 'number' && typeof job.content === 'string') return { id: job.id, content: job.content };
  } catch {
    // below
  }
  console.error('not a job:', payload.toString().slice(0, 100));
  return null;
}
client.on('message', (_topic, payload) => {
  const job = parseJob(payload);
  if (!job) return;
  const ack = (status: string) =>
    client.publish(`printers/${printerId}/acks`, JSON.stringify({ id: job.id, status, at: new Date().toISOString() }), {
      qos: 1,
    });
  durable(job.id, 'received');
  ack('received');
  // Printable ASCII only: the content never becomes a command (as the baseline's agent).
  const text = job.content.replace(/[^\x20-\x7e\n]/g, '?');
  fs.writeSync(
    printer,
    Buffer.concat([Buffer.from([0x1b, 0x40]), Buffer.from(`${text}\n\n\n`, 'latin1'), Buffer.from([0x1d, 0x56, 0x00])]),
  );
  durable(job.id, 'printed');
  ack('printed');
});
process.on('SIGTERM', () => void client.endAsync().then(() => process.exit(0)));
