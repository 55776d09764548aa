/** The Idempotency-Key and API key rules, on an in-memory key store. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hashApiKey, newApiKey, parseBearer, sameHash } from '../../../../broker-server/http/api/api-keys';
import { HttpError } from '../../../../broker-server/http/guards/errors';
import { decide, Idempotency, parseIdempotencyKey, requestHash } from '../../../../broker-server/http/api/idempotency';
import type { PrintJob } from '../../../../broker-server/jobs/job-service';
import type { IdempotencyRecord, IdempotencyStore } from '../../../../broker-server/store/idempotency-store';
import { testLogger } from '../../../support/basics';
import { uidOf } from '../../../support/job-uids';

/** The table's primary key, as a Map: one claim per (scope, key) wins. */
class MemoryIdempotencyStore implements IdempotencyStore {
  readonly rows = new Map<string, IdempotencyRecord>();
  private id = (scope: string, key: string) => `${scope}\n${key}`;
  async claim(scope: string, key: string, requestHash: string, at: Date) {
    await Promise.resolve();
    if (this.rows.has(this.id(scope, key))) return false;
    this.rows.set(this.id(scope, key), {
      scope,
      key,
      requestHash,
      jobId: null,
      statusCode: null,
      createdAt: at.getTime(),
    });
    return true;
  }
  async get(scope: string, key: string) {
    return this.rows.get(this.id(scope, key)) ?? null;
  }
  async complete(scope: string, key: string, jobId: number, statusCode: number) {
    const row = this.rows.get(this.id(scope, key));
    if (row) Object.assign(row, { jobId, statusCode });
  }
  async release(scope: string, key: string) {
    if (this.rows.get(this.id(scope, key))?.jobId === null) this.rows.delete(this.id(scope, key));
  }
  async releaseAbandoned(scope: string, key: string, before: Date) {
    const row = this.rows.get(this.id(scope, key));
    if (!row || row.jobId !== null || row.createdAt >= before.getTime()) return false;
    return this.rows.delete(this.id(scope, key));
  }
  async prune(before: Date) {
    let n = 0;
    for (const [id, row] of this.rows) if (row.createdAt < before.getTime() && this.rows.delete(id)) n++;
    return n;
  }
}

const job = (id: number): PrintJob => ({
  id,
  uid: uidOf(id),
  printerId: 'p1',
  content: 'x',
  kind: 'message',
  status: 'pending',
  error: null,
  reprintOf: null,
  createdBy: null,
  createdAt: '',
  updatedAt: '',
  sentAt: null,
  receivedAt: null,
  printedAt: null,
  finishedAt: null,
});

function fixture(now = { t: 1_000_000 }) {
  const store = new MemoryIdempotencyStore();
  const jobs = new Map<number, PrintJob>();
  let next = 1;
  const create = async () => {
    await new Promise((resolve) => setTimeout(resolve, 5));
    const j = job(next++);
    jobs.set(j.id, j);
    return j;
  };
  const idem = new Idempotency(
    store,
    { keyMs: 24 * 3_600_000, pollMs: 1, waitMs: 1000, now: () => now.t },
    testLogger(),
  );
  return { store, jobs, create, load: async (id: number) => jobs.get(id) ?? null, idem, now };
}

test('keys: absent, 1-255 printable ASCII, the quoted form; anything else says what is wrong', () => {
  assert.deepEqual(parseIdempotencyKey(undefined), { ok: true, key: null });
  assert.deepEqual(parseIdempotencyKey('abc-123'), { ok: true, key: 'abc-123' });
  assert.deepEqual(parseIdempotencyKey('"abc"'), { ok: true, key: 'abc' });
  assert.deepEqual(parseIdempotencyKey('x'.repeat(255)), { ok: true, key: 'x'.repeat(255) });
  for (const bad of ['', '""', 'a b', 'é', 'x'.repeat(256), ['a', 'b'], 3])
    assert.equal(parseIdempotencyKey(bad).ok, false, JSON.stringify(bad));
});

