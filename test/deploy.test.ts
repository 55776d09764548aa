import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { PrintJob } from '../broker-server/jobs/job-service';
import { decodeEscPos } from '../agent/printers/escpos-decoder';
import { agentDefaults, loadAgentConfig } from '../config';
import { agentChildEnv, getJson, postJson, startTestServer, tempDir, waitFor } from './support/harness';

const root = path.resolve(import.meta.dirname, '..');
const deploy = path.join(root, 'agent/deploy');
const SERVER_PACKAGES = ['express', 'sequelize', 'sqlite3', 'aedes', 'umzug', 'htmx.org'];

type Manifest = { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; overrides?: Record<string, string>; scripts?: Record<string, string> };
const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest;

test('the systemd unit restarts always, starts after network-online, runs as a dedicated user in group lp', () => {
  const unit = fs.readFileSync(path.join(deploy, 'printhop-agent.service'), 'utf8');
  const settings = new Map<string, string[]>();
  for (const line of unit.split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line.trim());
    if (m) settings.set(m[1]!, [...(settings.get(m[1]!) ?? []), m[2]!]);
  }
  const one = (key: string) => settings.get(key)?.join(' ');
  assert.equal(one('Restart'), 'always');
  assert.equal(one('After'), 'network-online.target');
  assert.equal(one('Wants'), 'network-online.target');
  assert.equal(one('User'), 'printhop');
  assert.equal(one('SupplementaryGroups'), 'lp');
  assert.equal(one('EnvironmentFile'), '/etc/printhop/agent.env');
  assert.equal(one('ExecStart'), '/usr/bin/node --import tsx agent/main.ts');
  assert.equal(one('WantedBy'), 'multi-user.target');
  // systemd's own checker, where this machine has it (Debian's systemd package).
  const verify = spawnSync('systemd-analyze', ['verify', path.join(deploy, 'printhop-agent.service')], { encoding: 'utf8' });
  if (!verify.error) assert.equal(verify.status, 0, verify.stderr);
});

test('the udev rule the USB error message names exists and gives printers to group lp', () => {
  const usbSource = fs.readFileSync(path.join(root, 'agent/printers/usb-printer.ts'), 'utf8');
  assert.ok(usbSource.includes('agent/deploy/99-printhop.rules'));
  const rules = fs.readFileSync(path.join(deploy, '99-printhop.rules'), 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#'));
  assert.ok(rules.length >= 1);
  for (const rule of rules) {
    // Every comma-separated part is KEY{attr}=="value", KEY=="value" or KEY="value".
    for (const part of rule.split(', ')) assert.match(part, /^[A-Z_]+(\{[A-Za-z_]+\})?(==|=|\+=)"[^"]*"$/, rule);
    assert.match(rule, /GROUP="lp"/);
    assert.match(rule, /MODE="0660"/);
  }
  assert.ok(rules.some((r) => r.includes('ENV{ID_USB_INTERFACES}=="*:07????:*"')), 'any printer-class device');
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
    for (const dep of [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.optionalDependencies ?? {})]) visit(dep);
  };
  names.forEach(visit);
  return seen;
}

test('the agent installs alone: its own package.json, no server package, and it prints from a directory without the server', async (t) => {
  const rootManifest = readJson(path.join(root, 'package.json'));
  const agentManifest = readJson(path.join(deploy, 'package.json'));
  const wanted = { ...agentManifest.dependencies, ...agentManifest.optionalDependencies };
  for (const [name, version] of Object.entries(wanted)) {
    assert.equal(version, rootManifest.dependencies?.[name] ?? rootManifest.optionalDependencies?.[name], `${name}: same version as the repository's`);
  }
  assert.deepEqual(agentManifest.overrides, rootManifest.overrides);
  const needed = closure(Object.keys(wanted));
  for (const name of SERVER_PACKAGES) assert.ok(!needed.has(name), `${name} is not needed by the agent`);

  // What README's install copies: agent/, protocol/, config/ and the agent's package.json, with only
  // the packages that package.json brings. No broker-server/, no server package.
  const dir = tempDir(t, 'printhop-pi-');
  for (const part of ['agent', 'protocol', 'config']) fs.cpSync(path.join(root, part), path.join(dir, part), { recursive: true });
  fs.copyFileSync(path.join(deploy, 'package.json'), path.join(dir, 'package.json'));
  for (const name of needed) {
    fs.mkdirSync(path.dirname(path.join(dir, 'node_modules', name)), { recursive: true });
    fs.symlinkSync(path.join(root, 'node_modules', name), path.join(dir, 'node_modules', name));
  }
  const bin = path.join(dir, 'node_modules', '.bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(path.join(dir, 'node_modules', 'tsx', 'dist', 'cli.mjs'), path.join(bin, 'tsx'));
  // --preserve-symlinks: packages resolve their imports from this directory, not from the repository's node_modules.
  const node = [process.execPath, '--preserve-symlinks', '--preserve-symlinks-main', '--import', 'tsx', 'agent/main.ts'];
  assert.match(execFileSync(node[0]!, [...node.slice(1), '--version'], { cwd: dir, encoding: 'utf8' }), /^\d+\.\d+\.\d+\n$/);

  const server = await startTestServer(t);
  const paper = path.join(dir, 'paper.prn');
  const child: ChildProcess = spawn(node[0]!, node.slice(1), {
    cwd: dir,
    env: agentChildEnv(server, 'printer-1', { PRINTER: `file:${paper}`, AGENT_DATA_DIR: path.join(dir, 'journal'), NODE_OPTIONS: '' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.after(() => child.kill('SIGKILL'));
  await waitFor('agent online', async () => (await server.printers.get('printer-1'))?.state === 'online', 20_000).catch((err: Error) => {
    throw new Error(`${err.message}\n${out}`);
  });
  const job = (await postJson(server.baseUrl, '/print', { content: 'Imprimé sans le serveur à côté' })).json as PrintJob;
  await waitFor('printed', async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'printed');
  assert.equal(decodeEscPos(fs.readFileSync(paper)).receipts[0]?.lines[3], 'Imprimé sans le serveur à côté');
  child.kill('SIGTERM');
  assert.equal(await exited, 0, out);
  assert.ok(!fs.existsSync(path.join(dir, 'broker-server')));
  for (const name of SERVER_PACKAGES) assert.ok(!fs.existsSync(path.join(dir, 'node_modules', name)), name);
});
