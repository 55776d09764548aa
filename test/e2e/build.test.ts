/**
 * `npm run build`: what it writes runs with plain node (no TypeScript loader), `--help`/`--version` work,
 * pino's pretty output works in the bundles on a terminal, and the built `npm start` prints a job.
 * The build goes to a temp dir laid out like the repository (dist/ next to public/ and node_modules).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import { ROOT } from '../../scripts/build';
import { builtPrograms } from '../support/built-programs';
import { getJson, postJson, tempDir, waitFor } from '../support/harness';
import { freePort } from '../support/ports';

const build = builtPrograms;

/**
 * Runs `args` on a pseudo-terminal (python3's pty module) until it has written `until` (or 60 s), then
 * sends SIGTERM and reads what it writes until it exits (at most 20 s more).
 */
function onTerminal(args: string[], env: NodeJS.ProcessEnv, until: string): string {
  const script = `
import os, pty, select, signal, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
out = b''
until = sys.argv[1].encode()
end = time.time() + 60
stopped = False
while True:
    if not stopped and (until in out or time.time() > end):
        os.kill(pid, signal.SIGTERM); stopped = True; end = time.time() + 20
    elif stopped and time.time() > end:
        break
    r, _, _ = select.select([fd], [], [], 0.1)
    if r:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
sys.stdout.buffer.write(out)
`;
  const result = spawnSync('python3', ['-c', script, until, ...args], { env, encoding: 'utf8', timeout: 120_000 });
  if (result.error) throw result.error;
  return result.stdout;
}

const hasPython = !spawnSync('python3', ['--version']).error;

