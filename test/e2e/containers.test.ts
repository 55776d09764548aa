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
import { after, before, test } from 'node:test';
import {
  BASE_IMAGE,
  buildImage,
  ensureBaseImage,
  ensureStandIns,
  podman,
  podmanMissing,
  ROOT,
  run,
} from '../support/podman';
import { freePort } from '../support/ports';

const skip = podmanMissing();
const SERVER_IMAGE = 'localhost/printhop-server:latest';
const AGENT_IMAGE = 'localhost/printhop-agent:latest';

function timer(log: (line: string) => void) {
  const started = Date.now();
  let last = started;
  return (step: string) => {
    const now = Date.now();
    log(
      `[containers] ${step}: +${((now - last) / 1000).toFixed(1)} s (total ${((now - started) / 1000).toFixed(1)} s)`,
    );
    last = now;
  };
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | null | undefined | false>,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not within ${timeoutMs} ms${lastError ? ` (${String(lastError)})` : ''}`);
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

const step = timer((line) => console.log(line));

// The images, built once for the file from the repository's Dockerfiles; removed at the end (the base
// image and the stand-ins stay, as a cache: they do not depend on this repository).
before(async () => {
  if (skip) return;
  await ensureBaseImage((line) => console.log(`[containers] ${line}`));
  step(`base image ${BASE_IMAGE}`);
  await buildImage('Dockerfile', SERVER_IMAGE);
  step('podman build Dockerfile (server; sqlite3 compiled)');
  await buildImage('deploy/agent.Dockerfile', AGENT_IMAGE);
  step('podman build deploy/agent.Dockerfile (agent + virtual printer)');
});
after(async () => {
  if (skip) return;
  await run('podman', ['rmi', '-f', SERVER_IMAGE, AGENT_IMAGE]);
});

/** A podman-compose project on loopback ports: its commands, its containers' logs, and a clean-up of all it made. */
async function composeProject(file: string, extraEnv: Record<string, string>, volumes: string[]) {
  const project = `printhop-test-${randomBytes(4).toString('hex')}`;
  const env = { PRINTHOP_BIND: '127.0.0.1', LOG_LEVEL: 'info', ...extraEnv };
  const anonymous = new Set<string>();
  // The anonymous volumes of the project's containers (an image's VOLUME the compose file does not mount):
  // podman-compose's `down -v` leaves them, so they are noted before every `down` and removed at the end.
  const noteAnonymousVolumes = async () => {
    const names = (await run('podman', ['ps', '-a', '--filter', `name=${project}`, '--format', '{{.Names}}'])).stdout
      .split('\n')
      .filter(Boolean);
    for (const name of names) {
      const mounts = await run('podman', [
        'inspect',
        '--format',
        '{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}',
        name,
      ]);
      for (const volume of mounts.stdout.split(/\s+/).filter(Boolean))
        if (!volume.startsWith(project)) anonymous.add(volume);
    }
  };
  const compose = async (args: string[]) => {
    if (args[0] === 'down') await noteAnonymousVolumes();
    return run('podman-compose', ['-p', project, '-f', file, ...args], { cwd: ROOT, env, timeoutMs: 600_000 });
  };
  const container = (service: string) => `${project}_${service}_1`;
  const logsOf = async (service: string) => {
    const r = await run('podman', ['logs', container(service)]);
    return r.stdout + r.stderr;
  };
  let cleaned = false;
  const cleanUp = async () => {
    if (cleaned) return;
    cleaned = true;
    await compose(['down', '-v']);
    for (const volume of anonymous) await run('podman', ['volume', 'rm', '-f', volume]);
    // What podman-compose may leave: the project's volumes (down -v removes them; belt and braces) and its network.
    for (const volume of volumes) await run('podman', ['volume', 'rm', '-f', `${project}_${volume}`]);
    await run('podman', ['network', 'rm', '-f', `${project}_default`]);
    await run('podman', ['pod', 'rm', '-f', `pod_${project}`]);
    const left = await podman(['ps', '-a', '--filter', `name=${project}`, '--format', '{{.Names}}']);
    assert.equal(left.trim(), '', 'no container left');
    const leftVolumes = await podman(['volume', 'ls', '--format', '{{.Name}}']);
    assert.ok(!leftVolumes.includes(project), leftVolumes);
  };
  return { project, compose, container, logsOf, cleanUp };
}

async function postJob(base: string, content: string): Promise<number> {
  const posted = await fetch(`${base}/print`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ content }),
  });
  assert.equal(posted.status, 201, await posted.clone().text());
  return ((await posted.json()) as { id: number }).id;
}

async function waitPrinted(base: string, id: number, diagnose: () => Promise<string>): Promise<void> {
  await waitFor(
    `job ${id} printed`,
    async () => ((await (await fetch(`${base}/jobs/${id}`)).json()) as { status: string }).status === 'printed',
    90_000,
  ).catch(async (err: Error) => {
    throw new Error(err.message + (await diagnose()));
  });
}

async function waitOnline(base: string, diagnose: () => Promise<string>): Promise<void> {
  await waitFor(
    `printer-1 online at ${base}`,
    async () =>
      ((await (await fetch(`${base}/printers`)).json()) as Array<{ id: string; state: string }>).some(
        (p) => p.id === 'printer-1' && p.state === 'online',
      ),
    180_000,
  ).catch(async (err: Error) => {
    throw new Error(err.message + (await diagnose()));
  });
}

test(
  'the images as built: plain node, no TypeScript loader, non-root users, tini, a health check, /data',
  { skip },
  async () => {
    const inspect = JSON.parse(await podman(['image', 'inspect', SERVER_IMAGE])) as Array<{
      Healthcheck?: { Test: string[] };
      Config: { User: string; Entrypoint: string[]; Volumes?: Record<string, unknown>; Env: string[] };
    }>;
    const config = inspect[0]!.Config;
    assert.equal(config.User, 'printhop');
    assert.deepEqual(config.Entrypoint, ['/usr/bin/tini', '--', 'node', '/app/dist/printhop-server.mjs']);
    const healthcheck = inspect[0]!.Healthcheck;
    assert.match(healthcheck?.Test.join(' ') ?? '', /\/(health|readyz)\b/, JSON.stringify(healthcheck));
    assert.ok(config.Volumes && '/data' in config.Volumes);
    assert.ok(config.Env.includes('DATA_DIR=/data'));
    assert.match(await podman(['run', '--rm', SERVER_IMAGE, '--version']), /^\d+\.\d+\.\d+\n$/);
    assert.match(await podman(['run', '--rm', AGENT_IMAGE, '--version']), /^\d+\.\d+\.\d+\n$/);
    // The server image holds no compiler and no TypeScript sources (of agent/, only deploy/: the systemd unit and
    // udev rule /agents/install.sh hands out); the agent image, two files and no node_modules.
    const server = await podman([
      'run',
      '--rm',
      '--entrypoint',
      'sh',
      SERVER_IMAGE,
      '-c',
      'id -u; ls /app; ls /app/agent; command -v g++ || echo no-compiler',
    ]);
    const [serverUid, ...serverLines] = server.trim().split('\n');
    assert.notEqual(serverUid, '0');
    assert.deepEqual(serverLines, ['agent', 'dist', 'node_modules', 'package.json', 'public', 'deploy', 'no-compiler']);
    const agent = await podman([
      'run',
      '--rm',
      '--entrypoint',
      'sh',
      AGENT_IMAGE,
      '-c',
      'id -u; id -Gn; ls /app; test -e /app/node_modules || echo no-node_modules',
    ]);
    const [agentUid, agentGroups, ...agentLines] = agent.trim().split('\n');
    assert.notEqual(agentUid, '0');
    assert.match(agentGroups!, /\blp\b/, 'the agent may open /dev/usb/lp0 (group lp)');
    assert.deepEqual(agentLines, ['printhop-agent.mjs', 'virtual-printer.mjs', 'no-node_modules']);
    step('image checks');
  },
);

test(
  'compose.yaml: a job printed exactly once on the virtual printer, kept across a restart (volume), SIGTERM stops cleanly, all removed',
  { skip, timeout: 1_800_000 },
  async (t) => {
    const [httpPort, mqttPort] = [await freePort(), await freePort()];
    const stack = await composeProject(
      'compose.yaml',
      {
        PRINTER_1_TOKEN: randomBytes(24).toString('hex'),
        PRINTHOP_PORT: String(httpPort),
        PRINTHOP_MQTT_PORT: String(mqttPort),
      },
      ['printhop-data', 'agent-data'],
    );
    t.after(() => stack.cleanUp());
    const base = `http://127.0.0.1:${httpPort}`;
    const diagnose = async () =>
      `\n--- server\n${(await stack.logsOf('server')).slice(-3000)}\n--- agent\n${(await stack.logsOf('agent')).slice(-3000)}\n--- virtual printer\n${(await stack.logsOf('virtual-printer')).slice(-2000)}`;

    const up = await stack.compose(['up', '-d', '--no-build']);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    await waitOnline(base, diagnose);
    step('podman-compose up (server, agent, virtual printer) until printer-1 is online');

    // The health check the image declares, run by Podman in the container; tini is PID 1.
    const health = await run('podman', ['healthcheck', 'run', stack.container('server')]);
    assert.equal(health.code, 0, `healthcheck: ${health.stdout}${health.stderr}`);
    assert.equal((await podman(['exec', stack.container('server'), 'cat', '/proc/1/comm'])).trim(), 'tini');

    const content = `Conteneur : crème brûlée à 5 € ${randomBytes(3).toString('hex')}`;
    const id = await postJob(base, content);
    await waitPrinted(base, id, diagnose);
    await waitFor(
      'receipt in the virtual printer log',
      async () => receiptsInLog(await stack.logsOf('virtual-printer')).some((r) => r.lines.includes(content)),
      10_000,
    );
    await new Promise((r) => setTimeout(r, 1500)); // a duplicate would show by now
    const receipts = receiptsInLog(await stack.logsOf('virtual-printer')).filter((r) => r.lines.includes(content));
    assert.equal(receipts.length, 1, await diagnose());
    assert.match(receipts[0]!.header, /\(PC858, 48 columns, cut\)/);
    step('POST /print → printed once on the virtual printer');

    // The whole stack down and up again: the job is still there (the /data volume) and is not printed again.
    const down = await stack.compose(['down']);
    assert.equal(down.code, 0, down.stdout + down.stderr);
    const upAgain = await stack.compose(['up', '-d', '--no-build']);
    assert.equal(upAgain.code, 0, upAgain.stdout + upAgain.stderr);
    await waitOnline(base, diagnose);
    const kept = (await (await fetch(`${base}/jobs/${id}`)).json()) as { status: string; content: string };
    assert.deepEqual([kept.status, kept.content], ['printed', content]);
    const second = `Après redémarrage ${randomBytes(3).toString('hex')}`;
    const id2 = await postJob(base, second);
    assert.ok(id2 > id, 'ids continue from the stored database');
    await waitPrinted(base, id2, diagnose);
    await new Promise((r) => setTimeout(r, 1500));
    const log2 = receiptsInLog(await stack.logsOf('virtual-printer'));
    assert.equal(log2.filter((r) => r.lines.includes(second)).length, 1, await diagnose());
    assert.equal(
      log2.filter((r) => r.lines.includes(content)).length,
      0,
      'the first job is not printed again after the restart',
    );
    step('down + up: the job kept in the volume, a new one printed once');

    // SIGTERM reaches Node through tini: the server stops cleanly (exit 0), not killed at the timeout.
    await podman(['stop', '-t', '20', stack.container('server')]);
    assert.equal(
      (await podman(['inspect', '--format', '{{.State.ExitCode}}', stack.container('server')])).trim(),
      '0',
      await stack.logsOf('server'),
    );
    await stack.cleanUp();
    step('stop (exit 0 on SIGTERM), down -v, nothing left');
  },
);

