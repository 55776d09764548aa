/** The server's own disk (issue 25): which errors mean "cannot store", and an episode logged once. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StorageHealth, storageFault } from '../../../broker-server/store/storage-health';
import { captureLogger } from '../../support/basics';

test('a full or read-only disk is told from other errors, through the wrappers of Sequelize and the drivers', () => {
  const sqlite = Object.assign(new Error('SQLITE_FULL: database or disk is full'), { code: 'SQLITE_FULL' });
  assert.equal(storageFault(sqlite), 'disk-full');
  assert.equal(storageFault({ message: 'Validation error', parent: sqlite }), 'disk-full', 'a Sequelize wrapper');
  assert.equal(storageFault({ message: 'could not extend file', original: { code: '53100' } }), 'disk-full');
  assert.equal(storageFault(Object.assign(new Error('write'), { code: 'ENOSPC' })), 'disk-full');
  assert.equal(storageFault({ code: 'SQLITE_READONLY', message: 'attempt to write a readonly database' }), 'read-only');
  assert.equal(storageFault(new Error('SQLITE_CONSTRAINT: UNIQUE constraint failed')), null);
  assert.equal(storageFault(undefined), null);
});

test('an episode: logged once however many writes it refuses, /readyz says why, the next stored job ends it', () => {
  const { log, entries } = captureLogger();
  const storage = new StorageHealth(log, { dataDir: null });
  const full = Object.assign(new Error('SQLITE_FULL: database or disk is full'), { code: 'SQLITE_FULL' });
  assert.equal(storage.failed(new Error('something else')), false, 'not the disk: not a 503');
  assert.equal(storage.problem(), null);
  for (let i = 0; i < 5; i++) assert.equal(storage.failed(full), true);
  assert.match(storage.problem() ?? '', /disk is full/);
  const lapsed = new StorageHealth(captureLogger().log, { dataDir: null, retryAfterS: 0 });
  lapsed.failed(full);
  const until = Date.now() + 5;
  while (Date.now() <= until); // past Retry-After (0 s)
  assert.equal(lapsed.problem(), null, 'nothing to probe (PostgreSQL): ready again after Retry-After, to try');
  storage.succeeded();
  assert.equal(storage.problem(), null);
  const said = entries().map((e) => e.msg);
  assert.equal(said.filter((m) => /cannot store jobs/.test(String(m))).length, 1, 'once per episode');
  assert.equal(said.filter((m) => /can store jobs again/.test(String(m))).length, 1);
  storage.stop();
});