test('the built programs answer --help and --version with plain node; unknown options exit 2', async (t) => {
  const dir = await build(t);
  const files = fs.readdirSync(path.join(dir, 'dist')).sort();
  assert.deepEqual(files, [
    'api-keys.mjs',
    'mosquitto-files.mjs',
    'printers.mjs',
    'printhop-agent.mjs',
    'printhop-server.mjs',
    'start-all.mjs',
    'virtual-printer.mjs',
    'webhooks.mjs',
  ]);
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const env = { ...process.env, NODE_OPTIONS: '' };
  for (const program of ['printhop-server', 'printhop-agent']) {
    const file = path.join(dir, 'dist', `${program}.mjs`);
    assert.equal(fs.readFileSync(file, 'utf8').split('\n')[0], '#!/usr/bin/env node');
    assert.ok(fs.statSync(file).mode & 0o100, `${program} is executable`);
    assert.equal(execFileSync(process.execPath, [file, '--version'], { env, encoding: 'utf8' }), `${version}\n`);
    const help = execFileSync(process.execPath, [file, '--help'], { env, encoding: 'utf8' });
    assert.match(help, new RegExp(`^${program} ${version.replaceAll('.', '\\.')}: `));
    assert.match(help, program === 'printhop-server' ? /DATA_DIR +"\.\/data"/ : /PRINTER +"\/dev\/usb\/lp0"/);
    const bad = spawnSync(process.execPath, [file, '--nope'], { env, encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /unknown option --nope/);
  }
  // package.json's bin entries name these files.
  const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  assert.deepEqual(manifest.bin, {
    'printhop-server': 'dist/printhop-server.mjs',
    'printhop-agent': 'dist/printhop-agent.mjs',
  });
});

test(
  'pino-pretty works in the bundles on a terminal (colours, no JSON), and JSON lines when not on one',
  { skip: !hasPython && 'python3 is not installed (its pty module gives the programs a terminal)' },
  async (t) => {
    const dir = await build(t);
    const data = tempDir(t);
    const agentEnv = {
      ...process.env,
      NODE_OPTIONS: '',
      PRINTER: `file:${path.join(data, 'p.prn')}`,
      AGENT_DATA_DIR: data,
      MQTT_URL: 'mqtt://127.0.0.1:1',
      LOG_LEVEL: 'info',
    };
    const agentOut = onTerminal(
      [process.execPath, path.join(dir, 'dist/printhop-agent.mjs')],
      agentEnv,
      'broker unreachable',
    );
    assert.match(
      agentOut,
      /\[\d\d:\d\d:\d\d\.\d{3}\] \x1b\[32mINFO\x1b\[39m \(printhop-agent\): \x1b\[36magent started/,
      agentOut,
    );
    assert.ok(!agentOut.includes('{"level"'), agentOut);

    const serverEnv = {
      ...process.env,
      NODE_OPTIONS: '',
      PORT: '0',
      MQTT_PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: data,
      LOG_LEVEL: 'info',
    };
    const serverOut = onTerminal(
      [process.execPath, path.join(dir, 'dist/printhop-server.mjs')],
      serverEnv,
      'Watch traffic',
    );
    assert.match(serverOut, /\x1b\[32mINFO\x1b\[39m \(printhop-server\): \x1b\[36mdatabase ready/, serverOut);
    assert.match(serverOut, /shutting down/, 'it stopped on SIGTERM');

    // Not on a terminal (systemd, containers): JSON lines.
    const piped = spawn(process.execPath, [path.join(dir, 'dist/printhop-agent.mjs')], {
      env: agentEnv,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let pipedOut = '';
    piped.stdout.on('data', (d: Buffer) => (pipedOut += d.toString()));
    t.after(() => piped.kill('SIGKILL'));
    await waitFor('agent started (JSON)', () => /^\{"level":30,.*"msg":"agent started"\}$/m.test(pipedOut), 30_000);
    piped.kill('SIGTERM');
  },
);

/** Every process of the tree under `pid`, with its command line and RSS in kB (from /proc). */
function processTree(pid: number): Array<{ pid: number; cmdline: string; rssKb: number }> {
  const all = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  const parentOf = new Map<number, number>();
  for (const p of all) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      parentOf.set(Number(p), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      /* gone */
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++)
    for (const [child, parent] of parentOf) if (parent === tree[i]) tree.push(child);
  return tree.flatMap((p) => {
    try {
      const rss = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))?.[1];
      return [
        {
          pid: p,
          cmdline: fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ').trim(),
          rssKb: Number(rss ?? 0),
        },
      ];
    } catch {
      return [];
    }
  });
}

test('the built npm start (dist/start-all.mjs) runs the server and the agent with plain node and prints a job', async (t) => {
  const dir = await build(t);
  const dataDir = tempDir(t);
  const [port, mqttPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, [path.join(dir, 'dist/start-all.mjs')], {
    env: {
      ...process.env,
      NODE_OPTIONS: '',
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
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.after(() => child.kill('SIGKILL'));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitFor(
    'printer-1 online',
    async () => (await getJson<Array<{ state: string }>>(baseUrl, '/printers')).json.some((p) => p.state === 'online'),
    30_000,
    200,
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${out}`);
  });
  const job = (await postJson(baseUrl, '/print', { content: 'Bonjour du build' })).json as PrintJob;
  await waitFor('printed', async () => (await getJson<PrintJob>(baseUrl, `/jobs/${job.id}`)).json.status === 'printed');
  assert.equal(
    decodeEscPos(fs.readFileSync(path.join(dataDir, 'printer-1.prn'))).receipts[0]?.lines[3],
    'Bonjour du build',
  );

  const tree = processTree(child.pid!);
  assert.equal(tree.length, 3, JSON.stringify(tree));
  assert.deepEqual(
    tree.map((p) => p.cmdline),
    [
      `${process.execPath} ${path.join(dir, 'dist/start-all.mjs')}`,
      `${process.execPath} ${path.join(dir, 'dist/printhop-server.mjs')}`,
      `${process.execPath} --max-semi-space-size=1 ${path.join(dir, 'dist/printhop-agent.mjs')}`,
    ],
  );
  t.diagnostic(
    `RSS: ${tree.map((p) => `${path.basename(p.cmdline.split(' ').at(-1) ?? '')} ${(p.rssKb / 1024).toFixed(0)} MB`).join(', ')}; total ${(tree.reduce((s, p) => s + p.rssKb, 0) / 1024).toFixed(0)} MB`,
  );

  child.kill('SIGTERM');
  assert.equal(await exited, 0, out);
});
