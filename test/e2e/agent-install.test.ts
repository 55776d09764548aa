/**
 * The agents a server hands out (/agents/) and its Linux installer, for real: `install.sh` fetched from a
 * running server and run by `sh` as root with `--root DIR --no-start` places every file with its owner and
 * mode inside DIR (users in DIR/etc/passwd, nothing on this machine), downloads the agent and checks its
 * SHA-256; the agent as installed, with the settings it was given, pairs with the server (its code on
 * paper); `--uninstall` takes it all away. The served agent is the one-file agent, really built; the
 * executables (`npm run build:agents`, 96 MB each) are covered by the index saying they are not built.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import crypto, { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { PAIRING_RECEIPT_TITLE } from '../../agent/pairing-receipt';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import { bundleAgent } from '../../scripts/build';
import { defer, getJson, startTestServer, tempDir, waitFor } from '../support/harness';
import { checkAgainstDocument } from '../support/openapi-check';
import { readPaper } from '../support/paper-audit';

const ROOT = path.resolve(import.meta.dirname, '../..');
const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'install.sh needs root (it creates a user and chowns files), even with --root';

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** A root folder with this machine's user database, for useradd --prefix to edit instead of the real one. */
function fakeRoot(t: TestContext): string {
  const dir = tempDir(t, 'printhop-root-');
  fs.mkdirSync(path.join(dir, 'etc'));
  for (const file of ['passwd', 'group', 'shadow', 'gshadow', 'login.defs'])
    if (fs.existsSync(`/etc/${file}`)) fs.copyFileSync(`/etc/${file}`, path.join(dir, 'etc', file));
  return dir;
}

