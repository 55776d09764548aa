import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import { agentDefaults, loadAgentConfig, serverDefaults } from '../../config';
import { AGENT_EXTERNALS, bundleAgent } from '../../scripts/build';
import { agentChildEnv, getJson, postJson, startTestServer, tempDir, waitFor } from '../support/harness';

const root = path.resolve(import.meta.dirname, '../..');
const deploy = path.join(root, 'agent/deploy');
const serverUnit = path.join(root, 'deploy/systemd/printhop-server.service');
const SERVER_PACKAGES = ['express', 'sequelize', 'sqlite3', 'aedes', 'umzug', 'htmx.org'];

type Manifest = {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  overrides?: Record<string, string>;
  scripts?: Record<string, string>;
};
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;

function unitSettings(file: string): (key: string) => string | undefined {
  const settings = new Map<string, string[]>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (m) settings.set(m[1]!, [...(settings.get(m[1]!) ?? []), m[2]!]);
  }
  return (key) => settings.get(key)?.join(' ');
}

test('the systemd unit restarts always, starts after network-online, runs as a dedicated user in group lp', () => {
  const one = unitSettings(path.join(deploy, 'printhop-agent.service'));
  assert.equal(one('Restart'), 'always');
  assert.equal(one('After'), 'network-online.target');
  assert.equal(one('Wants'), 'network-online.target');
  assert.equal(one('User'), 'printhop');
  assert.equal(one('SupplementaryGroups'), 'lp');
  assert.equal(one('EnvironmentFile'), '/etc/printhop/agent.env');
  assert.equal(one('ExecStart'), '/usr/bin/node /opt/printhop-agent/printhop-agent.mjs');
  assert.equal(one('WantedBy'), 'multi-user.target');
  // systemd's own checker, where this machine has it (Debian's systemd package).
  const verify = spawnSync('systemd-analyze', ['verify', path.join(deploy, 'printhop-agent.service')], {
    encoding: 'utf8',
  });
  if (!verify.error) assert.equal(verify.status, 0, verify.stderr);
});

test("the server's systemd unit runs the built server with plain node, as its own user, with its data in a state directory", () => {
  const one = unitSettings(serverUnit);
  assert.equal(one('ExecStart'), '/usr/bin/node /opt/printhop/dist/printhop-server.mjs');
  assert.equal(one('Restart'), 'always');
  assert.equal(one('After'), 'network-online.target');
  assert.equal(one('User'), 'printhop');
  assert.equal(one('StateDirectory'), 'printhop-server');
  assert.match(one('Environment') ?? '', /DATA_DIR=\/var\/lib\/printhop-server/);
  assert.equal(one('EnvironmentFile'), '-/etc/printhop/server.env');
  assert.equal(one('KillSignal'), 'SIGTERM');
  assert.equal(one('WantedBy'), 'multi-user.target');
  // Every key of the example env file is a server setting.
  for (const line of fs.readFileSync(path.join(root, 'deploy/systemd/server.env.example'), 'utf8').split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    assert.match(line, /^[A-Z_]+=\S*$/, line);
    assert.ok(line.split('=')[0]! in serverDefaults, line);
  }
  const verify = spawnSync('systemd-analyze', ['verify', serverUnit], { encoding: 'utf8' });
  if (!verify.error) assert.equal(verify.status, 0, verify.stderr);
});

