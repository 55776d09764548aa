/**
 * Real outside services for the tests of the "external" mode: Debian's Mosquitto, started from the
 * docs/deployment.md's example configuration with generated password and ACL files, and a PostgreSQL cluster of
 * this test process (initdb + pg_ctl in a temp dir, on a loopback port, as the `postgres` user when
 * the tests run as root). Each test gets its own broker and its own database.
 *
 * When Mosquitto or PostgreSQL is not installed, the tests that need them are skipped with the reason;
 * PRINTHOP_REQUIRE_SERVICES=1 (set by .ci/run) makes them fail instead.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import pg from 'pg';
import { type BrokerAccounts, mosquittoAccessFiles } from '../../broker-server/broker/mosquitto-access';
import { DEBUG_USERNAME } from '../../protocol/accounts';
import { freePort } from './ports';
export { freePort };

const ROOT = path.resolve(import.meta.dirname, '../..');
export const EXAMPLE_MOSQUITTO_CONF = path.join(ROOT, 'deploy/mosquitto/printhop.conf');

function which(command: string, fallbacks: string[] = []): string | null {
  try {
    const found = execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim();
    if (found) return found;
  } catch {
    /* not on PATH */
  }
  return fallbacks.find((f) => fs.existsSync(f)) ?? null;
}

export const mosquittoBin = which('mosquitto', ['/usr/sbin/mosquitto']);

function postgresBinDir(): string | null {
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base)
    ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, 'bin/initdb')))
    : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions[0]) return path.join(base, versions[0], 'bin');
  const initdb = which('initdb');
  return initdb && fs.existsSync(path.join(path.dirname(initdb), 'pg_ctl')) ? path.dirname(initdb) : null;
}
const pgBin = postgresBinDir();

const REQUIRED = process.env.PRINTHOP_REQUIRE_SERVICES === '1';

/** Why the PostgreSQL tests cannot run here, or false. */
export function postgresMissing(): string | false {
  return !pgBin && !REQUIRED ? 'PostgreSQL is not installed here (apt-get install postgresql)' : false;
}

/** Why the Mosquitto + PostgreSQL tests cannot run here, or false when they can (always false when required: they then fail loudly). */
export function externalServicesMissing(): string | false {
  const missing = [
    !mosquittoBin && 'mosquitto (apt-get install mosquitto)',
    !pgBin && 'PostgreSQL (apt-get install postgresql)',
  ].filter(Boolean);
  if (!missing.length || REQUIRED) return false;
  return `not installed here: ${missing.join(', ')}`;
}

async function waitForPort(port: number, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The example configuration with this test's ports and files; fails if the example no longer has what it rewrites. */
export function mosquittoTestConf(
  example: string,
  options: { tcpPort: number; wsPort: number; passwordFile: string; aclFile: string },
): string {
  const rewrites: Array<[RegExp, string]> = [
    [/^password_file .*$/m, `password_file ${options.passwordFile}`],
    [/^acl_file .*$/m, `acl_file ${options.aclFile}`],
    [/^listener 1883$/m, `listener ${options.tcpPort} 127.0.0.1`],
    [/^listener 9001$/m, `listener ${options.wsPort} 127.0.0.1`],
  ];
  let conf = example;
  for (const [pattern, replacement] of rewrites) {
    if (!pattern.test(conf)) throw new Error(`${EXAMPLE_MOSQUITTO_CONF} has no line matching ${pattern}`);
    conf = conf.replace(pattern, replacement);
  }
  return conf;
}

/** As docs/deployment.md says: Mosquitto started as root reads its files as the `mosquitto` user. */
export function giveToMosquitto(dir: string, passwordFile: string): void {
  fs.chmodSync(dir, 0o755);
  if (process.getuid?.() !== 0) return;
  const uid = Number(execFileSync('id', ['-u', 'mosquitto'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'mosquitto'], { encoding: 'utf8' }).trim());
  fs.chownSync(passwordFile, uid, gid);
}

export interface TestBroker {
  tcpUrl: string;
  wsUrl: string;
  tcpPort: number;
  accounts: BrokerAccounts;
  /** Credentials of the debug account (always present in test brokers). */
  debug: { username: string; password: string };
  stop(): Promise<void>;
}

const token = () => randomBytes(18).toString('base64url');

/** Accounts for `printerIds` (plus the server and debug accounts) with fresh tokens. */
export function testBrokerAccounts(printerIds: readonly string[]): BrokerAccounts {
  return {
    printers: printerIds.map((printerId) => ({ printerId, token: token() })),
    server: { username: 'printhop-server', password: token() },
    debug: { username: DEBUG_USERNAME, password: token() },
  };
}

/**
 * Stops registered with `defer` run last-in first-out, in one hook registered now (node:test runs
 * `t.after` hooks in the order they were registered, so the broker would otherwise stop before its clients).
 */
export function cleanupStack(t: TestContext): (stop: () => Promise<unknown>) => void {
  const stops: Array<() => Promise<unknown>> = [];
  t.after(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  });
  return (stop) => void stops.push(stop);
}

