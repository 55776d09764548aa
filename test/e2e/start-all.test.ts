import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import { TOKENS_FILE } from '../../broker-server/broker/tokens';
import { getJson, mqttCredentials, postJson, tempDir, waitFor } from '../support/harness';
import { freePort } from '../support/ports';

function sh(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) =>
    execFile('sh', ['-c', command], { timeout: 20_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    ),
  );
}

test('npm start, with no configuration, runs the server and an authenticated agent on the virtual printer; the printed mosquitto_sub works; it stops on SIGTERM', async (t) => {
  const dataDir = tempDir(t);
  const [port, mqttPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, ['--import', 'tsx', 'broker-server/start-all.ts'], {
    env: {
      ...process.env,
      PORT: String(port),
      MQTT_PORT: String(mqttPort),
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));

  const baseUrl = `http://127.0.0.1:${port}`;
  assert.match(
    await waitFor('banner', () => (out.includes('Receipts go to') ? out : null)),
    new RegExp(`http://127\\.0\\.0\\.1:${port}/`),
  );
  await waitFor(
    'printer-1 online',
    async () =>
      (await getJson<Array<{ id: string; state: string }>>(baseUrl, '/printers')).json.some(
        (p) => p.state === 'online',
      ),
    30_000,
    200,
  );
  const job = (await postJson(baseUrl, '/print', { content: 'Bonjour de npm start' })).json as PrintJob;
  await waitFor('printed', async () => (await getJson<PrintJob>(baseUrl, `/jobs/${job.id}`)).json.status === 'printed');
  const paper = decodeEscPos(fs.readFileSync(path.join(dataDir, 'printer-1.prn')));
  assert.equal(paper.receipts[0]?.lines[3], 'Bonjour de npm start');

  // The agent got its token from the file start-all made, readable by this user only.
  assert.equal(fs.statSync(path.join(dataDir, TOKENS_FILE)).mode & 0o777, 0o600);
  const printed = /Watch traffic: +(mosquitto_sub .+)$/m.exec(out)?.[1];
  assert.ok(printed, out);
  assert.ok(printed.includes(`-P ${mqttCredentials({ dataDir }, 'debug').password}`), printed);
  assert.match(
    out,
    new RegExp(
      `Agent printer-1: MQTT_URL=ws://127\\.0\\.0\\.1:${port}/mqtt PRINTER_ID=printer-1 MQTT_PASSWORD=${mqttCredentials({ dataDir }, { printerId: 'printer-1' }).password} npm run agent`,
    ),
  );
  const watched = await sh(`${printed} -C 1 -W 10`);
  assert.equal(watched.code, 0, watched.stderr);
  assert.match(watched.stdout, /^printers\/printer-1\/status \{"state":"online"/);
  const anonymous = await sh(`mosquitto_sub -h 127.0.0.1 -p ${mqttPort} -t 'printers/#' -C 1 -W 5`);
  assert.notEqual(anonymous.code, 0);
  assert.match(anonymous.stderr, /not authori[sz]ed/);
  const logLines = out.split('\n').filter((l) => l.startsWith('{'));
  for (const as of ['debug', 'server', { printerId: 'printer-1' }] as const) {
    assert.ok(!logLines.some((l) => l.includes(mqttCredentials({ dataDir }, as).password)), 'no token in a log line');
  }

  child.kill('SIGTERM');
  assert.equal(await exited, 0, out);
});
