/**
 * The container images and compose.yaml, for real, with Podman: the base image built here (no registry is
 * reachable; see test/support/podman.ts), the repository's Dockerfiles built unchanged with --pull=never,
 * the compose stack brought up with podman-compose, a job posted over HTTP on a loopback port and printed
 * exactly once on the virtual printer (as its log shows it, decoded), the data surviving a restart of the
 * stack (volume), then everything it made removed (containers, network, volumes, the two app images).
 * Prints the time each step adds.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { BASE_IMAGE, buildImage, ensureBaseImage, podman, podmanMissing, ROOT, run } from './support/podman';
import { freePort } from './support/ports';

const skip = podmanMissing();
const SERVER_IMAGE = 'localhost/printhop-server:latest';
const AGENT_IMAGE = 'localhost/printhop-agent:latest';

function timer(log: (line: string) => void) {
  const started = Date.now();
  let last = started;
  return (step: string) => {
    const now = Date.now();
    log(`[containers] ${step}: +${((now - last) / 1000).toFixed(1)} s (total ${((now - started) / 1000).toFixed(1)} s)`);
    last = now;
  };
}

async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${lastError ? ` (${String(lastError)})` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** The receipts the virtual printer's log shows (it decodes each one): header line and text lines. */
function receiptsInLog(log: string): Array<{ header: string; lines: string[] }> {
  const receipts: Array<{ header: string; lines: string[] }> = [];
  let current: { header: string; lines: string[] } | null = null;
  for (const line of log.split('\n')) {
    if (line.startsWith('┌── receipt')) receipts.push((current = { header: line, lines: [] }));
    else if (current && line.startsWith('│ ')) current.lines.push(line.slice(2));
    else if (line.startsWith('└──')) current = null;
  }
  return receipts;
}

