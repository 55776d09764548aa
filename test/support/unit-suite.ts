/**
 * The frame of the unit suite's bundle (test/unit.ts): imported first, it holds every test until all the
 * files are loaded; `loaded()`, called after the last one, adds the suite's own check and lets them run.
 * Loading is CPU work that would otherwise run between the timers of the first tests.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { before, test } from 'node:test';

let release: () => void = () => undefined;
const held = new Promise<void>((resolve) => (release = resolve));
before(() => held);

export function loaded(): void {
  test('the unit tests load no server, database, broker or network package', () => {
    const modules = Object.keys(createRequire(import.meta.url).cache);
    const heavy = /node_modules\/(sqlite3|pg|sequelize|umzug|aedes|mqtt|express|ws|undici)\//;
    assert.deepEqual(
      modules.filter((file) => heavy.test(file)),
      [],
    );
  });
  release();
}
