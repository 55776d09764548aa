/**
 * The composition root (server.ts, areas/): key files are read when their part starts, not when the
 * server is built; a start that fails half-way stops what it started (here the broker's MQTT port).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { loadServerConfig } from '../../config';
import { buildServer, startBuilt } from '../../broker-server/server';
import { tempDir, testLogger } from '../support/basics';

const KEY_FILES = ['admin-password', 'form-token.key', 'webhook.key', 'mqtt-tokens.json'];

function listen(port = 0): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}
const close = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));
const portOf = (server: net.Server) => (server.address() as net.AddressInfo).port;

test('building the server reads no key file; starting it makes them (0600)', async (t) => {
  const dataDir = tempDir(t);
  const config = loadServerConfig({}, { port: 0, mqttPort: 0, host: '127.0.0.1', dataDir });
  const built = buildServer(config, testLogger());
  assert.deepEqual(
    KEY_FILES.filter((f) => fs.existsSync(path.join(dataDir, f))),
    [],
  );
  const server = await startBuilt(built);
  t.after(() => server.stop());
  for (const file of KEY_FILES) assert.equal(fs.statSync(path.join(dataDir, file)).mode & 0o777, 0o600, file);
  assert.equal(server.admin.password, fs.readFileSync(path.join(dataDir, 'admin-password'), 'utf8').trim());
});

test('a start that fails at HTTP (its port taken) stops the broker it had started', async (t) => {
  const taken = await listen();
  t.after(() => close(taken));
  const free = await listen();
  const mqttPort = portOf(free);
  await close(free);
  const config = loadServerConfig({}, { port: portOf(taken), mqttPort, host: '127.0.0.1', dataDir: tempDir(t) });
  await assert.rejects(startBuilt(buildServer(config, testLogger())), /EADDRINUSE/);
  // The broker listened on mqttPort before HTTP failed: the port is free again.
  await close(await listen(mqttPort));
});

test('a token file that cannot be read fails the start, not the build, and names the file', async (t) => {
  const dataDir = tempDir(t);
  fs.writeFileSync(path.join(dataDir, 'mqtt-tokens.json'), '{"debug": ', { mode: 0o600 });
  const config = loadServerConfig({}, { port: 0, mqttPort: 0, host: '127.0.0.1', dataDir });
  const built = buildServer(config, testLogger());
  await assert.rejects(startBuilt(built), (err: Error) => {
    assert.equal(err.name, 'TokenFileError');
    assert.match(err.message, /mqtt-tokens\.json: not valid JSON\. Fix the file, or delete it/);
    return true;
  });
});