test('the request hash ignores the order of fields and absent ones, not their values, the method or the path', () => {
  assert.equal(
    requestHash('post', '/print', { a: 1, b: 'x', c: undefined }),
    requestHash('POST', '/print', { b: 'x', a: 1 }),
  );
  assert.notEqual(requestHash('POST', '/print', { a: 1 }), requestHash('POST', '/print', { a: 2 }));
  assert.notEqual(requestHash('POST', '/jobs/1/reprint'), requestHash('POST', '/jobs/2/reprint'));
});

test('a key already there: replay, mismatch, in flight, or abandoned after its time', () => {
  const row: IdempotencyRecord = {
    scope: 's',
    key: 'k',
    requestHash: 'h',
    jobId: null,
    statusCode: null,
    createdAt: 0,
  };
  assert.equal(decide(row, 'other', 0, 10), 'mismatch');
  assert.equal(decide(row, 'h', 9, 10), 'in-flight');
  assert.equal(decide(row, 'h', 10, 10), 'in-flight');
  assert.equal(decide(row, 'h', 11, 10), 'abandoned');
  assert.equal(decide({ ...row, jobId: 3, statusCode: 201 }, 'h', 1e9, 10), 'replay');
});

test('concurrent requests with one key create one job; the others replay it', async () => {
  const f = fixture();
  const outcomes = await Promise.all(Array.from({ length: 10 }, () => f.idem.once('page', 'k', 'h', f.create, f.load)));
  assert.equal(f.jobs.size, 1);
  assert.deepEqual(outcomes.map((o) => o.replayed).filter(Boolean).length, 9);
  assert.ok(outcomes.every((o) => o.job.id === 1 && o.statusCode === 201));
  const other = await f.idem.once('api-key:pos', 'k', 'h', f.create, f.load);
  assert.equal(other.job.id, 2, 'another scope, another job');
  await assert.rejects(f.idem.once('page', 'k', 'different', f.create, f.load), (err: HttpError) => err.status === 422);
});

test('a failed creation releases the key; an abandoned claim is taken over; old keys are pruned', async () => {
  const f = fixture();
  await assert.rejects(f.idem.once('page', 'k', 'h', () => Promise.reject(new HttpError(422, 'no')), f.load));
  assert.equal(f.store.rows.size, 0);
  assert.equal((await f.idem.once('page', 'k', 'h', f.create, f.load)).replayed, false);

  await f.store.claim('page', 'dead', 'h', new Date(f.now.t)); // its process died before completing
  let clock = f.now.t;
  const waiting = new Idempotency(
    f.store,
    { keyMs: 24 * 3_600_000, pollMs: 1, waitMs: 20, now: () => (clock += 5) },
    testLogger(),
  );
  await assert.rejects(
    waiting.once('page', 'dead', 'h', f.create, f.load),
    (err: HttpError) => err.status === 409,
    'in flight: 409 after the wait',
  );
  f.now.t += 60_001;
  const taken = await f.idem.once('page', 'dead', 'h', f.create, f.load);
  assert.equal(taken.replayed, false);

  f.now.t += 25 * 3_600_000;
  assert.equal(await f.idem.pruneNow(), 2);
});

test('API keys: 256 random bits, hashed, Bearer parsed strictly, hashes compared in constant time', () => {
  const key = newApiKey();
  assert.match(key, /^ph_[A-Za-z0-9_-]{43}$/);
  assert.notEqual(newApiKey(), key);
  assert.match(hashApiKey(key), /^[0-9a-f]{64}$/);
  assert.ok(sameHash(hashApiKey(key), hashApiKey(key)));
  assert.ok(!sameHash(hashApiKey(key), hashApiKey(newApiKey())));
  assert.deepEqual(parseBearer(undefined), { ok: true, key: null });
  assert.deepEqual(parseBearer(`Bearer ${key}`), { ok: true, key });
  assert.deepEqual(parseBearer(`bearer  ${key}`), { ok: true, key });
  for (const bad of ['', 'Bearer', `Basic ${key}`, `Bearer ${key}x`, 'Bearer ph_short'])
    assert.equal(parseBearer(bad).ok, false, bad);
});
