import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import {
  brokerAccountsFromConfig,
  hashMosquittoPassword,
  mosquittoAccessFiles,
} from '../../../broker-server/broker/mosquitto-access';
import { topics } from '../../../protocol/topics';
import { tempDir, waitFor } from '../../support/harness';
import {
  EXAMPLE_MOSQUITTO_CONF,
  externalServicesMissing,
  freePort,
  giveToMosquitto,
  mosquittoBin,
  mosquittoTestConf,
} from '../../support/services';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const run = promisify(execFile);
const skip = externalServicesMissing();

const TOKENS = { p1: 'token-of-printer-one-0001', p2: 'token-of-printer-two-0002' };
const SERVER = { username: 'printhop-server', password: 'server-secret-0123456789' };
const DEBUG = { username: 'debug', password: 'debug-secret-0123456789' };

/** `npm run mosquitto-files -- --out DIR` with these settings, then Mosquitto from the example configuration of docs/deployment.md and those files. */
async function brokerFromCommand(t: TestContext): Promise<string> {
  const dir = tempDir(t, 'printhop-acl-');
  const env = {
    ...process.env,
    DEFAULT_PRINTER_ID: 'p1',
    PRINTERS: 'p1,p2',
    PRINTER_TOKENS: `p1:${TOKENS.p1},p2:${TOKENS.p2}`,
    MQTT_USERNAME: SERVER.username,
    MQTT_PASSWORD: SERVER.password,
    MQTT_DEBUG_PASSWORD: DEBUG.password,
  };
  await run(process.execPath, ['--import', 'tsx', path.join(ROOT, 'broker-server/mosquitto-files.ts'), '--out', dir], {
    env,
    cwd: ROOT,
  });
  const passwordFile = path.join(dir, 'printhop.passwd');
  const aclFile = path.join(dir, 'printhop.acl');
  assert.equal(fs.statSync(passwordFile).mode & 0o777, 0o600);
  const passwords = fs.readFileSync(passwordFile, 'utf8');
  assert.match(passwords, /^p1:\$7\$101\$[A-Za-z0-9+/=]{16}\$[A-Za-z0-9+/=]{88}$/m);
  for (const secret of [...Object.values(TOKENS), SERVER.password, DEBUG.password])
    assert.ok(!passwords.includes(secret), 'the password file holds hashes only');

  giveToMosquitto(dir, passwordFile);
  const [tcpPort, wsPort] = [await freePort(), await freePort()];
  const conf = path.join(dir, 'mosquitto.conf');
  fs.writeFileSync(
    conf,
    mosquittoTestConf(fs.readFileSync(EXAMPLE_MOSQUITTO_CONF, 'utf8'), { tcpPort, wsPort, passwordFile, aclFile }),
  );
  const broker = spawn(mosquittoBin ?? 'mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  broker.stderr.on('data', (d: Buffer) => (log += d.toString()));
  t.after(() => broker.kill());
  const url = `mqtt://127.0.0.1:${tcpPort}`;
  await waitFor(`mosquitto listening (${log})`, async () => {
    const probe = await mqtt.connectAsync(url, { reconnectPeriod: 0, ...SERVER }).catch(() => null);
    await probe?.endAsync();
    return probe !== null;
  });
  return url;
}

async function connect(t: TestContext, url: string, options: mqtt.IClientOptions): Promise<mqtt.MqttClient> {
  const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, protocolVersion: 5, ...options });
  t.after(() => client.endAsync(true));
  return client;
}

/** Reason code of the filter's SUBACK: 0-2 granted, 0x80 and above refused. */
async function subscribeCodes(client: mqtt.MqttClient, filter: string): Promise<number> {
  const granted = await client.subscribeAsync(filter, { qos: 1 });
  return granted[0]!.qos;
}

/** Resolves with the publish's outcome: 'ok', or the broker's refusal. */
async function tryPublish(client: mqtt.MqttClient, topic: string, payload: string, retain = false): Promise<string> {
  try {
    await client.publishAsync(topic, payload, { qos: 1, retain });
    return 'ok';
  } catch (err) {
    return (err as Error).message;
  }
}

/** Collects messages; `until(topic, text)` waits for one. Denied messages never arrive before a later allowed one from the same sender. */
function inbox(client: mqtt.MqttClient) {
  const seen: Array<{ topic: string; text: string }> = [];
  client.on('message', (topic, payload) => seen.push({ topic, text: payload.toString() }));
  return {
    seen,
    until: (topic: string, text: string) =>
      waitFor(`${text} on ${topic}`, () => seen.some((m) => m.topic === topic && m.text === text)),
    has: (text: string) => seen.some((m) => m.text === text),
  };
}