/** Mosquitto from the example configuration, with access files for `accounts`; stopped after the test (through `defer`, if given). */
export async function startMosquitto(
  t: TestContext,
  accounts: BrokerAccounts,
  defer: (stop: () => Promise<unknown>) => void = (stop) => t.after(stop),
): Promise<TestBroker> {
  if (!mosquittoBin) throw new Error('mosquitto is not installed (apt-get install mosquitto)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-mosquitto-'));
  const files = mosquittoAccessFiles(accounts);
  const passwordFile = path.join(dir, 'printhop.passwd');
  const aclFile = path.join(dir, 'printhop.acl');
  fs.writeFileSync(passwordFile, files.passwordFile, { mode: 0o600 });
  fs.writeFileSync(aclFile, files.aclFile);
  giveToMosquitto(dir, passwordFile);
  const [tcpPort, wsPort] = [await freePort(), await freePort()];
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    mosquittoTestConf(fs.readFileSync(EXAMPLE_MOSQUITTO_CONF, 'utf8'), { tcpPort, wsPort, passwordFile, aclFile }),
  );
  const child = spawn(mosquittoBin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      Promise.all([waitForPort(tcpPort, 'mosquitto'), waitForPort(wsPort, 'mosquitto (websockets)')]),
      exited.then(() => Promise.reject(new Error(`mosquitto exited at start: ${stderr}`))),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  defer(stop);
  return {
    tcpUrl: `mqtt://127.0.0.1:${tcpPort}`,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    tcpPort,
    accounts,
    debug: accounts.debug!,
    stop,
  };
}

export const EXAMPLE_DYNSEC_CONF = path.join(ROOT, 'deploy/mosquitto/printhop-dynsec.conf');

/**
 * Mosquitto with the dynamic security plugin, from deploy/mosquitto/printhop-dynsec.conf (changing only the
 * ports and the plugin's JSON file), initialised as docs/operations.md says: `mosquitto_ctrl dynsec init FILE
 * printhop-server PASSWORD`. Stopped after the test.
 */
export async function startDynsecMosquitto(
  t: TestContext,
  serverPassword: string,
): Promise<{ tcpUrl: string; wsUrl: string; stop: () => Promise<void> }> {
  if (!mosquittoBin) throw new Error('mosquitto is not installed (apt-get install mosquitto)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-dynsec-'));
  const json = path.join(dir, 'dynamic-security.json');
  const init = spawnSync('mosquitto_ctrl', ['dynsec', 'init', json, 'printhop-server', serverPassword], {
    encoding: 'utf8',
  });
  if (init.status !== 0) throw new Error(`mosquitto_ctrl dynsec init failed: ${init.stderr || init.stdout}`);
  giveToMosquitto(dir, json);
  const [tcpPort, wsPort] = [await freePort(), await freePort()];
  let conf = fs.readFileSync(EXAMPLE_DYNSEC_CONF, 'utf8');
  for (const [pattern, replacement] of [
    [/^plugin_opt_config_file .*$/m, `plugin_opt_config_file ${json}`],
    [/^listener 1883$/m, `listener ${tcpPort} 127.0.0.1`],
    [/^listener 9001$/m, `listener ${wsPort} 127.0.0.1`],
  ] as Array<[RegExp, string]>) {
    if (!pattern.test(conf)) throw new Error(`${EXAMPLE_DYNSEC_CONF} has no line matching ${pattern}`);
    conf = conf.replace(pattern, replacement);
  }
  const confFile = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(confFile, conf);
  const child = spawn(mosquittoBin, ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      waitForPort(tcpPort, 'mosquitto (dynsec)'),
      exited.then(() => Promise.reject(new Error(`mosquitto exited at start: ${stderr}`))),
    ]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { tcpUrl: `mqtt://127.0.0.1:${tcpPort}`, wsUrl: `ws://127.0.0.1:${wsPort}`, stop };
}

// ---------- PostgreSQL ----------

interface PgCluster {
  adminUrl: string;
  urlOf(database: string): string;
}

let cluster: Promise<PgCluster> | null = null;

function asPostgres(command: string, args: string[]): { command: string; args: string[] } {
  return process.getuid?.() === 0
    ? { command: 'runuser', args: ['-u', 'postgres', '--', command, ...args] }
    : { command, args };
}

function runChecked(command: string, args: string[]): void {
  const { command: c, args: a } = asPostgres(command, args);
  const result = spawnSync(c, a, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} failed (${result.status}): ${result.stderr || result.stdout}`);
}

async function startCluster(): Promise<PgCluster> {
  if (!pgBin) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    fs.chownSync(dir, uid, gid);
  }
  const data = path.join(dir, 'data');
  const port = await freePort();
  runChecked(path.join(pgBin, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--no-sync',
    '--locale=C',
  ]);
  // test: fsync off speeds up commits on a busy CI machine; nothing here survives a machine crash anyway.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300`;
  runChecked(path.join(pgBin, 'pg_ctl'), [
    '-D',
    data,
    '-l',
    path.join(dir, 'log'),
    '-w',
    '-t',
    '60',
    '-o',
    options,
    'start',
  ]);
  process.on('exit', () => {
    const { command, args } = asPostgres(path.join(pgBin, 'pg_ctl'), ['-D', data, '-m', 'immediate', 'stop']);
    spawnSync(command, args);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const urlOf = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  return { adminUrl: urlOf('postgres'), urlOf };
}

/** A new, empty database in this process's PostgreSQL cluster (started on first use, stopped at exit). */
export async function createTestDatabase(): Promise<string> {
  cluster ??= startCluster();
  const { adminUrl, urlOf } = await cluster;
  const name = `printhop_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return urlOf(name);
}
