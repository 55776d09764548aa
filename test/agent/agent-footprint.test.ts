/**
 * Issue 22: what the agent spends per job, in CPU and memory, where it does not change what it prints.
 * A `file:` printer that is a regular file is written without the thread pool; one that can block still has its
 * timeout. A receipt's date in the process's own zone needs no Intl (ICU's locale data, about 8 MB). The built
 * agent evaluates no zod (about 2.5 MB) unless a setting is refused, paired or not, a job printed or refused.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { DevicePrinter } from '../../agent/printers/device-printer';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { formatReceiptDate } from '../../protocol/receipt-layout';
import { topics } from '../../protocol/topics';
import { build } from 'esbuild';
import { CODE_PAGES, decodeText, encodeInto } from '../../protocol/codepages';
import { AGENT_PLUGINS, bundleAgent, ROOT, SOCKS_REFUSAL } from '../../scripts/build';
import { connectClient, getJson, mqttCredentials, postJson, startTestServer, waitFor } from '../support/harness';

const tmpDir = (t: { after(fn: () => void): void }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-footprint-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
};

/** A writer for each FIFO ends the opens waiting for one (ENXIO: that open has not reached its thread yet). */
async function releaseFifos(fifos: string[], held: Array<Promise<fsp.FileHandle>>): Promise<void> {
  const writers: number[] = [];
  for (const fifo of fifos)
    for (const deadline = Date.now() + 10_000; ;) {
      try {
        writers.push(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  for (const handle of await Promise.all(held)) await handle.close();
  writers.forEach((fd) => fs.closeSync(fd));
}

/**
 * `entry` bundled as the agent's bundle is: ESM for node with Node's require for the CommonJS packages inside
 * it, and the agent's plugins (what it leaves out or keeps compressed).
 */
async function bundleLikeTheAgent(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    logLevel: 'warning',
    nodePaths: [path.join(ROOT, 'node_modules')],
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
    plugins: AGENT_PLUGINS,
  });
}

test('a file: printer that is a regular file is written without the thread pool, one job after another', async (t) => {
  if (process.platform === 'win32') return t.skip('no FIFOs');
  const dir = tmpDir(t);
  const file = path.join(dir, 'paper.prn');
  const connection = await new DevicePrinter(file, 'file', 1000).open();
  // Every thread of libuv's pool held by an open(2) that waits for a FIFO's writer: a write through the pool
  // would wait for them.
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const fifos = Array.from({ length: threads }, (_, i) => path.join(dir, `hold-${i}.fifo`));
  for (const fifo of fifos) execFileSync('mkfifo', [fifo]);
  const held = fifos.map((fifo) => fsp.open(fifo, 'r'));
  let timer: NodeJS.Timeout | undefined;
  try {
    const written = await Promise.race([
      connection.write(Buffer.from('first receipt\n')).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 2000))),
    ]);
    assert.equal(written, true, 'written while every pool thread was busy');
    assert.equal(fs.readFileSync(file, 'utf8'), 'first receipt\n');
  } finally {
    clearTimeout(timer);
    await releaseFifos(fifos, held);
  }
  await connection.write(Buffer.from('second receipt\n'));
  await connection.close();
  assert.equal(fs.readFileSync(file, 'utf8'), 'first receipt\nsecond receipt\n');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});

test('a file: printer that can block (a FIFO nobody reads) still times out, and the agent goes on', async (t) => {
  if (process.platform === 'win32') return t.skip('no FIFOs');
  const fifo = path.join(tmpDir(t), 'printer.fifo');
  execFileSync('mkfifo', [fifo]);
  // A reader that never reads: the writer's open succeeds, and its writes block once the pipe is full.
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const connection = await new DevicePrinter(fifo, 'file', 300).open();
  let alive = 0;
  const counter = setInterval(() => alive++, 20);
  try {
    await assert.rejects(connection.write(Buffer.alloc(1 << 20, 0x41)), /timed out after 300 ms/);
    assert.ok(alive >= 5, `the event loop kept running while the write was blocked (${alive} ticks)`);
  } finally {
    clearInterval(counter);
    fs.closeSync(reader); // the blocked write ends (EPIPE) and frees its thread
    await connection.close().catch(() => undefined);
  }
});