test('the udev rule the USB error message names exists and gives printers to group lp', () => {
  const usbSource = fs.readFileSync(path.join(root, 'agent/printers/usb-printer.ts'), 'utf8');
  assert.ok(usbSource.includes('agent/deploy/99-printhop.rules'));
  const rules = fs
    .readFileSync(path.join(deploy, '99-printhop.rules'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'));
  assert.ok(rules.length >= 1);
  for (const rule of rules) {
    // Every comma-separated part is KEY{attr}=="value", KEY=="value" or KEY="value".
    for (const part of rule.split(', ')) assert.match(part, /^[A-Z_]+(\{[A-Za-z_]+\})?(==|=|\+=)"[^"]*"$/, rule);
    assert.match(rule, /GROUP="lp"/);
    assert.match(rule, /MODE="0660"/);
  }
  assert.ok(
    rules.some((r) => r.includes('ENV{ID_USB_INTERFACES}=="*:07????:*"')),
    'any printer-class device',
  );
});

test('the env file example holds only agent settings, and the agent accepts every value in it', () => {
  const env: Record<string, string> = {};
  for (const line of fs.readFileSync(path.join(deploy, 'agent.env.example'), 'utf8').split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    assert.ok(m, `KEY=value: ${line}`);
    assert.ok(m[1]! in agentDefaults, `${m[1]} is an agent setting`);
    env[m[1]!] = m[2]!;
  }
  const config = loadAgentConfig(env);
  assert.equal(config.printer, '/dev/usb/lp0');
  assert.equal(config.columns, 48);
});

/** The packages `names` need at run time (dependencies and installed optional ones), found in node_modules. */
function closure(names: string[]): Set<string> {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    const dir = path.join(root, 'node_modules', name);
    if (!fs.existsSync(dir)) return; // an optional dependency npm skipped here
    seen.add(name);
    const manifest = readJson(path.join(dir, 'package.json'));
    for (const dep of [
      ...Object.keys(manifest.dependencies ?? {}),
      ...Object.keys(manifest.optionalDependencies ?? {}),
    ])
      visit(dep);
  };
  names.forEach(visit);
  return seen;
}

test("the USB extra (agent/deploy/package.json) holds only escpos-usb, at the repository's version, and nothing of the server", () => {
  const rootManifest = readJson(path.join(root, 'package.json'));
  const agentManifest = readJson(path.join(deploy, 'package.json'));
  const wanted = { ...agentManifest.dependencies, ...agentManifest.optionalDependencies };
  assert.deepEqual(
    Object.keys(wanted),
    AGENT_EXTERNALS.filter((name) => name !== 'usb'),
  );
  for (const [name, version] of Object.entries(wanted)) {
    assert.equal(
      version,
      rootManifest.dependencies?.[name] ?? rootManifest.optionalDependencies?.[name],
      `${name}: same version as the repository's`,
    );
  }
  assert.deepEqual(agentManifest.overrides, rootManifest.overrides);
  const needed = closure(Object.keys(wanted));
  for (const name of SERVER_PACKAGES) assert.ok(!needed.has(name), `${name} is not needed by the agent`);
});

test('the agent installs as one file: the documented steps, plain node, no node_modules, and it prints', async (t) => {
  // docs/deployment.md, "Raspberry Pi install": the built file copied to /opt/printhop-agent (here a temp dir: no
  // node_modules in it or above it), the env file, the unit's command line. Built here, as `npm run build` does.
  const dir = tempDir(t, 'printhop-pi-');
  const opt = path.join(dir, 'opt/printhop-agent');
  fs.mkdirSync(opt, { recursive: true });
  const file = path.join(opt, 'printhop-agent.mjs');
  await bundleAgent(file);
  assert.ok(
    !fs.existsSync(path.join(dir, 'node_modules')) && !fs.existsSync(path.join(path.dirname(dir), 'node_modules')),
  );

  // What the file may import at run time: Node's own modules, and usb/escpos-usb (only for PRINTER=usb).
  const source = fs.readFileSync(file, 'utf8');
  const specifiers = new Set(
    [...source.matchAll(/(?:\brequire\(|\bfrom\s*|\bimport\(\s*)["']([^"']+)["']/g)].map((m) => m[1]!),
  );
  const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
  const foreign = [...specifiers].filter((s) => !builtins.has(s) && !AGENT_EXTERNALS.includes(s));
  assert.deepEqual(foreign, [], 'the one file imports no package');

  // The env file of docs/deployment.md (agent/deploy/agent.env.example), with this test's broker and printer.
  const env: Record<string, string> = {};
  for (const line of fs.readFileSync(path.join(deploy, 'agent.env.example'), 'utf8').split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  const server = await startTestServer(t);
  const paper = path.join(dir, 'paper.prn');
  // The unit's own NODE_OPTIONS (Environment=NODE_OPTIONS=...), nothing of this test process's.
  const nodeOptions =
    /^Environment=NODE_OPTIONS=(.*)$/m.exec(
      fs.readFileSync(path.join(deploy, 'printhop-agent.service'), 'utf8'),
    )?.[1] ?? '';
  assert.equal(nodeOptions, '--max-semi-space-size=1');
  const childEnv = {
    PATH: process.env.PATH,
    ...env,
    ...agentChildEnv(server, 'printer-1', {
      PRINTER: `file:${paper}`,
      AGENT_DATA_DIR: path.join(dir, 'var/lib/printhop'),
      NODE_OPTIONS: nodeOptions,
    }),
  };
  // The unit's ExecStart: /usr/bin/node /opt/printhop-agent/printhop-agent.mjs (here: this node, this file).
  assert.match(
    execFileSync(process.execPath, [file, '--version'], { cwd: opt, env: childEnv, encoding: 'utf8' }),
    /^\d+\.\d+\.\d+\n$/,
  );
  const started = Date.now();
  const child: ChildProcess = spawn(process.execPath, [file], {
    cwd: opt,
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.after(() => child.kill('SIGKILL'));
  await waitFor('agent online', async () => (await server.printers.get('printer-1'))?.state === 'online', 20_000).catch(
    (err: Error) => {
      throw new Error(`${err.message}\n${out}`);
    },
  );
  t.diagnostic(
    `one-file agent: ${(fs.statSync(file).size / 1e6).toFixed(2)} MB; start → online ${Date.now() - started} ms`,
  );
  const job = (await postJson(server.baseUrl, '/print', { content: 'Imprimé sans le serveur à côté' }))
    .json as PrintJob;
  await waitFor(
    'printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'printed',
  );
  assert.equal(decodeEscPos(fs.readFileSync(paper)).receipts[0]?.lines[3], 'Imprimé sans le serveur à côté');
  // No TypeScript loader in the process (its command line is node and the file, nothing else).
  const cmdline = fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  assert.deepEqual(cmdline, [process.execPath, file]);
  child.kill('SIGTERM');
  assert.equal(await exited, 0, out);
  assert.deepEqual(fs.readdirSync(opt), ['printhop-agent.mjs']);
});
