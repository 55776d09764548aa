/**
 * The baseline's agent: subscribes with QoS 1 (a persistent session, so jobs queued while it is away are
 * delivered), appends each job to its printer file as ESC/POS (reset, text, cut), then publishes its ack with
 * QoS 1. No journal: a job whose ack is lost is printed again when it is redelivered (the bench's check
 * would see it twice). Env: MQTT_URL, PRINTER_ID, PRINTER_FILE.
 */
import fs from 'node:fs';
import type net from 'node:net';
import mqtt from 'mqtt';

const printerId = process.env.PRINTER_ID ?? 'printer-1';
const file = process.env.PRINTER_FILE ?? `${printerId}.prn`;
const client = mqtt.connect(process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883', {
  clientId: `baseline-${printerId}`,
  clean: false,
});
client.on('connect', () => {
  (client.stream as net.Socket).setNoDelay(true); // as the server's side: see server.ts
  void client.subscribeAsync(`printers/${printerId}/jobs`, { qos: 1 });
});
client.on('message', (_topic, payload) => {
  let job: { id: number; content: string };
  try {
    job = JSON.parse(payload.toString()) as { id: number; content: string };
  } catch (err) {
    console.error('bad job', err);
    return;
  }
  // Printable ASCII only: the content never becomes a command.
  const text = job.content.replace(/[^\x20-\x7e\n]/g, '?');
  fs.appendFileSync(
    file,
    Buffer.concat([Buffer.from([0x1b, 0x40]), Buffer.from(`${text}\n\n\n`, 'latin1'), Buffer.from([0x1d, 0x56, 0x00])]),
  );
  client.publish(`printers/${printerId}/acks`, JSON.stringify({ id: job.id, status: 'printed' }), { qos: 1 });
});
process.on('SIGTERM', () => void client.endAsync().then(() => process.exit(0)));
