/**
 * `npm run build`: the programs compiled to `dist/`, to run with plain `node` (no TypeScript loader).
 *
 *   dist/printhop-agent.mjs    the agent as ONE file: every package bundled, so a Raspberry Pi needs only Node 20
 *                              and this file. `usb`/`escpos-usb` stay outside: loaded (from a node_modules next to
 *                              the file, or a global one) only for PRINTER=usb.
 *   dist/virtual-printer.mjs   `npm run virtual-printer`, also one file (it runs in the agent's container image).
 *   dist/printhop-server.mjs   the server: our code in one file, its packages (Express, Sequelize, sqlite3, pg,
 *                              Aedes...) loaded from node_modules as installed (sqlite3 is native, Sequelize loads
 *                              its dialect by name: bundling them gains nothing and breaks those loads).
 *   dist/start-all.mjs         `npm start`: the server and one agent, each from the files above.
 *   dist/mosquitto-files.mjs   `npm run mosquitto-files`, for the scaled-out images.
 *   dist/printers.mjs          `npm run printers` (add, rotate, remove printers through the running server).
 *   dist/api-keys.mjs, dist/webhooks.mjs   `npm run api-keys`, `npm run webhooks` (on the server's database).
 *
 * esbuild rather than tsc: tsc cannot bundle, and the agent must be one file; esbuild is already in
 * node_modules (tsx runs on it) and builds everything in about a second. Type checking stays `npm run typecheck`.
 */
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { brotliCompressSync, constants as zlibConstants } from 'node:zlib';
import { build, type BuildOptions, type Plugin } from 'esbuild';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const DIST = path.join(ROOT, 'dist');

/** Native or optional packages the agent loads only for PRINTER=usb (through createRequire, at run time). */
export const AGENT_EXTERNALS = ['usb', 'escpos-usb'];

/**
 * Packages `escpos` requires at load time that a receipt never uses: `qr-image` and `get-pixels` (with
 * its image decoders, about 27 MB of memory) for `printer.qrimage()`/`image()`, `serialport` for its
 * serial adapter, `node-bluetooth` for its Bluetooth one. In the agent's bundle they become a module that throws if anything ever calls it.
 */
export const ESCPOS_UNUSED = ['get-pixels', 'qr-image', 'serialport', 'node-bluetooth'];

/** Node's `require` and `__dirname` for the CommonJS packages inside an ESM bundle. */
const ESM_REQUIRE_BANNER = [
  "import { createRequire as __printhopCreateRequire } from 'node:module';",
  'const require = __printhopCreateRequire(import.meta.url);',
].join('\n');

