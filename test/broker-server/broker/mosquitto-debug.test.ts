import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import type { PrintJob } from '../../../broker-server/jobs/job-service';
import { topics } from '../../../protocol/topics';
import {
  connectClient,
  getJson,
  mqttCredentials,
  postJson,
  startTestAgent,
  startTestServer,
  type TestServer,
  waitFor,
} from '../../support/harness';

/** The mosquitto commands of docs/operations.md, in order, as written there. */
function readmeCommands(): string[] {
  const readme = fs.readFileSync(path.resolve(import.meta.dirname, '../../../docs/operations.md'), 'utf8');
  const block = /<!-- mosquitto-commands[^>]*-->\n```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'docs/operations.md has the mosquitto block');
  return block.split('\n').filter((line) => line.startsWith('mosquitto_'));
}

/** A documented command pointed at the test broker, with the debug account's password where the page has "$P". */
function adapt(command: string, server: TestServer): string {
  assert.ok(command.includes('-h localhost -p 1883 -u debug -P "$P"'), command);
  const { username, password } = mqttCredentials(server, 'debug');
  assert.equal(username, 'debug');
  return command.replace(
    '-h localhost -p 1883 -u debug -P "$P"',
    `-h 127.0.0.1 -p ${server.mqttPort} -u debug -P '${password}'`,
  );
}

function runShell(
  t: import('node:test').TestContext,
  command: string,
): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn('sh', ['-c', `exec ${command}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.after(() => child.kill('SIGKILL'));
  return { child, output: () => out, exited };
}

test('the documented mosquitto_sub/mosquitto_pub commands watch jobs, acks and status, and send a job by hand', async (t) => {
  const [watchAll, watchAcks, watchStatus, sendJob, sendTest, ...rest] = readmeCommands();
  assert.ok(watchAll && watchAcks && watchStatus && sendJob && sendTest, 'five commands');
  assert.deepEqual(rest, []);
  // The documentation says so: sending by hand needs MQTT_DEBUG_CAN_PUBLISH=true.
  const server = await startTestServer(t, { debugCanPublish: true });
  const agent = await startTestAgent(t, server, { mqttUrl: server.tcpUrl });
  await waitFor('printer online', async () => (await server.printers.get('printer-1'))?.state === 'online');

  const all = runShell(t, adapt(watchAll, server));
  const acks = runShell(t, adapt(watchAcks, server));
  const status = runShell(t, adapt(watchStatus, server));
  // The retained status reaches both status watchers as soon as they subscribe...
  await waitFor(
    'retained status shown',
    () =>
      status.output().includes('printers/printer-1/status {"state":"online"') &&
      all.output().includes('printers/printer-1/status'),
  );
  // ...and a probe ack (an id no job has; the server ignores it) shows the ack watcher has subscribed.
  const probe = await connectClient(t, server, { printerId: 'printer-1' }, { clientId: 'test-probe' });
  await waitFor(
    'ack watcher subscribed',
    async () => {
      await probe.publishAsync(
        topics.acks('printer-1'),
        JSON.stringify({ id: 9_000_000_000_999, status: 'received', at: new Date().toISOString() }),
        { qos: 1 },
      );
      return acks.output().includes('9000000000999');
    },
    10_000,
    100,
  );

  const job = (await postJson(server.baseUrl, '/print', { content: 'vu par mosquitto' })).json as PrintJob;
  await waitFor(
    'printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'printed',
  );
  await waitFor('job and both acks seen', () => {
    const out = all.output();
    return (
      out.includes(`printers/printer-1/jobs {"id":${job.id},"uid":"${job.uid}","content":"vu par mosquitto"`) &&
      out.includes(`printers/printer-1/acks {"id":${job.id},"uid":"${job.uid}","status":"received"`) &&
      out.includes(`printers/printer-1/acks {"id":${job.id},"uid":"${job.uid}","status":"printed"`)
    );
  });
  await waitFor('timed ack line', () =>
    new RegExp(
      `^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\S* printers/printer-1/acks \\{"id":${job.id},"uid":"${job.uid}","status":"printed"`,
      'm',
    ).test(acks.output()),
  );

  const pub = runShell(t, adapt(sendJob, server));
  assert.equal(await pub.exited, 0, pub.output());
  await waitFor('hand job printed', () => agent.paper().receipts.some((r) => r.lines[3] === 'Écrit à la main'));
  await waitFor('its printed ack seen', () =>
    /printers\/printer-1\/acks \{"id":9000000000001,"uid":"[0-9a-f-]{36}","status":"printed"/.test(all.output()),
  );
  assert.equal((await getJson(server.baseUrl, '/jobs/9000000000001')).status, 404, 'the server never had it');

  const pubTest = runShell(t, adapt(sendTest, server));
  assert.equal(await pubTest.exited, 0, pubTest.output());
  await waitFor('hand test print', () => agent.paper().receipts.some((r) => r.lines[1] === 'PAGE DE TEST PRINTHOP'));

  // Stopping the agent shows in the status watcher: the retained status becomes offline.
  await agent.stop();
  await waitFor('offline seen', () => status.output().includes('printers/printer-1/status {"state":"offline"'));
  assert.equal(agent.paper().receipts.length, 3);
});