test('a receipt date in the process’s zone is the one Intl gives, and is made without Intl', () => {
  const date = new Date('2026-12-31T23:59:00Z');
  const parts = new Intl.DateTimeFormat('en-GB', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(date);
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  assert.equal(formatReceiptDate(date), `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}`);

  // In a process whose Intl.DateTimeFormat throws: the local zone, and the zone TZ names, print all the same.
  const script = `
    Intl.DateTimeFormat = function () { throw new Error('Intl used'); };
    const { formatReceiptDate } = await import(${JSON.stringify(path.resolve('protocol/receipt-layout.ts'))});
    const d = new Date('2026-12-31T23:59:00Z');
    console.log(JSON.stringify([formatReceiptDate(d), formatReceiptDate(d, 'America/New_York')]));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, TZ: 'America/New_York' },
    encoding: 'utf8',
  });
  assert.deepEqual(JSON.parse(out), ['2026-12-31 18:59', '2026-12-31 18:59']);
  // Another zone than the process's still goes through Intl, and is right.
  assert.equal(formatReceiptDate(date, 'Asia/Tokyo'), '2027-01-01 08:59');
});

/**
 * A module run before the agent that says on stderr when zod is evaluated: zod's core reads and sets
 * `globalThis.__zod_globalConfig` when it loads (node_modules/zod/v4/core/core.js).
 */
const ZOD_PROBE = `let value, told = false;
Object.defineProperty(globalThis, '__zod_globalConfig', {
  configurable: true,
  get() { if (!told) process.stderr.write('ZOD-EVALUATED\\n'); told = true; return value; },
  set(v) { value = v; },
});`;

/** The agent bundled as `npm run build` bundles it, into `dir`, with the zod probe beside it. */
async function builtAgent(dir: string): Promise<{ agent: string; probe: string }> {
  const agent = path.join(dir, 'printhop-agent.mjs');
  await bundleAgent(agent);
  const probe = path.join(dir, 'zod-probe.mjs');
  fs.writeFileSync(probe, ZOD_PROBE);
  return { agent, probe };
}

function runAgent(
  files: { agent: string; probe: string },
  env: Record<string, string>,
): {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, ['--import', pathToFileURL(files.probe).href, files.agent], {
    env: { PATH: process.env.PATH, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out, exited: new Promise((resolve) => child.on('exit', resolve)) };
}

test('the built agent evaluates no zod: started, paired, printing a job and refusing a malformed one', async (t) => {
  const dir = tmpDir(t);
  const files = await builtAgent(dir);
  const server = await startTestServer(t, { debugCanPublish: true });
  const { password } = mqttCredentials(server, { printerId: 'printer-1' });
  const agentDir = path.join(dir, 'agent');
  // A saved pairing (credentials.json), as `PRINTHOP_URL` and an approved code leave it: read without zod.
  fs.mkdirSync(agentDir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(
    path.join(agentDir, 'credentials.json'),
    JSON.stringify({
      printerId: 'printer-1',
      token: password,
      mqttUrl: server.tcpUrl,
      server: server.baseUrl,
      pairedAt: new Date().toISOString(),
    }),
    { mode: 0o600 },
  );
  const paper = path.join(dir, 'paper.prn');
  const run = runAgent(files, {
    PRINTHOP_URL: server.baseUrl,
    PRINTER: `file:${paper}`,
    AGENT_DATA_DIR: agentDir,
  });
  t.after(() => run.child.kill('SIGKILL'));
  const output = () => `the agent's output:\n${run.output()}`;
  await waitFor(
    'the agent online',
    async () => (await server.printers.get('printer-1'))?.state === 'online',
    30_000,
    100,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; ${output()}`);
  });
  assert.match(run.output(), /using the saved pairing/);
  const job = (await postJson(server.baseUrl, '/print', { content: 'sans zod' })).json as PrintJob;
  await waitFor(
    'printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'printed',
  );
  assert.match(fs.readFileSync(paper, 'latin1'), /sans zod/);
  // A job message the agent refuses: worded as zod words it, without zod.
  const debug = await connectClient(t, server, 'debug');
  await debug.publishAsync(topics.jobs('printer-1'), JSON.stringify({ id: 0, content: 'x', createdAt: 'now' }), {
    qos: 1,
  });
  await debug.endAsync();
  await waitFor('the refusal logged', async () => /malformed job message ignored/.test(run.output()), 10_000, 50).catch(
    (err: Error) => {
      throw new Error(`${err.message}; ${output()}`);
    },
  );
  assert.match(run.output(), /"error":"invalid payload: id: Too small: expected number to be >0"/);
  assert.doesNotMatch(run.output(), /ZOD-EVALUATED/, output());
  run.child.kill('SIGTERM');
  assert.equal(await run.exited, 0, output());
});

test('a refused setting still loads zod to say why, in zod’s words, every refused setting named', async (t) => {
  const files = await builtAgent(tmpDir(t));
  // The probe sees zod when it is evaluated: here, only to word the refusal.
  const run = runAgent(files, { PAPER_COLUMNS: '5', TZ: 'Nowhere/X', MQTT_URL: 'http://u:secret@h' });
  assert.equal(await run.exited, 2, run.output());
  assert.match(run.output(), /ZOD-EVALUATED/);
  assert.match(
    run.output(),
    /invalid configuration:\n {2}- MQTT_URL="http:\/\/\*\*\*:\*\*\*@h\/": must be a mqtt:\/\/, mqtts:\/\/, ws:\/\/ or wss:\/\/ URL\n {2}- PAPER_COLUMNS="5": must be at least 16 \(or 58mm, 80mm, 80mm-42\)\n {2}- TZ="Nowhere\/X": must be an IANA time zone such as Europe\/Paris/,
  );
  assert.doesNotMatch(run.output(), /secret/);
});

test('zod’s source is in the agent’s bundle only compressed, and a refused setting still gets zod’s own words', async (t) => {
  const dir = tmpDir(t);
  const files = await builtAgent(dir);
  const bundle = fs.readFileSync(files.agent, 'utf8');
  // Names only zod's own source holds: its global config, its lazy getters, its check for a JIT-less runtime.
  for (const name of ['__zod_globalConfig', 'defineLazy', 'jitless']) assert.ok(!bundle.includes(name), name);
  // The compressed copy is zod itself: its refusal of a value, word for word, against this process's zod.
  const entry = path.join(dir, 'zod-words.mjs');
  fs.writeFileSync(
    entry,
    `import { z } from 'zod';
const schema = z.object({ n: z.coerce.number().int().min(16), e: z.enum(['a', 'b']), s: z.string().min(1) });
process.stdout.write(JSON.stringify(schema.safeParse({ n: 'x', e: 'c', s: '' }).error.issues));`,
  );
  const bundled = path.join(dir, 'zod-words.bundle.mjs');
  await bundleLikeTheAgent(entry, bundled);
  assert.ok(!fs.readFileSync(bundled, 'utf8').includes('__zod_globalConfig'));
  const { z } = await import('zod');
  const schema = z.object({ n: z.coerce.number().int().min(16), e: z.enum(['a', 'b']), s: z.string().min(1) });
  const expected = JSON.stringify(schema.safeParse({ n: 'x', e: 'c', s: '' }).error!.issues);
  assert.equal(execFileSync(process.execPath, [bundled]).toString(), expected);
});

test('pino-pretty’s source is in the agent’s bundle only compressed, and a terminal still gets its lines', async (t) => {
  const dir = tmpDir(t);
  const files = await builtAgent(dir);
  const bundle = fs.readFileSync(files.agent, 'utf8');
  // Names only pino-pretty and its packages hold.
  for (const name of ['prettifyErrorLog', 'handleCustomLevelsOpts', 'dateformat'])
    assert.ok(!bundle.includes(name), name);
  // A bundle built with the agent's plugins prints a log line as this process's pino-pretty does.
  const line = JSON.stringify({
    level: 50,
    time: 0,
    name: 'x',
    msg: 'printer gone',
    err: { message: 'EIO' },
    jobId: 7,
  });
  const options = { colorize: false, sync: true, translateTime: false, ignore: 'pid,hostname' };
  const entry = path.join(dir, 'pretty.mjs');
  fs.writeFileSync(
    entry,
    `import pinoPretty from 'pino-pretty';
const stream = pinoPretty({ ...${JSON.stringify(options)}, destination: 1 });
stream.write(${JSON.stringify(line + '\n')});
stream.end();`,
  );
  const bundled = path.join(dir, 'pretty.bundle.mjs');
  await bundleLikeTheAgent(entry, bundled);
  assert.ok(!fs.readFileSync(bundled, 'utf8').includes('prettifyErrorLog'));
  const expectedFile = path.join(dir, 'expected.txt');
  const { default: pinoPretty } = await import('pino-pretty');
  const stream = pinoPretty({ ...options, destination: expectedFile });
  stream.write(line + '\n');
  await new Promise((resolve) => stream.end(resolve));
  const printed = execFileSync(process.execPath, [bundled]).toString();
  assert.match(printed, /printer gone/);
  assert.equal(printed, fs.readFileSync(expectedFile, 'utf8'));
});

test('mqtt.js’s SOCKS proxy client and browser timers are not in the agent’s bundle; a SOCKS proxy is refused in words', async (t) => {
  const dir = tmpDir(t);
  const files = await builtAgent(dir);
  const bundle = fs.readFileSync(files.agent, 'utf8');
  // `socks`'s client class, `ip-address`'s IPv6 class, `smart-buffer`'s class, worker-timers' broker.
  for (const name of ['SocksClient', 'Address6', 'SmartBuffer', 'createBroker'])
    assert.ok(!bundle.includes(name), name);
  const run = runAgent(files, {
    MQTTJS_SOCKS_PROXY: 'socks5://127.0.0.1:1080',
    MQTT_URL: 'mqtt://127.0.0.1:1',
    MQTT_PASSWORD: 'x'.repeat(20),
    PRINTER: `file:${path.join(dir, 'paper.prn')}`,
    AGENT_DATA_DIR: path.join(dir, 'agent'),
  });
  t.after(() => run.child.kill('SIGKILL'));
  assert.equal(await run.exited, 1, run.output());
  assert.ok(run.output().includes(SOCKS_REFUSAL), run.output());
});

/** Every UTF-16 unit in each code page, and every byte back: what the receipt and its check use of iconv-lite. */
const CODE_PAGE_PROBE = (
  codepages: string,
) => `import { CODE_PAGES, decodeText, encodeInto } from ${JSON.stringify(codepages)};
const units = Array.from({ length: 65536 }, (_, i) => String.fromCharCode(i)).join('');
const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const out = {};
for (const [name, page] of Object.entries(CODE_PAGES)) {
  const target = new Uint8Array(units.length);
  encodeInto(page, units, target, 0);
  out[name] = { encoded: Buffer.from(target).toString('base64'), decoded: decodeText(page, bytes) };
}
process.stdout.write(JSON.stringify(out));`;

test('iconv-lite’s double-byte tables are not in the agent’s bundle; each code page still encodes and decodes as iconv-lite does', async (t) => {
  const dir = tmpDir(t);
  const files = await builtAgent(dir);
  const bundle = fs.readFileSync(files.agent, 'utf8');
  // Names only the double-byte modules hold: Shift_JIS's table, the GB18030 ranges, the DBCS codec.
  for (const name of ['shiftjis', 'gb18030-ranges', 'DBCSCodec']) assert.ok(!bundle.includes(name), name);
  // The code pages through a bundle built like the agent's, against this process's (all of iconv-lite).
  const entry = path.join(dir, 'code-pages.mjs');
  fs.writeFileSync(entry, CODE_PAGE_PROBE(path.join(ROOT, 'protocol/codepages.ts')));
  const probe = path.join(dir, 'code-pages.bundle.mjs');
  await bundleLikeTheAgent(entry, probe);
  const bundled = JSON.parse(execFileSync(process.execPath, [probe], { maxBuffer: 64 << 20 }).toString()) as Record<
    string,
    { encoded: string; decoded: string }
  >;
  const units = Array.from({ length: 65536 }, (_, i) => String.fromCharCode(i)).join('');
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  assert.deepEqual(Object.keys(bundled), Object.keys(CODE_PAGES));
  for (const [name, page] of Object.entries(CODE_PAGES)) {
    const target = new Uint8Array(units.length);
    encodeInto(page, units, target, 0);
    assert.equal(bundled[name]!.encoded, Buffer.from(target).toString('base64'), name);
    assert.equal(bundled[name]!.decoded, decodeText(page, bytes), name);
  }
});