const stubUnused: Plugin = {
  name: 'printhop-stub-unused',
  setup(b) {
    const filter = new RegExp(`^(${ESCPOS_UNUSED.map((n) => n.replace(/[-/]/g, '\\$&')).join('|')})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: 'printhop-unused' }));
    b.onLoad({ filter: /.*/, namespace: 'printhop-unused' }, (args) => ({
      contents: `const fail = () => { throw new Error(${JSON.stringify(`${args.path} is not in this build: Printhop receipts print text only`)}); };
module.exports = new Proxy(fail, { get: (_, key) => (key === '__esModule' ? false : fail) });`,
      loader: 'js',
    }));
  },
};

/** What `MQTTJS_SOCKS_PROXY` gets from the agent's bundle: a refusal, said plainly. */
export const SOCKS_REFUSAL = 'MQTT through a SOCKS proxy (MQTTJS_SOCKS_PROXY) is not in this build of the agent';

/**
 * mqtt.js code the agent never runs, out of its bundle (issue 22: less source held in memory):
 * - its SOCKS proxy client (`connect/socks.js`, used only when `MQTTJS_SOCKS_PROXY` or `socksProxy` is set),
 *   with `socks`, `ip-address` and `smart-buffer` (90 kB of the bundle): a module that refuses, in words;
 * - `worker-timers` (with `worker-timers-broker`, `broker-factory`, `fast-unique-numbers`, `@babel/runtime`),
 *   the timers of a browser's web worker; in Node mqtt.js takes the native timers (`get-timer.js`).
 */
const mqttUnused: Plugin = {
  name: 'printhop-mqtt-unused',
  setup(b) {
    const connectDir = `${path.sep}mqtt${path.sep}build${path.sep}lib${path.sep}connect${path.sep}`;
    b.onResolve({ filter: /^\.\/socks(\.js)?$/ }, (args) =>
      args.importer.includes(connectDir) ? { path: 'mqtt-socks', namespace: 'printhop-mqtt-unused' } : undefined,
    );
    b.onResolve({ filter: /^worker-timers$/ }, () => ({ path: 'worker-timers', namespace: 'printhop-mqtt-unused' }));
    b.onLoad({ filter: /^mqtt-socks$/, namespace: 'printhop-mqtt-unused' }, () => ({
      contents: `Object.defineProperty(exports, '__esModule', { value: true });
exports.default = () => { throw new Error(${JSON.stringify(SOCKS_REFUSAL)}); };`,
      loader: 'js',
    }));
    b.onLoad({ filter: /^worker-timers$/, namespace: 'printhop-mqtt-unused' }, () => ({
      contents: `const fail = () => { throw new Error('worker-timers (the browser timers of mqtt.js) is not in this build'); };
module.exports = { setInterval: fail, clearInterval: fail, setTimeout: fail, clearTimeout: fail };`,
      loader: 'js',
    }));
  },
};

/**
 * iconv-lite's double-byte encodings (Chinese, Japanese, Korean: `dbcs-codec.js`, `dbcs-data.js` and their
 * tables, 397 kB of the bundle): the agent's code pages (protocol/codepages.ts, CODEPAGE) are all single-byte.
 * In its bundle they are modules with no encodings; iconv-lite then says such an encoding is not recognised.
 */
const singleByteOnly: Plugin = {
  name: 'printhop-single-byte-only',
  setup(b) {
    const encodingsDir = `${path.sep}iconv-lite${path.sep}encodings${path.sep}`;
    b.onResolve({ filter: /^\.\/dbcs-(codec|data)(\.js)?$/ }, (args) =>
      args.importer.includes(encodingsDir) ? { path: args.path, namespace: 'printhop-no-dbcs' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'printhop-no-dbcs' }, () => ({
      contents: 'module.exports = {};',
      loader: 'js',
    }));
  },
};

/**
 * A package replaced in the bundle by a module of ours, given the real package's resolved path (which the
 * module may still `require`; that import resolves to the real package, not to this plugin again).
 */
function wrapPackage(pkg: string, wrapper: (realPath: string) => string | Promise<string>): Plugin {
  const namespace = `printhop-wrap-${pkg}`;
  return {
    name: namespace,
    setup(b) {
      b.onResolve({ filter: new RegExp(`^${pkg.replace(/[-/]/g, '\\$&')}$`) }, async (args) => {
        if (args.pluginData === 'real') return undefined;
        const real = await b.resolve(pkg, {
          resolveDir: args.resolveDir,
          kind: args.kind,
          importer: args.importer,
          pluginData: 'real',
        });
        if (real.errors.length) return { errors: real.errors };
        return { path: real.path, namespace };
      });
      b.onLoad({ filter: /.*/, namespace }, async (args) => ({
        contents: await wrapper(args.path),
        loader: 'js',
        resolveDir: path.dirname(args.path),
      }));
    },
  };
}

/**
 * `debug`, which mqtt.js and mqtt-packet call several times per packet: even when off, each call builds
 * its rest-argument array (about a tenth of what the agent allocated per job, measured with V8's sampling
 * heap profiler). In the agent's bundle, with no DEBUG variable at start, every logger is one shared function
 * that does nothing; with DEBUG set (e.g. DEBUG=mqttjs*), the real package, as before.
 */
const quietDebug = wrapPackage(
  'debug',
  (real) => `if (process.env.DEBUG) {
  module.exports = require(${JSON.stringify(real)});
} else {
  const off = () => undefined;
  Object.assign(off, { enabled: false, namespace: '', log: off, destroy: off });
  off.extend = () => off;
  const createDebug = () => off;
  Object.assign(createDebug, { enable: off, disable: () => '', enabled: () => false, formatters: {}, names: [], skips: [] });
  createDebug.default = createDebug;
  createDebug.debug = createDebug;
  module.exports = createDebug;
}`,
);

/**
 * pino-pretty (and its own packages) is used only when the agent's output is a terminal: in the agent's
 * bundle it is evaluated on its first call, not at start (0.5 MB less for an idle agent: 56.5 MB instead of 57.0,
 * 3 runs each), and kept compressed until then (packedLoader: about 95 kB less source held by V8).
 */
const lazyPretty = wrapPackage(
  'pino-pretty',
  async (real) => `${await packedLoader(real, 'pino-pretty (compressed in printhop-agent)')}
module.exports = (...options) => load()(...options);`,
);

/**
 * `import.meta.dirname` in our sources means "the folder of this source file" (e.g. to find public/ from
 * broker-server/http/). In a bundle it would be dist/; this rewrites it to that same folder, found from
 * the bundle's place (dist/ sits at the root of the repository or of the image, next to public/).
 */
const sourceDirname: Plugin = {
  name: 'printhop-source-dirname',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta.dirname')) return undefined;
      const fromRoot = path.relative(ROOT, path.dirname(args.path)).split(path.sep).join('/');
      return {
        contents:
          source.replaceAll('import.meta.dirname', `__printhopSourceDir(${JSON.stringify(fromRoot)})`) +
          '\nimport { sourceDirFromBundle as __printhopSourceDir } from "printhop:source-dir";\n',
        loader: 'ts',
      };
    });
    b.onResolve({ filter: /^printhop:source-dir$/ }, () => ({ path: 'source-dir', namespace: 'printhop-source-dir' }));
    b.onLoad({ filter: /.*/, namespace: 'printhop-source-dir' }, () => ({
      contents: `import path from 'node:path';
export const sourceDirFromBundle = (fromRoot) => path.resolve(import.meta.dirname, '..', fromRoot);`,
      loader: 'js',
    }));
  },
};

/** Where the agent's bundle keeps zod: compressed, evaluated on first use (lazyZod). */
export const ZOD_CHUNK_FILENAME = 'zod (compressed in printhop-agent)';

/**
 * zod (583 kB of source) in the agent's bundle as a brotli-compressed string (about 100 kB), decompressed and
 * evaluated the first time something reads one of its exports: a running agent never does (its settings, its
 * saved pairing and its job messages are checked by hand), so the source V8 keeps of the bundle is that much
 * smaller (issue 22, docs/performance.md "Agent memory, second round (stop 30)"). A refused setting or a
 * pairing reads `z` and gets zod itself, the same words as before. The stub is CommonJS with a getter per
 * export, so that `import { z } from 'zod'` at the top of a module evaluated at start (protocol/messages.ts)
 * touches nothing until `z` is used. It works alike in the ESM bundle and in the single executables' CommonJS
 * one (node:zlib and node:vm are built in, zod requires nothing).
 */
const lazyZod: Plugin = {
  name: 'printhop-lazy-zod',
  setup(b) {
    let stub: Promise<string> | undefined;
    b.onResolve({ filter: /^zod$/ }, () => ({ path: 'zod', namespace: 'printhop-lazy-zod' }));
    b.onLoad({ filter: /.*/, namespace: 'printhop-lazy-zod' }, async () => ({
      contents: await (stub ??= zodStub()),
      loader: 'js',
    }));
  },
};

/** The CommonJS module that stands in for zod in the agent's bundle (lazyZod). */
async function zodStub(): Promise<string> {
  const entry = path.join(ROOT, 'node_modules/zod/index.js');
  const names = Object.keys(await import(pathToFileURL(entry).href));
  return `${await packedLoader(entry, ZOD_CHUNK_FILENAME)}
Object.defineProperty(exports, '__esModule', { value: true });
for (const name of ${JSON.stringify(names)}) Object.defineProperty(exports, name, { enumerable: true, get: () => load()[name] });
`;
}

/**
 * `entry` bundled alone as CommonJS, brotli-compressed, as the code of a function `load` that decompresses and
 * evaluates it on its first call and answers its exports (node:zlib and node:vm, built into every Node: the
 * agent's ESM bundle and its single executables' CommonJS one alike). Its `require` is the bundle's own, for
 * Node's built-in modules.
 */
async function packedLoader(entry: string, filename: string): Promise<string> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
    write: false,
  });
  const source = out.outputFiles[0]!.text;
  const packed = brotliCompressSync(Buffer.from(source, 'utf8'), {
    params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: source.length },
  }).toString('base64');
  return `let loaded;
const load = () => {
  if (loaded === undefined) {
    const source = require('node:zlib').brotliDecompressSync(Buffer.from(${JSON.stringify(packed)}, 'base64')).toString('utf8');
    const module = { exports: {} };
    require('node:vm').runInThisContext('(function (exports, module, require) {' + source + '\\n})', { filename: ${JSON.stringify(filename)} })(module.exports, module, require);
    loaded = module.exports;
  }
  return loaded;
};`;
}

/** What the agent's bundle is built with (the tests build other entries with them too). */
export const AGENT_PLUGINS: Plugin[] = [
  sourceDirname,
  stubUnused,
  mqttUnused,
  singleByteOnly,
  quietDebug,
  lazyPretty,
  lazyZod,
];

const common: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // PRINTHOP_BUILD_SOURCEMAP=1: a .map beside each file, for the bench's cost ledger to name the source of each
  // profiled function. The code is the same (no sourceMappingURL comment), so nothing loads the maps at run time.
  sourcemap: process.env.PRINTHOP_BUILD_SOURCEMAP === '1' ? 'external' : false,
  legalComments: 'none',
  logLevel: 'warning',
  banner: { js: ESM_REQUIRE_BANNER },
  plugins: [sourceDirname],
};

export interface BundleOptions {
  /** Minify (smaller file, less memory to parse; default true). */
  minify?: boolean;
  /** A first line such as `#!/usr/bin/env node` (default: that one). */
  shebang?: string | null;
  /** Extra esbuild options (merged last), for builds that need more (e.g. a single executable). */
  esbuild?: BuildOptions;
}

function banner(shebang: string | null | undefined, extra = ''): string {
  const line = shebang === undefined ? '#!/usr/bin/env node' : shebang;
  return (line ? `${line}\n` : '') + ESM_REQUIRE_BANNER + extra;
}

/** The agent as one ESM file at `outfile` (every package inside, except `usb`/`escpos-usb`). */
export async function bundleAgent(outfile: string, opts: BundleOptions = {}): Promise<void> {
  await build({
    ...common,
    entryPoints: [path.join(ROOT, 'agent/main.ts')],
    outfile,
    external: AGENT_EXTERNALS,
    // Whitespace and syntax only: identifiers keep their names (error types in logs stay readable)
    // without esbuild's keepNames, whose __name() calls cost about 5 MB of memory at start.
    minifyWhitespace: opts.minify ?? true,
    minifySyntax: opts.minify ?? true,
    banner: { js: banner(opts.shebang) },
    plugins: AGENT_PLUGINS,
    ...opts.esbuild,
  });
  if (opts.shebang !== null) chmodSync(outfile, 0o755);
}

/** The virtual printer as one file. */
export async function bundleVirtualPrinter(outfile: string): Promise<void> {
  await build({
    ...common,
    entryPoints: [path.join(ROOT, 'scripts/virtual-printer.ts')],
    outfile,
    minifyWhitespace: true,
    minifySyntax: true,
    banner: { js: banner(undefined) },
  });
  chmodSync(outfile, 0o755);
}

/** Server-side programs: our code bundled, packages from node_modules. */
async function bundleWithPackages(entry: string, outfile: string): Promise<void> {
  await build({
    ...common,
    entryPoints: [path.join(ROOT, entry)],
    outfile,
    packages: 'external',
    banner: { js: banner(undefined) },
  });
  chmodSync(outfile, 0o755);
}

export async function buildAll(dist = DIST): Promise<string[]> {
  // Only this build's files are replaced: other builds write next to them (dist/agents/).
  mkdirSync(dist, { recursive: true });
  const out = (name: string) => path.join(dist, name);
  await Promise.all([
    bundleAgent(out('printhop-agent.mjs')),
    bundleVirtualPrinter(out('virtual-printer.mjs')),
    bundleWithPackages('broker-server/main.ts', out('printhop-server.mjs')),
    bundleWithPackages('broker-server/start-all.ts', out('start-all.mjs')),
    bundleWithPackages('broker-server/mosquitto-files.ts', out('mosquitto-files.mjs')),
    bundleWithPackages('broker-server/api-keys-command.ts', out('api-keys.mjs')),
    bundleWithPackages('broker-server/webhooks-command.ts', out('webhooks.mjs')),
    bundleWithPackages('broker-server/printers-main.ts', out('printers.mjs')),
  ]);
  return [
    'printhop-agent.mjs',
    'virtual-printer.mjs',
    'printhop-server.mjs',
    'start-all.mjs',
    'mosquitto-files.mjs',
    'api-keys.mjs',
    'webhooks.mjs',
    'printers.mjs',
  ].map(out);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const started = Date.now();
  const files = await buildAll();
  if (!process.argv.includes('--quiet')) {
    console.log(`printhop build: ${files.map((f) => path.relative(ROOT, f)).join(', ')} (${Date.now() - started} ms)`);
  }
}