async function fetchScript(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/agents/install.sh`);
  assert.equal(res.status, 200);
  const text = await res.text();
  checkAgainstDocument({ method: 'GET', url: res.url, status: res.status, headers: res.headers, body: text });
  return text;
}

/** `sh -s -- ARGS` with the script on stdin, as `curl … | sudo sh -s -- ARGS` runs it. */
function runScript(script: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-s', '--', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(script);
  });
}

function account(root: string, name: string): { uid: number; gid: number; shell: string; home: string } | null {
  const line = fs
    .readFileSync(path.join(root, 'etc/passwd'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) return null;
  const [, , uid, gid, , home, shell] = line.split(':');
  return { uid: Number(uid), gid: Number(gid), shell: shell!, home: home! };
}

/** Every path under `dir`, relative, with its owner and mode, except the user database. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel))) {
      const child = path.join(rel, entry);
      const stat = fs.lstatSync(path.join(dir, child));
      if (rel === 'etc' && /^(passwd|group|shadow|gshadow|login\.defs|subuid|subgid)-?$/.test(entry)) continue;
      out[child] = `${stat.uid}:${stat.gid} ${(stat.mode & 0o7777).toString(8)}${stat.isDirectory() ? ' dir' : ''}`;
      if (stat.isDirectory()) walk(child);
    }
  };
  walk('');
  return out;
}

test('/agents/ lists what is built with its SHA-256 and says how to build the rest', async (t) => {
  const agents = tempDir(t, 'printhop-agents-');
  fs.writeFileSync(path.join(agents, 'printhop-agent.mjs'), 'console.log("an agent")\n');
  const server = await startTestServer(t, { agentsDir: agents });
  const { json } = await getJson<{
    agents: Array<{ file: string; sha256: string; bytes: number; url: string }>;
    missing: string[];
    build: string;
    install: { linux: string };
  }>(server.baseUrl, '/agents');
  assert.deepEqual(
    json.agents.map((a) => [a.file, a.sha256, a.bytes]),
    [['printhop-agent.mjs', sha256(path.join(agents, 'printhop-agent.mjs')), 24]],
  );
  assert.deepEqual(json.missing, [
    'printhop-agent-linux-x64',
    'printhop-agent-linux-arm64',
    'printhop-agent-win-x64.exe',
  ]);
  assert.match(json.build, /npm run build:agents/);
  assert.equal(json.install.linux, `curl -fsSL ${server.baseUrl}/agents/install.sh | sudo sh`);

  const file = await fetch(`${server.baseUrl}/agents/printhop-agent.mjs`);
  assert.equal(file.status, 200);
  const body = Buffer.from(await file.arrayBuffer());
  assert.equal(body.toString(), 'console.log("an agent")\n');
  assert.equal(file.headers.get('repr-digest'), `sha-256=:${createHash('sha256').update(body).digest('base64')}:`);
  const sums = await (await fetch(`${server.baseUrl}/agents/SHA256SUMS`)).text();
  assert.equal(sums, `${sha256(path.join(agents, 'printhop-agent.mjs'))}  printhop-agent.mjs\n`);

  const notBuilt = await getJson<{ error: string }>(server.baseUrl, '/agents/printhop-agent-linux-x64');
  assert.equal(notBuilt.status, 404);
  assert.match(notBuilt.json.error, /npm run build:agents/);
  for (const name of ['..%2F..%2Fpackage.json', 'printhop-agent.mjs.map', '.env'])
    assert.equal((await fetch(`${server.baseUrl}/agents/${name}`)).status, 404, name);
  // The agent changes (rebuilt): its new digest is served.
  fs.appendFileSync(path.join(agents, 'printhop-agent.mjs'), '// rebuilt\n');
  const again = await getJson<{ agents: Array<{ sha256: string }> }>(server.baseUrl, '/agents');
  assert.equal(again.json.agents[0]!.sha256, sha256(path.join(agents, 'printhop-agent.mjs')));
});

test(
  'install.sh --root DIR --no-start: every file with its owner and mode, the agent checked, and it pairs',
  { skip },
  async (t) => {
    const agents = tempDir(t, 'printhop-agents-');
    await bundleAgent(path.join(agents, 'printhop-agent.mjs'));
    const server = await startTestServer(t, { agentsDir: agents });
    const root = fakeRoot(t);
    const hostPasswd = fs.readFileSync('/etc/passwd', 'utf8');
    const paper = path.join(tempDir(t, 'printhop-paper-'), 'paper.prn');
    const script = await fetchScript(server.baseUrl);
    assert.ok(script.startsWith('#!/bin/sh\n'));
    assert.ok(script.includes(`PRINTHOP_URL='${server.baseUrl}'`));

    const installed = await runScript(script, ['--root', root, '--no-start', '--printer', `file:${paper}`]);
    assert.equal(installed.code, 0, installed.stderr + installed.stdout);
    assert.equal(fs.readFileSync('/etc/passwd', 'utf8'), hostPasswd, 'nothing changed on this machine');

    const user = account(root, 'printhop');
    assert.ok(user, 'the printhop user is in DIR/etc/passwd');
    assert.ok(user.uid < 1000, 'a system user');
    assert.equal(user.shell, '/usr/sbin/nologin');
    const lp = fs
      .readFileSync(path.join(root, 'etc/group'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('lp:'))!;
    assert.ok(lp.split(':')[3]!.split(',').includes('printhop'), lp);
    const { uid, gid } = user;

    assert.deepEqual(tree(root), {
      etc: '0:0 755 dir',
      'etc/printhop': '0:0 755 dir',
      'etc/printhop/agent.env': `0:${gid} 640`,
      'etc/systemd': '0:0 755 dir',
      'etc/systemd/system': '0:0 755 dir',
      'etc/systemd/system/printhop-agent.service': '0:0 644',
      'etc/udev': '0:0 755 dir',
      'etc/udev/rules.d': '0:0 755 dir',
      'etc/udev/rules.d/99-printhop.rules': '0:0 644',
      opt: '0:0 755 dir',
      'opt/printhop-agent': '0:0 755 dir',
      'opt/printhop-agent/printhop-agent.mjs': '0:0 644',
      var: '0:0 755 dir',
      'var/lib': '0:0 755 dir',
      'var/lib/printhop': `${uid}:${gid} 700 dir`,
    });
    assert.equal(
      sha256(path.join(root, 'opt/printhop-agent/printhop-agent.mjs')),
      sha256(path.join(agents, 'printhop-agent.mjs')),
    );
    const env = fs.readFileSync(path.join(root, 'etc/printhop/agent.env'), 'utf8');
    assert.match(env, new RegExp(`^PRINTHOP_URL=${server.baseUrl}$`, 'm'));
    assert.match(env, new RegExp(`^PRINTER=file:${paper}$`, 'm'));
    const unit = fs.readFileSync(path.join(root, 'etc/systemd/system/printhop-agent.service'), 'utf8');
    const node = (await promisify(execFile)('sh', ['-c', 'command -v node'])).stdout.trim();
    assert.match(unit, new RegExp(`^ExecStart=${node} /opt/printhop-agent/printhop-agent.mjs$`, 'm'));
    assert.match(unit, /^User=printhop$/m);
    assert.match(unit, /^SupplementaryGroups=lp$/m);
    assert.match(unit, /^EnvironmentFile=\/etc\/printhop\/agent.env$/m);
    assert.equal(
      fs.readFileSync(path.join(root, 'etc/udev/rules.d/99-printhop.rules'), 'utf8').trimEnd(),
      fs.readFileSync(path.join(ROOT, 'agent/deploy/99-printhop.rules'), 'utf8').trimEnd(),
    );

    // The agent as installed, with the settings installed (as its unit would start it): it pairs.
    const settings = Object.fromEntries(
      env
        .split('\n')
        .filter((l) => /^[A-Z_]+=/.test(l))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    const agent = spawn(node, [path.join(root, 'opt/printhop-agent/printhop-agent.mjs')], {
      cwd: path.join(root, 'opt/printhop-agent'),
      env: { PATH: process.env.PATH, ...settings, AGENT_DATA_DIR: path.join(root, 'var/lib/printhop') },
      stdio: 'ignore',
    });
    defer(t, () => {
      agent.kill('SIGKILL');
    });
    await waitFor(
      'the installed agent prints its pairing code',
      () => decodeEscPos(readPaper(paper)).receipts.some((r) => r.cut && r.lines.includes(PAIRING_RECEIPT_TITLE)),
      30_000,
      100,
    );
    agent.kill('SIGKILL');

    // Again, with another printer: the settings file is kept but for PRINTER; the user is not added twice.
    const again = await runScript(await fetchScript(server.baseUrl), [
      '--root',
      root,
      '--no-start',
      '--printer',
      'tcp://192.168.1.50:9100',
    ]);
    assert.equal(again.code, 0, again.stderr);
    const env2 = fs.readFileSync(path.join(root, 'etc/printhop/agent.env'), 'utf8');
    assert.match(env2, /^PRINTER=tcp:\/\/192\.168\.1\.50:9100$/m);
    assert.equal(env2.match(/^PRINTER=/gm)!.length, 1);
    assert.match(env2, new RegExp(`^PRINTHOP_URL=${server.baseUrl}$`, 'm'));
    assert.equal(fs.readFileSync(path.join(root, 'etc/passwd'), 'utf8').match(/^printhop:/gm)!.length, 1);
    assert.equal(tree(root)['etc/printhop/agent.env'], `0:${gid} 640`);

    // The agent changed after the script announced its SHA-256: refused, the installed one untouched.
    const before = sha256(path.join(root, 'opt/printhop-agent/printhop-agent.mjs'));
    const stale = await fetchScript(server.baseUrl);
    fs.appendFileSync(path.join(agents, 'printhop-agent.mjs'), '// changed\n');
    const tampered = await runScript(stale, ['--root', root, '--no-start']);
    assert.equal(tampered.code, 1);
    assert.match(tampered.stderr, /does not have the SHA-256/);
    assert.equal(sha256(path.join(root, 'opt/printhop-agent/printhop-agent.mjs')), before);
    assert.ok(!fs.existsSync(path.join(root, 'opt/printhop-agent/.download')));

    const removed = await runScript(await fetchScript(server.baseUrl), ['--root', root, '--uninstall']);
    assert.equal(removed.code, 0, removed.stderr);
    for (const gone of [
      'opt/printhop-agent',
      'etc/printhop',
      'var/lib/printhop',
      'etc/systemd/system/printhop-agent.service',
      'etc/udev/rules.d/99-printhop.rules',
    ])
      assert.ok(!fs.existsSync(path.join(root, gone)), gone);
    assert.equal(account(root, 'printhop'), null);
    assert.equal(fs.readFileSync('/etc/passwd', 'utf8'), hostPasswd);
  },
);

test('install.sh refuses bad options with exit 2 and changes nothing', { skip }, async (t) => {
  const server = await startTestServer(t, { agentsDir: tempDir(t, 'printhop-agents-') });
  const script = await fetchScript(server.baseUrl);
  const root = fakeRoot(t);
  for (const args of [['--frobnicate'], ['--printer'], ['--root']]) {
    const run = await runScript(script, args);
    assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
  }
  // Nothing built on the server: a clear refusal, nothing placed.
  const nothing = await runScript(script, ['--root', root, '--no-start']);
  assert.equal(nothing.code, 1);
  assert.match(nothing.stderr, /npm run build:agents/);
  assert.deepEqual(Object.keys(tree(root)), ['etc']);
});

test('the Windows .zip holds the executable and printhop-agent.env with this server’s address (unzip -t passes)', async (t) => {
  const agents = tempDir(t, 'printhop-agents-');
  const server = await startTestServer(t, { agentsDir: agents });
  const missing = await getJson<{ error: string }>(server.baseUrl, '/agents/printhop-agent-windows.zip');
  assert.equal(missing.status, 404);
  assert.match(missing.json.error, /npm run build:agents -- win-x64/);

  // Bytes in place of the 72 MB executable: what is checked here is the archive, not what it holds.
  fs.mkdirSync(path.join(agents, 'agents'));
  const exe = path.join(agents, 'agents/printhop-agent-win-x64.exe');
  fs.writeFileSync(exe, crypto.randomBytes(300_000));
  const res = await fetch(`${server.baseUrl}/agents/printhop-agent-windows.zip`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-disposition') ?? '', /printhop-agent-windows\.zip/);
  const zip = Buffer.from(await res.arrayBuffer());
  assert.equal(Number(res.headers.get('content-length')), zip.length);
  const dir = tempDir(t, 'printhop-zip-');
  fs.writeFileSync(path.join(dir, 'agent.zip'), zip);
  const run = promisify(execFile);
  assert.match((await run('unzip', ['-t', 'agent.zip'], { cwd: dir })).stdout, /No errors detected/);
  await run('unzip', ['-q', 'agent.zip', '-d', 'out'], { cwd: dir });
  assert.deepEqual(fs.readdirSync(path.join(dir, 'out')).sort(), ['printhop-agent.env', 'printhop-agent.exe']);
  assert.equal(sha256(path.join(dir, 'out/printhop-agent.exe')), sha256(exe));
  const env = fs.readFileSync(path.join(dir, 'out/printhop-agent.env'), 'utf8');
  assert.ok(env.includes(`\r\nPRINTHOP_URL=${server.baseUrl}\r\n`), env);
  assert.ok(env.includes('\r\nPRINTER=windows:\r\n'), env);
  assert.ok(!/\r?\n(MQTT_PASSWORD|PRINTER_ID)=/.test(env), 'no token, no printer id: it pairs');
});
