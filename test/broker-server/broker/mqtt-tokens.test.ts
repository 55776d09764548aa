import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { inspect } from 'node:util';
import { ConfigError, loadServerConfig } from '../../../config';
import { loadTokens, sameToken, TOKENS_FILE, TokenFileError } from '../../../broker-server/broker/tokens';
import { tempDir } from '../../support/harness';

const none = { printers: {}, debug: null, server: null };

test('on first start strong tokens are generated into DATA_DIR (mode 0600); later starts reuse them', (t) => {
  const dataDir = path.join(tempDir(t), 'fresh', 'data');
  const first = loadTokens({ dataDir, printers: ['printer-1', 'printer-2'], mqttTokens: none });
  const file = path.join(dataDir, TOKENS_FILE);
  assert.equal(first.accounts.file, file);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  assert.deepEqual([...first.accounts.generated].sort(), ['debug', 'printer-1', 'printer-2', 'printhop-server']);
  const p1 = first.accounts.credentialsFor({ kind: 'printer', printerId: 'printer-1' });
  assert.match(p1.password, /^[A-Za-z0-9_-]{32}$/);
  assert.notEqual(p1.password, first.accounts.credentialsFor({ kind: 'printer', printerId: 'printer-2' }).password);

  const again = loadTokens({ dataDir, printers: ['printer-1', 'printer-3'], mqttTokens: none });
  assert.deepEqual(again.accounts.generated, ['printer-3'], 'only the new printer gets a new token');
  assert.equal(again.accounts.credentialsFor({ kind: 'printer', printerId: 'printer-1' }).password, p1.password);
  assert.deepEqual(again.accounts.printerIds, ['printer-1', 'printer-2', 'printer-3']);
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);

  // Rotation: remove the entry, start again.
  const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as { printers: Record<string, string> };
  delete stored.printers['printer-1'];
  fs.writeFileSync(file, JSON.stringify(stored));
  const rotated = loadTokens({ dataDir, printers: ['printer-1'], mqttTokens: none });
  assert.notEqual(rotated.accounts.credentialsFor({ kind: 'printer', printerId: 'printer-1' }).password, p1.password);
  assert.equal(
    rotated.accounts.verify('printer-1', p1.password).ok,
    false,
    'the old token no longer opens the account',
  );
});

test('configured tokens win over the file and are not written to it; a file readable by others is narrowed to 0600', (t) => {
  const dataDir = tempDir(t);
  const configured = {
    printers: { 'printer-1': 'configured-token-of-printer-1' },
    debug: 'configured-debug-password',
    server: null,
  };
  const { accounts } = loadTokens({ dataDir, printers: ['printer-1'], mqttTokens: configured });
  assert.equal(
    accounts.credentialsFor({ kind: 'printer', printerId: 'printer-1' }).password,
    'configured-token-of-printer-1',
  );
  assert.equal(accounts.credentialsFor({ kind: 'debug' }).password, 'configured-debug-password');
  const file = fs.readFileSync(path.join(dataDir, TOKENS_FILE), 'utf8');
  assert.ok(!file.includes('configured-'), file);
  fs.chmodSync(path.join(dataDir, TOKENS_FILE), 0o644);
  const reloaded = loadTokens({ dataDir, printers: ['printer-1'], mqttTokens: configured });
  assert.equal(reloaded.modeFixed, true);
  assert.equal(fs.statSync(path.join(dataDir, TOKENS_FILE)).mode & 0o777, 0o600);
});

