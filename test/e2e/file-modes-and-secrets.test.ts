/**
 * Issue 17, the rest: file modes of what the server and the agent write, secrets in start-up errors
 * (the real programs, started as child processes), a too-long job published past the server, and
 * plain objects used as lookup tables.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { loadServerConfig } from '../../config';
import { loadTokens } from '../../broker-server/broker/tokens';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import {
  captureLogger,
  getJson,
  postJson,
  startTestAgent,
  startTestServer,
  tempDir,
  waitFor,
} from '../support/harness';

const root = path.resolve(import.meta.dirname, '../..');
const modeOf = (file: string) => (fs.statSync(file).mode & 0o777).toString(8);

/** Runs one of the programs to its end (or for `ms`), and returns everything it printed. */
function runProgram(
  t: TestContext,
  script: string,
  env: Record<string, string>,
  ms = 30_000,
  until?: RegExp,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, script)], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
  });
  let output = '';
  const take = (d: Buffer) => {
    output += d.toString();
    if (until?.test(output)) child.kill('SIGTERM');
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const timer = setTimeout(() => child.kill('SIGTERM'), ms);
  t.after(() => {
    clearTimeout(timer);
    child.kill('SIGKILL');
  });
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

test('the server keeps its data private: DATA_DIR 0700; the SQLite file, its -wal and -shm, the token and form key files 0600', async (t) => {
  const previous = process.umask(0o022);
  t.after(() => process.umask(previous));
  const dataDir = path.join(tempDir(t), 'data');
  const server = await startTestServer(t, { mqttPort: -1, dataDir });
  assert.equal((await postJson(server.baseUrl, '/print', { content: 'privé' })).status, 201);
  assert.equal(modeOf(dataDir), '700');
  for (const file of [
    'printhop.sqlite',
    'printhop.sqlite-wal',
    'printhop.sqlite-shm',
    'mqtt-tokens.json',
    'form-token.key',
  ]) {
    assert.equal(modeOf(path.join(dataDir, file)), '600', file);
  }
});

test('files left readable by others are made private at start, with a warning', async (t) => {
  const previous = process.umask(0o022);
  t.after(() => process.umask(previous));
  const dataDir = path.join(tempDir(t), 'data');
  const first = await startTestServer(t, { mqttPort: -1, dataDir });
  await first.stop();
  fs.chmodSync(dataDir, 0o755);
  for (const file of fs.readdirSync(dataDir)) fs.chmodSync(path.join(dataDir, file), 0o644);
  const capture = captureLogger('warn');
  await startTestServer(t, { mqttPort: -1, dataDir }, { log: capture.log });
  assert.equal(modeOf(dataDir), '700');
  for (const file of fs.readdirSync(dataDir)) assert.equal(modeOf(path.join(dataDir, file)), '600', file);
  const warnings = capture.entries().map((e) => String(e.msg));
  assert.ok(
    warnings.some((m) => /data folder was open to other users/.test(m)),
    warnings.join('\n'),
  );
  assert.ok(
    warnings.some((m) => /database files were readable by other users/.test(m)),
    warnings.join('\n'),
  );
});

test("the agent keeps its journal and a file: printer's output private (folder 0700, files 0600), also after compaction", async (t) => {
  const previous = process.umask(0o022);
  t.after(() => process.umask(previous));
  const server = await startTestServer(t, { mqttPort: -1 });
  const dir = tempDir(t, 'printhop-agent-');
  const agent = await startTestAgent(t, server, {
    dataDir: path.join(dir, 'journal'),
    printer: `file:${path.join(dir, 'out', 'paper.prn')}`,
  });
  const job = (await postJson(server.baseUrl, '/print', { content: 'secret du jour' })).json as PrintJob;
  await waitFor(
    'printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'printed',
  );
  assert.equal(modeOf(path.join(dir, 'journal')), '700');
  assert.equal(modeOf(path.join(dir, 'journal', 'journal.jsonl')), '600');
  assert.equal(modeOf(path.join(dir, 'out', 'paper.prn')), '600');
  await agent.journal.compactNow();
  assert.equal(modeOf(path.join(dir, 'journal', 'journal.jsonl')), '600', 'the rewritten journal too');
});

test('no start-up error shows a secret: a malformed DATABASE_URL, a MQTT_URL with # in its password (server and agent)', async (t) => {
  const dataDir = tempDir(t);
  const badDb = await runProgram(t, 'broker-server/main.ts', {
    DATA_DIR: dataDir,
    PORT: '0',
    MQTT_PORT: '0',
    DATABASE_URL: 'postgres://alice:S3cretPW@[bad/db',
  });
  assert.notEqual(badDb.code, 0);
  assert.ok(!badDb.output.includes('S3cretPW'), badDb.output);
  assert.match(badDb.output, /DATABASE_URL=\(hidden\): is not a valid URL/);

  const badServerMqtt = await runProgram(t, 'broker-server/main.ts', {
    DATA_DIR: dataDir,
    PORT: '0',
    MQTT_PORT: '0',
    MQTT_URL: 'mqtt://printhop-server:Zq#9SecretTail@127.0.0.1:1',
  });
  assert.notEqual(badServerMqtt.code, 0);
  assert.ok(!badServerMqtt.output.includes('9SecretTail'), badServerMqtt.output);
  assert.match(badServerMqtt.output, /MQTT_URL=.*percent-encode/);

  const badAgent = await runProgram(t, 'agent/main.ts', {
    AGENT_DATA_DIR: path.join(dataDir, 'agent'),
    PRINTER: `file:${path.join(dataDir, 'p.prn')}`,
    MQTT_URL: 'mqtt://printer-1:Zq#9SecretTail@127.0.0.1:1',
  });
  assert.notEqual(badAgent.code, 0);
  assert.ok(!badAgent.output.includes('9SecretTail'), badAgent.output);
  assert.ok(!/DEP0170|url\.parse/.test(badAgent.output), badAgent.output);
});

test('a password with # percent-encoded in MQTT_URL works (our own URL parsing) and is never logged', async (t) => {
  const token = 'tok#en-Secret-1234567';
  const server = await startTestServer(t, {
    mqttTokens: { printers: { 'printer-1': token }, debug: null, server: null },
  });
  const url = `ws://printer-1:${encodeURIComponent(token)}@127.0.0.1:${server.httpPort}/mqtt`;
  const dataDir = path.join(tempDir(t), 'journal');
  const run = await runProgram(
    t,
    'agent/main.ts',
    {
      MQTT_URL: url,
      MQTT_PASSWORD: '',
      AGENT_DATA_DIR: dataDir,
      PRINTER: `file:${path.join(dataDir, '..', 'p.prn')}`,
      LOG_LEVEL: 'debug',
    },
    30_000,
    /connected to broker/,
  );
  assert.match(run.output, /connected to broker/, run.output);
  assert.ok(!run.output.includes('Secret-1234567'), 'the password is never printed');
  assert.ok(!/DEP0169|DEP0170/.test(run.output), run.output);
});

test('a job longer than RECEIPT_MAX_LINES that reaches the agent past the server (published by hand) fails with the reason; nothing printed', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  const agent = await startTestAgent(t, server, { receiptMaxLines: 200 });
  await waitFor('online', async () => (await server.printers.get('printer-1'))?.state === 'online');
  // Straight into the store and onto the broker: no HTTP check on the way.
  const job = await server.jobs.create({ printerId: 'printer-1', content: 'x\n'.repeat(2000) });
  await server.dispatcher.publish(job);
  const failed = await waitFor('failed', async () => {
    const j = (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json;
    return j.status === 'failed' ? j : null;
  });
  assert.match(
    failed.error ?? '',
    /not printed: the receipt would be 2006 lines long on 48-column paper; the limit is 200/,
  );
  assert.equal(agent.paper().receipts.length, 0);
  // A normal job still prints.
  const ok = (await postJson(server.baseUrl, '/print', { content: 'court' })).json as PrintJob;
  await waitFor(
    'printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${ok.id}`)).json.status === 'printed',
  );
  assert.equal(agent.paper().receipts.length, 1);
});

test('printer names that are Object property names are plain keys: __proto__ and constructor get their own tokens', (t) => {
  const config = loadServerConfig({
    PRINTERS: 'constructor,toString',
    PRINTER_TOKENS: '__proto__:0123456789abcdefXYZ',
    DATA_DIR: tempDir(t),
  });
  assert.ok(Object.hasOwn(config.mqttTokens.printers, '__proto__'));
  assert.equal(Object.getPrototypeOf(config.mqttTokens.printers), Object.prototype);
  const { accounts } = loadTokens({ ...config, printers: [...config.printers, '__proto__'] });
  for (const id of ['constructor', 'toString', '__proto__']) {
    const { password } = accounts.credentialsFor({ kind: 'printer', printerId: id });
    assert.equal(typeof password, 'string', id);
    assert.ok(accounts.verify(id, password).ok, id);
  }
});
