/**
 * The fast tests in one process (`npm run test:unit`): every `*.unit.test.ts` under test/, imported here
 * in path order, so that the TypeScript loader and the modules they share load once, not once per file
 * (one process beat two side by side on this 2-core machine: loading is most of the work). No test
 * starts before every file is loaded: loading is CPU work that would otherwise hold up the timers of the
 * tests already running. A unit test imports no server, database or network (nothing of
 * support/harness.ts; support/basics.ts has what they share). `npm test` runs the same files one by one,
 * like every other test file.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { before, test } from 'node:test';
import { pathToFileURL } from 'node:url';

// The property tests' quick counts (support/property-runs.ts), unless the environment asks for the full ones.
process.env.PROPERTY_RUNS ??= 'quick';

let loaded: () => void = () => undefined;
before(() => new Promise<void>((resolve) => (loaded = resolve)));

const root = import.meta.dirname;
const files = readdirSync(root, { recursive: true, encoding: 'utf8' })
  .filter((file) => file.endsWith('.unit.test.ts'))
  .sort();
try {
  for (const file of files) await import(pathToFileURL(path.join(root, file)).href);
} finally {
  loaded();
}

test('the unit tests load no server, database, broker or network package', () => {
  const loaded = Object.keys(createRequire(import.meta.url).cache);
  const heavy = /node_modules\/(sqlite3|pg|sequelize|umzug|aedes|mqtt|express|ws|undici)\//;
  assert.deepEqual(
    loaded.filter((file) => heavy.test(file)),
    [],
  );
});