test('verification is by exact token; printing the accounts shows no token; a broken file is a clear error', (t) => {
  const dataDir = tempDir(t);
  const { accounts } = loadTokens({ dataDir, printers: ['printer-1'], mqttTokens: none });
  const { password } = accounts.credentialsFor({ kind: 'printer', printerId: 'printer-1' });
  assert.deepEqual(accounts.verify('printer-1', Buffer.from(password)), {
    ok: true,
    account: { kind: 'printer', printerId: 'printer-1' },
  });
  assert.deepEqual(accounts.verify('debug', accounts.credentialsFor({ kind: 'debug' }).password), {
    ok: true,
    account: { kind: 'debug' },
  });
  for (const wrong of [password.slice(0, -1), password + 'x', password.toUpperCase(), '', ' ' + password]) {
    assert.equal(accounts.verify('printer-1', wrong).ok, false, JSON.stringify(wrong));
  }
  assert.equal(accounts.verify('printer-2', password).ok, false);
  assert.equal(accounts.verify(undefined, password).ok, false);
  assert.equal(sameToken('abc', 'abc'), true);
  assert.equal(sameToken('abc', 'abcd'), false);
  for (const shown of [JSON.stringify({ accounts }), inspect(accounts), String(accounts)])
    assert.ok(!shown.includes(password), shown);

  fs.writeFileSync(path.join(dataDir, TOKENS_FILE), '{"printers": {"printer-1": "short"}}');
  assert.throws(
    () => loadTokens({ dataDir, printers: ['printer-1'], mqttTokens: none }),
    (err: unknown) =>
      err instanceof TokenFileError &&
      /printer-1.*must be 16-256 printable ASCII characters.*delete it to generate new tokens/.test(err.message),
  );
  // The file follows the same rule as PRINTER_TOKENS (it used to accept any 16 characters, spaces included).
  fs.writeFileSync(path.join(dataDir, TOKENS_FILE), '{"printers": {"printer-1": "a token with spaces in it"}}');
  assert.throws(
    () => loadTokens({ dataDir, printers: ['printer-1'], mqttTokens: none }),
    (err: unknown) => err instanceof TokenFileError && /printer-1.*without spaces or commas/.test(err.message),
  );
  fs.writeFileSync(path.join(dataDir, TOKENS_FILE), 'not json');
  assert.throws(() => loadTokens({ dataDir, printers: [], mqttTokens: none }), /not valid JSON/);
});

test('token settings are validated by name without repeating the secret; printers cannot take the accounts’ names', () => {
  const config = loadServerConfig({
    PRINTER_TOKENS: 'printer-1:abcdefghijklmnop1234, printer-2:QRSTUVWXYZ-._~!*=9',
    MQTT_DEBUG_PASSWORD: 'debug-password-0123',
    MQTT_DEBUG_CAN_PUBLISH: 'true',
  });
  assert.deepEqual(config.mqttTokens, {
    printers: { 'printer-1': 'abcdefghijklmnop1234', 'printer-2': 'QRSTUVWXYZ-._~!*=9' },
    debug: 'debug-password-0123',
    server: null,
  });
  assert.equal(config.debugCanPublish, true);
  assert.deepEqual(config.printRate, { perMinute: 60, burst: 20 });
  assert.equal(loadServerConfig({}).debugCanPublish, false);
  assert.throws(
    () =>
      loadServerConfig({
        PRINTER_TOKENS: 'printer-1:tooshort',
        MQTT_DEBUG_PASSWORD: 'has a space in it!!',
        PRINTERS: 'debug',
        PRINT_RATE_PER_MINUTE: '-1',
      }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /PRINTER_TOKENS=\(hidden\): the token of printer-1 must be 16-256/.test(err.message) &&
      /MQTT_DEBUG_PASSWORD=\(hidden\)/.test(err.message) &&
      /PRINTERS="debug": must not be debug or printhop-server/.test(err.message) &&
      /PRINT_RATE_PER_MINUTE="-1"/.test(err.message) &&
      !err.message.includes('tooshort') &&
      !err.message.includes('has a space'),
  );
});

test('processes starting together agree on one set of tokens', async (t) => {
  const dataDir = tempDir(t);
  const script = `import { loadTokens } from './broker-server/broker/tokens.ts';
const { accounts } = loadTokens({ dataDir: process.argv[1], printers: ['printer-1'], mqttTokens: { printers: {}, debug: null, server: null } });
process.stdout.write(accounts.credentialsFor({ kind: 'printer', printerId: 'printer-1' }).password + ' ' + accounts.credentialsFor({ kind: 'debug' }).password);`;
  const outputs = await Promise.all(
    Array.from({ length: 3 }, () => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dataDir], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      return new Promise<string>((resolve) => child.on('exit', () => resolve(out)));
    }),
  );
  assert.equal(new Set(outputs).size, 1, outputs.join('\n'));
  const stored = JSON.parse(fs.readFileSync(path.join(dataDir, TOKENS_FILE), 'utf8')) as {
    debug: string;
    printers: Record<string, string>;
  };
  assert.equal(outputs[0], `${stored.printers['printer-1']} ${stored.debug}`);
  assert.deepEqual(fs.readdirSync(dataDir), [TOKENS_FILE], 'no temporary file left behind');
});
