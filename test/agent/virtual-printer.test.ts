import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import fs from 'node:fs';
import { test } from 'node:test';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { agentChildEnv, getJson, postJson, startTestServer, tempDir, waitFor } from '../support/harness';

const scripts = (JSON.parse(fs.readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts;

/** Runs an npm script's own command (`tsx FILE`) directly, so that signals reach it as from a terminal. */
function run(
  t: import('node:test').TestContext,
  script: string,
  env: NodeJS.ProcessEnv,
): { child: ChildProcessWithoutNullStreams; output: () => string; exited: Promise<number | null> } {
  const [tool, file, ...rest] = scripts[script]!.split(' ');
  assert.equal(tool, 'tsx', script);
  const child = spawn(process.execPath, ['--import', 'tsx', file!, ...rest], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.after(() => child.kill('SIGKILL'));
  return { child, output: () => out, exited };
}

test('as a new user: npm run virtual-printer and npm run agent; accents, 58 mm width, paper out and a test print behave', async (t) => {
  const server = await startTestServer(t);
  const printer = run(t, 'virtual-printer', { ...process.env, VIRTUAL_PRINTER_PORT: '0' });
  const port = Number(
    await waitFor(
      'virtual printer listening',
      () => /listening on tcp:\/\/127\.0\.0\.1:(\d+)/.exec(printer.output())?.[1],
    ),
  );
  const agent = run(
    t,
    'agent',
    agentChildEnv(server, 'printer-1', {
      PRINTER: `tcp://127.0.0.1:${port}`,
      PAPER_COLUMNS: '58mm',
      AGENT_DATA_DIR: tempDir(t),
      PRINTER_STATUS_INTERVAL_MS: '200',
    }),
  );
  await waitFor('printer ready', async () => (await server.printers.get('printer-1'))?.condition === 'ok', 20_000);

  const first = (
    await postJson(server.baseUrl, '/print', { content: 'Crème brûlée à 5 € — œuf, pour la table numéro douze' })
  ).json as PrintJob;
  await waitFor(
    'first printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${first.id}`)).json.status === 'printed',
  );
  const shown = await waitFor('receipt on the console', () =>
    printer.output().includes('receipt 1') && printer.output().includes('└──') ? printer.output() : null,
  );
  assert.match(shown, /receipt 1 \(PC858, 32 columns, cut\)/);
  assert.match(shown, /│ Crème brûlée à 5 € - oeuf, pour\n│ la table numéro douze\n/);

  printer.child.stdin.write('paper-out\n');
  await waitFor('page says paper out', async () =>
    (await (await fetch(`${server.baseUrl}/`)).text()).includes('plus de papier'),
  );
  const second = (await postJson(server.baseUrl, '/print', { content: 'après la recharge' })).json as PrintJob;
  await waitFor(
    'second received',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${second.id}`)).json.status === 'received',
  );
  printer.child.stdin.write('ok\n');
  await waitFor(
    'second printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${second.id}`)).json.status === 'printed',
  );
  const out = await waitFor('second on the console', () =>
    printer.output().includes('après la recharge') ? printer.output() : null,
  );
  assert.ok(out.indexOf('condition: ok') < out.indexOf('│ après la recharge'), 'printed only once the paper was back');

  const test_ = (await postJson(server.baseUrl, '/printers/printer-1/test', {})).json as PrintJob;
  await waitFor(
    'test print printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${test_.id}`)).json.status === 'printed',
  );
  const page = await waitFor('test page on the console', () =>
    /│ Colonnes : 32[\s\S]*└──/.test(printer.output()) ? printer.output() : null,
  );
  assert.match(page, /│ PAGE DE TEST PRINTHOP/);
  assert.match(page, /│ àâäçéèêëîïôöùûüÿ/);
  assert.match(page, /│ 12345678901234567890123456789012\n/);
  assert.doesNotMatch(page, /unexpected bytes/);

  agent.child.kill('SIGTERM');
  printer.child.kill('SIGTERM');
  assert.equal(await agent.exited, 0, agent.output());
  assert.equal(await printer.exited, 0, printer.output());
});
