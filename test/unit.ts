/**
 * The fast tests in one process (`npm run test:unit`): every `*.unit.test.ts` under test/, in path order,
 * bundled by esbuild into one file (test-artifacts/unit/suite.mjs: our TypeScript, and escpos as the agent
 * ships it; the other packages are loaded from node_modules) that plain `node` runs. No TypeScript loader:
 * tsx's hooks cost about 1 s of CPU for the suite's 100-odd modules, more than the bundle takes to make (about
 * 0.3 s) and to load. One process beat two side by side on this 2-core machine (loading is a large part of
 * the work). `npm` runs this file compiled (test-artifacts/unit/run.mjs, see package.json);
 * `node --import tsx test/unit.ts` runs it too.
 *
 * A unit test imports no server, database or network (nothing of support/harness.ts; support/basics.ts has
 * what they share): support/unit-suite.ts checks it, and holds the tests until every file is loaded. The
 * property tests run their quick counts here (support/property-runs.ts; PROPERTY_RUNS=full for the full
 * ones). `npm test` runs the same files one by one through tsx, like every other test file.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

const require = createRequire(import.meta.url);
let root = import.meta.dirname;
while (!existsSync(path.join(root, 'package.json'))) root = path.dirname(root);
const testDir = path.join(root, 'test');
const outfile = path.join(root, 'test-artifacts', 'unit', 'suite.mjs');

const files = readdirSync(testDir, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.unit.test.ts'))
  .sort();

/** `import.meta.dirname`, `filename` and `url` in our files say where the file is, as they do under tsx, not where the bundle is. */
const importMetaOfEachFile: Plugin = {
  name: 'import-meta-of-each-file',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta.')) return undefined;
      const values: Record<string, string> = {
        dirname: path.dirname(args.path),
        filename: args.path,
        url: pathToFileURL(args.path).href,
      };
      return {
        contents: source.replace(/\bimport\.meta\.(dirname|filename|url)\b/g, (_, key: string) =>
          JSON.stringify(values[key]),
        ),
        loader: 'ts',
      };
    });
  },
};

/**
 * `escpos` (the receipt test's reference) bundled as the agent ships it:
 * without the packages it loads at start for images, QR codes, serial and Bluetooth, which a receipt of text
 * never calls (scripts/build.ts ESCPOS_UNUSED; a call would throw). Those cost about 0.25 s of CPU to load
 * (`get-pixels` brings `request`).
 */
const ESCPOS_UNUSED = ['get-pixels', 'qr-image', 'serialport', 'node-bluetooth'];
const escposAsShipped: Plugin = {
  name: 'escpos-as-shipped',
  setup(b) {
    b.onResolve({ filter: /^escpos$/ }, () => ({ path: require.resolve('escpos') }));
    b.onResolve({ filter: new RegExp(`^(${ESCPOS_UNUSED.join('|')})$`) }, (args) => ({
      path: args.path,
      namespace: 'escpos-unused',
    }));
    b.onLoad({ filter: /.*/, namespace: 'escpos-unused' }, (args) => ({
      contents: `const fail = () => { throw new Error(${JSON.stringify(`${args.path} is not in the unit suite's bundle`)}); };
module.exports = new Proxy(fail, { get: (_, key) => (key === '__esModule' ? false : fail) });`,
      loader: 'js',
    }));
  },
};

await build({
  stdin: {
    contents: [
      "import { loaded } from './support/unit-suite';",
      ...files.map((file) => `import './${file.split(path.sep).join('/')}';`),
      'loaded();',
    ].join('\n'),
    resolveDir: testDir,
    sourcefile: 'unit-suite-entry.ts',
    loader: 'ts',
  },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  outfile,
  sourcemap: 'inline',
  logLevel: 'warning',
  plugins: [importMetaOfEachFile, escposAsShipped],
  // Node's require for the CommonJS packages bundled (escpos) and what they load from node_modules.
  banner: {
    js: "import { createRequire as __unitCreateRequire } from 'node:module'; const require = __unitCreateRequire(import.meta.url);",
  },
});

process.env.PROPERTY_RUNS ??= 'quick';
process.setSourceMapsEnabled(true); // failures point at the TypeScript lines
await import(pathToFileURL(outfile).href);
