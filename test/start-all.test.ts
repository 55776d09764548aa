import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import type { PrintJob } from '../broker-server/jobs/job-service';
import { decodeEscPos } from '../agent/printers/escpos-decoder';
import { getJson, postJson, tempDir, waitFor } from './support/harness';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

test('npm start runs the server and an agent on the virtual printer, and stops both on SIGTERM', async (t) => {
  const dataDir = tempDir(t);
  const [port, mqttPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, ['--import', 'tsx', 'broker-server/start-all.ts'], {
    env: { ...process.env, PORT: String(port), MQTT_PORT: String(mqttPort), HOST: '127.0.0.1', DATA_DIR: dataDir, LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));

  const baseUrl = `http://127.0.0.1:${port}`;
  assert.match(await waitFor('banner', () => (out.includes('Receipts go to') ? out : null)), new RegExp(`http://127\\.0\\.0\\.1:${port}/`));
  await waitFor('printer-1 online', async () => (await getJson<Array<{ id: string; state: string }>>(baseUrl, '/printers')).json.some((p) => p.state === 'online'), 30_000, 200);
  const job = (await postJson(baseUrl, '/print', { content: 'Bonjour de npm start' })).json as PrintJob;
  await waitFor('printed', async () => (await getJson<PrintJob>(baseUrl, `/jobs/${job.id}`)).json.status === 'printed');
  const paper = decodeEscPos(fs.readFileSync(path.join(dataDir, 'printer-1.prn')));
  assert.equal(paper.receipts[0]?.lines[3], 'Bonjour de npm start');

  child.kill('SIGTERM');
  assert.equal(await exited, 0, out);
});