test('the images build from the Dockerfiles; compose.yaml prints a job exactly once on the virtual printer, keeps it across a restart, and cleans up', { skip, timeout: 3_600_000 }, async (t) => {
  const step = timer((line) => console.log(line));
  await ensureBaseImage((line) => console.log(`[containers] ${line}`));
  step(`base image ${BASE_IMAGE}`);
  await buildImage('Dockerfile', SERVER_IMAGE);
  step('podman build Dockerfile (server; sqlite3 compiled)');
  await buildImage('deploy/agent.Dockerfile', AGENT_IMAGE);
  step('podman build deploy/agent.Dockerfile (agent + virtual printer)');

  // The images as built: no TypeScript loader at run time, a non-root user, an init as PID 1, a health check.
  const inspect = JSON.parse(await podman(['image', 'inspect', SERVER_IMAGE])) as Array<{ Config: { User: string; Entrypoint: string[]; Healthcheck?: { Test: string[] }; Volumes?: Record<string, unknown>; Env: string[] } }>;
  const config = inspect[0]!.Config;
  assert.equal(config.User, 'printhop');
  assert.deepEqual(config.Entrypoint, ['/usr/bin/tini', '--', 'node', '/app/dist/printhop-server.mjs']);
  assert.ok(config.Healthcheck?.Test.join(' ').includes('/health'), JSON.stringify(config.Healthcheck));
  assert.ok(config.Volumes && '/data' in config.Volumes);
  assert.ok(config.Env.includes('DATA_DIR=/data'));
  assert.match(await podman(['run', '--rm', SERVER_IMAGE, '--version']), /^\d+\.\d+\.\d+\n$/);
  assert.match(await podman(['run', '--rm', AGENT_IMAGE, '--version']), /^\d+\.\d+\.\d+\n$/);
  const agentFiles = await podman(['run', '--rm', '--entrypoint', 'sh', AGENT_IMAGE, '-c', 'ls /app; id -u; test ! -e /app/node_modules && echo no-node_modules']);
  assert.deepEqual(agentFiles.trim().split('\n'), ['printhop-agent.mjs', 'virtual-printer.mjs', agentFiles.trim().split('\n')[2]!, 'no-node_modules']);
  assert.notEqual(agentFiles.trim().split('\n')[2], '0', 'the agent runs as a non-root user');
  step('image checks');

  // The stack, as compose.yaml describes it, on loopback ports of this machine.
  const project = `printhop-test-${randomBytes(4).toString('hex')}`;
  const [httpPort, mqttPort] = [await freePort(), await freePort()];
  const env = { PRINTER_1_TOKEN: randomBytes(24).toString('hex'), PRINTHOP_BIND: '127.0.0.1', PRINTHOP_PORT: String(httpPort), PRINTHOP_MQTT_PORT: String(mqttPort), LOG_LEVEL: 'info' };
  const compose = (args: string[]) => run('podman-compose', ['-p', project, '-f', 'compose.yaml', ...args], { cwd: ROOT, env, timeoutMs: 600_000 });
  const container = (service: string) => `${project}_${service}_1`;
  let cleaned = false;
  const cleanUp = async () => {
    if (cleaned) return;
    cleaned = true;
    await compose(['down', '-v']);
    // What podman-compose leaves: the project's volumes (down -v removes them; this is belt and braces) and its network.
    for (const volume of [`${project}_printhop-data`, `${project}_agent-data`]) await run('podman', ['volume', 'rm', '-f', volume]);
    await run('podman', ['network', 'rm', '-f', `${project}_default`]);
  };
  t.after(async () => {
    await cleanUp();
    await run('podman', ['rmi', '-f', SERVER_IMAGE, AGENT_IMAGE]);
  });

  const up = await compose(['up', '-d', '--no-build']);
  assert.equal(up.code, 0, up.stdout + up.stderr);
  const base = `http://127.0.0.1:${httpPort}`;
  const logsOf = async (service: string) => {
    const r = await run('podman', ['logs', container(service)]);
    return r.stdout + r.stderr;
  };
  const diagnose = async () => `\n--- server\n${(await logsOf('server')).slice(-3000)}\n--- agent\n${(await logsOf('agent')).slice(-3000)}\n--- virtual printer\n${(await logsOf('virtual-printer')).slice(-2000)}`;
  const online = async () =>
    waitFor('printer-1 online', async () => ((await (await fetch(`${base}/printers`)).json()) as Array<{ id: string; state: string }>).some((p) => p.id === 'printer-1' && p.state === 'online'), 90_000).catch(async (err: Error) => {
      throw new Error(err.message + (await diagnose()));
    });
  await online();
  step('podman-compose up (server, agent, virtual printer) until printer-1 is online');

  // The health check the image declares, run by Podman inside the container.
  const health = await run('podman', ['healthcheck', 'run', container('server')]);
  assert.equal(health.code, 0, `healthcheck: ${health.stdout}${health.stderr}`);
  assert.notEqual((await podman(['exec', container('server'), 'id', '-u'])).trim(), '0', 'the server runs as a non-root user');
  assert.equal((await podman(['exec', container('server'), 'cat', '/proc/1/comm'])).trim(), 'tini', 'an init is PID 1');

  const content = `Conteneur : crème brûlée à 5 € ${randomBytes(3).toString('hex')}`;
  const posted = await fetch(`${base}/print`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content }) });
  assert.equal(posted.status, 202, await posted.clone().text());
  const job = (await posted.json()) as { id: number };
  await waitFor('job printed', async () => ((await (await fetch(`${base}/jobs/${job.id}`)).json()) as { status: string }).status === 'printed', 60_000).catch(async (err: Error) => {
    throw new Error(err.message + (await diagnose()));
  });
  // Exactly once on the virtual printer, in code page PC858, 48 columns, cut.
  const printedOnce = await waitFor('receipt in the virtual printer log', async () => {
    const receipts = receiptsInLog(await logsOf('virtual-printer')).filter((r) => r.lines.includes(content));
    return receipts.length ? receipts : null;
  }, 10_000);
  await new Promise((r) => setTimeout(r, 1500)); // a duplicate would show by now
  const receipts = receiptsInLog(await logsOf('virtual-printer')).filter((r) => r.lines.includes(content));
  assert.equal(receipts.length, 1, (await diagnose()) + JSON.stringify(printedOnce));
  assert.match(receipts[0]!.header, /\(PC858, 48 columns, cut\)/);
  step('POST /print → printed once on the virtual printer');

  // Restart the whole stack: the job is still there (the /data volume), and it is not printed again.
  const down = await compose(['down']);
  assert.equal(down.code, 0, down.stdout + down.stderr);
  const upAgain = await compose(['up', '-d', '--no-build']);
  assert.equal(upAgain.code, 0, upAgain.stdout + upAgain.stderr);
  await online();
  const after = (await (await fetch(`${base}/jobs/${job.id}`)).json()) as { status: string; content: string };
  assert.equal(after.status, 'printed');
  assert.equal(after.content, content);
  const second = `Après redémarrage ${randomBytes(3).toString('hex')}`;
  const job2 = (await (await fetch(`${base}/print`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: second }) })).json()) as { id: number };
  assert.ok(job2.id > job.id, 'ids continue from the stored database');
  await waitFor('second job printed', async () => ((await (await fetch(`${base}/jobs/${job2.id}`)).json()) as { status: string }).status === 'printed', 60_000);
  await new Promise((r) => setTimeout(r, 1500));
  const log2 = receiptsInLog(await logsOf('virtual-printer'));
  assert.equal(log2.filter((r) => r.lines.includes(second)).length, 1, await diagnose());
  assert.equal(log2.filter((r) => r.lines.includes(content)).length, 0, 'the first job is not printed again after the restart');
  step('down + up: data kept in the volume, a new job printed once');

  // SIGTERM reaches Node through tini: the server stops cleanly (exit 0), not killed after the timeout.
  await podman(['stop', '-t', '20', container('server')]);
  const exit = (await podman(['inspect', '--format', '{{.State.ExitCode}}', container('server')])).trim();
  assert.equal(exit, '0', await logsOf('server'));
  await cleanUp();
  const left = await podman(['ps', '-a', '--filter', `name=${project}`, '--format', '{{.Names}}']);
  assert.equal(left.trim(), '');
  const volumes = await podman(['volume', 'ls', '--format', '{{.Name}}']);
  assert.ok(!volumes.includes(project), volumes);
  step('stop (exit 0 on SIGTERM) and down -v');
});