// compose.scale.yaml names eclipse-mosquitto:2 and postgres:16, which cannot be pulled here: local
// stand-ins from Debian's mosquitto and postgresql packages take their names (test/support/podman.ts,
// STAND_INS), honouring the settings the compose file uses.
test(
  'compose.scale.yaml: Mosquitto + PostgreSQL + two servers; a job posted to each is printed exactly once',
  { skip, timeout: 1_800_000 },
  async (t) => {
    await ensureStandIns((line) => console.log(`[containers] ${line}`));
    step('stand-ins for eclipse-mosquitto:2 and postgres:16');
    const [portA, portB] = [await freePort(), await freePort()];
    const secret = () => randomBytes(24).toString('hex');
    const stack = await composeProject(
      'compose.scale.yaml',
      {
        PRINTER_1_TOKEN: secret(),
        MQTT_SERVER_PASSWORD: secret(),
        POSTGRES_PASSWORD: secret(),
        FORM_TOKEN_SECRET: secret(),
        WEBHOOK_SECRET_KEY: secret(),
        ADMIN_PASSWORD: secret(),
        PRINTHOP_PORT: String(portA),
        PRINTHOP_PORT_B: String(portB),
      },
      ['postgres-data', 'mosquitto-files', 'server-a-data', 'server-b-data', 'agent-data'],
    );
    t.after(() => stack.cleanUp());
    const diagnose = async () =>
      (
        await Promise.all(
          ['postgres', 'mosquitto-files', 'mosquitto', 'server-a', 'server-b', 'agent', 'virtual-printer'].map(
            async (s) => `\n--- ${s}\n${(await stack.logsOf(s)).slice(-1500)}`,
          ),
        )
      ).join('');
    const up = await stack.compose(['up', '-d', '--no-build']);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    const [a, b] = [`http://127.0.0.1:${portA}`, `http://127.0.0.1:${portB}`];
    await waitOnline(a, diagnose);
    await waitOnline(b, diagnose);
    step('podman-compose -f compose.scale.yaml up until printer-1 is online on both servers');

    const contents = [`Via A ${randomBytes(3).toString('hex')}`, `Via B ${randomBytes(3).toString('hex')}`];
    const ids = [await postJob(a, contents[0]!), await postJob(b, contents[1]!)];
    // Each server sees both jobs printed: one database.
    for (const base of [a, b]) for (const id of ids) await waitPrinted(base, id, diagnose);
    await new Promise((r) => setTimeout(r, 1500));
    const receipts = receiptsInLog(await stack.logsOf('virtual-printer'));
    for (const content of contents)
      assert.equal(receipts.filter((r) => r.lines.includes(content)).length, 1, `${content}${await diagnose()}`);
    step('a job through each server, printed once');
    await stack.cleanUp();
    step('down -v, nothing left');
  },
);