test(
  'the generated password and ACL files make Mosquitto keep each printer to its own topics, the debug account read-only, and the server working',
  { skip },
  async (t) => {
    const url = await brokerFromCommand(t);

    // Nobody without the right password.
    await assert.rejects(
      mqtt.connectAsync(url, { reconnectPeriod: 0, protocolVersion: 5 }),
      /[Nn]ot authorized|[Bb]ad User Name or Password/,
    );
    await assert.rejects(
      mqtt.connectAsync(url, { reconnectPeriod: 0, protocolVersion: 5, username: 'p1', password: TOKENS.p2 }),
      /[Nn]ot authorized|[Bb]ad User Name or Password/,
    );
    await assert.rejects(
      mqtt.connectAsync(url, { reconnectPeriod: 0, protocolVersion: 5, username: 'p3', password: TOKENS.p1 }),
      /[Nn]ot authorized|[Bb]ad User Name or Password/,
    );

    const server = await connect(t, url, { ...SERVER, clientId: 'server-a' });
    const serverBox = inbox(server);
    assert.equal(
      await subscribeCodes(server, `$share/printhop/${topics.allAcks}`),
      1,
      'the server consumes acks through the shared subscription',
    );
    assert.equal(await subscribeCodes(server, topics.allStatus), 1);

    const p1 = await connect(t, url, {
      username: 'p1',
      password: TOKENS.p1,
      clientId: 'printhop-agent-p1',
      clean: false,
      will: { topic: topics.status('p1'), payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true },
    });
    const p1Box = inbox(p1);
    assert.equal(await subscribeCodes(p1, topics.jobs('p1')), 1);
    // Mosquitto's ACL file grants these SUBSCRIBEs but checks `read` on every message it would deliver.
    await subscribeCodes(p1, topics.jobs('p2'));
    await subscribeCodes(p1, 'printers/#');

    const debug = await connect(t, url, { ...DEBUG, clientId: 'debugger' });
    const debugBox = inbox(debug);
    assert.equal(await subscribeCodes(debug, 'printers/#'), 1);

    // The server publishes jobs; each printer gets only its own.
    assert.equal(await tryPublish(server, topics.jobs('p2'), 'job for p2'), 'ok');
    assert.equal(await tryPublish(server, topics.jobs('p1'), 'job for p1'), 'ok');
    await p1Box.until(topics.jobs('p1'), 'job for p1');
    assert.ok(!p1Box.has('job for p2'), "a printer never receives another printer's jobs");
    await debugBox.until(topics.jobs('p2'), 'job for p2');

    // A printer writes its own acks and status, and nothing of another printer's.
    assert.match(await tryPublish(p1, topics.acks('p2'), 'fake ack for p2'), /[Nn]ot authorized/);
    assert.match(await tryPublish(p1, topics.status('p2'), '{"state":"online"}', true), /[Nn]ot authorized/);
    assert.match(await tryPublish(p1, topics.jobs('p1'), 'self-made job'), /[Nn]ot authorized/);
    assert.equal(await tryPublish(p1, topics.acks('p1'), 'real ack of p1'), 'ok');
    assert.equal(await tryPublish(p1, topics.status('p1'), '{"state":"online"}', true), 'ok');
    await serverBox.until(topics.acks('p1'), 'real ack of p1');
    await serverBox.until(topics.status('p1'), '{"state":"online"}');
    assert.ok(!serverBox.has('fake ack for p2') && !debugBox.has('fake ack for p2'));
    assert.ok(!debugBox.has('self-made job'));

    // The server cannot pose as an agent; the debug account publishes nothing.
    assert.match(await tryPublish(server, topics.acks('p1'), 'server posing as p1'), /[Nn]ot authorized/);
    assert.match(await tryPublish(debug, topics.jobs('p1'), 'debug job'), /[Nn]ot authorized/);
    assert.match(await tryPublish(debug, topics.status('p1'), '{"state":"offline"}', true), /[Nn]ot authorized/);
    assert.equal(await tryPublish(server, topics.jobs('p1'), 'barrier'), 'ok');
    await p1Box.until(topics.jobs('p1'), 'barrier');
    assert.ok(!p1Box.has('debug job'));
    assert.ok(
      !p1Box.seen.some((m) => !m.topic.startsWith('printers/p1/jobs')),
      `a printer reads nothing but its jobs: ${JSON.stringify(p1Box.seen)}`,
    );

    // The agent's Last Will (its own status topic) is allowed and delivered.
    p1.stream.destroy();
    await serverBox.until(topics.status('p1'), '{"state":"offline"}');
  },
);

test('the command refuses printers without a token and clashing user names, and hashes like mosquitto_passwd', () => {
  const base = {
    printers: ['p1', 'p2'],
    printerTokens: { p1: TOKENS.p1 },
    mqttUsername: SERVER.username,
    mqttPassword: SERVER.password,
    mqttDebugPassword: '',
  };
  assert.deepEqual(brokerAccountsFromConfig(base).problems, [
    'printer p2 (in PRINTERS) has no token in PRINTER_TOKENS',
  ]);
  assert.match(
    brokerAccountsFromConfig({ ...base, printers: ['p1'], mqttPassword: '' }).problems.join(),
    /MQTT_USERNAME and MQTT_PASSWORD/,
  );
  const clash = brokerAccountsFromConfig({
    ...base,
    printers: ['debug'],
    printerTokens: { debug: TOKENS.p1 },
    mqttDebugPassword: DEBUG.password,
  });
  assert.match(clash.problems.join(), /share the user name "debug"/);
  assert.throws(
    () => mosquittoAccessFiles({ printers: [{ printerId: 'a/b', token: 'x' }], server: SERVER, debug: null }),
    /printer id "a\/b"/,
  );
  const { accounts } = brokerAccountsFromConfig({ ...base, printers: ['p1'] });
  assert.equal(
    mosquittoAccessFiles(accounts).aclFile.includes('user debug'),
    false,
    'no debug account without MQTT_DEBUG_PASSWORD',
  );
  // PBKDF2-SHA512, 101 iterations, 12-byte salt: mosquitto_passwd's own output for this salt and password.
  const salt = Buffer.from('pihWvl/PRq8SnK1y', 'base64');
  assert.equal(
    hashMosquittoPassword('secret1', salt),
    '$7$101$pihWvl/PRq8SnK1y$9kC8BWifz+NltjtwremsqG/MiOjMRKGN8xfmHcHlHA7jcQEeolMsThM2j0R5iSmuvZypge4ae5cnuI024Mjacg==',
  );
});
