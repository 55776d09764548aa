/**
 * The hand-written checks of job and ack messages (protocol/messages.ts) against the zod schemas they
 * stand in for: on many generated messages, valid and not, both accept the same ones and return the same
 * value, key for key and in the same order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ACK_STATUSES,
  checkAckMessage,
  checkJobMessage,
  MAX_CONTENT_LENGTH,
  parseAckMessage,
  parseAckMessageWithSchema,
  parseJobMessage,
  parseJobMessageWithSchema,
} from '../../protocol/messages';
import { binaryUnit } from '../support/arbitraries';
import { propertyRuns } from '../support/property-runs';

const anything = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
);
const ids = fc.oneof(
  fc.integer({ min: 1, max: 2 ** 31 }),
  fc.constantFrom(0, -1, 1.5, 2 ** 53 - 1, 2 ** 53, 1e300, -0),
  fc.double(),
  fc.string({ maxLength: 3 }),
  anything,
);
const uuid = fc.uuid();
const uids = fc.oneof(
  uuid,
  uuid.map((u) => u.toUpperCase()),
  uuid.map((u) => u.slice(1)),
  uuid.map((u) => ` ${u}`),
  uuid.map((u) => `${u}\n`),
  fc.string(),
  anything,
);
const dates = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.date({ noInvalidDate: true }).map((d) => d.toString()),
  fc.constantFrom('2026-12-06', '2026-13-45T00:00:00Z', '', 'now', '1', '2026-12-06T10:00:00+01:00'),
  fc.string({ maxLength: 12 }),
  anything,
);
/** Strings around a limit, counted in UTF-16 units and in code points (zod counts code points). */
const texts = (max: number) =>
  fc.oneof(
    fc.string({ maxLength: 20, unit: binaryUnit }),
    fc.string({ maxLength: 20, unit: 'grapheme' }),
    fc.integer({ min: max - 2, max: max + 2 }).map((n) => 'x'.repeat(n)),
    fc.integer({ min: Math.floor(max / 2) - 2, max: max + 2 }).map((n) => '😀'.repeat(n)),
    fc.integer({ min: max - 2, max: max + 2 }).map((n) => '\ud83d'.repeat(n)),
    fc.integer({ min: max - 3, max: max + 1 }).map((n) => 'é'.repeat(n) + '😀'),
    anything,
  );
const jobs = fc.oneof(
  fc.record(
    {
      id: ids,
      uid: uids,
      content: texts(MAX_CONTENT_LENGTH),
      createdAt: dates,
      kind: fc.oneof(fc.constantFrom('message', 'test', 'Test', ''), anything),
      extra: anything,
    },
    { requiredKeys: [] },
  ),
  // Mostly valid, one field at a time wrong or missing.
  fc.record(
    {
      id: fc.integer({ min: 1, max: 2 ** 31 }),
      uid: uuid,
      content: fc.string({ maxLength: 40 }),
      createdAt: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      kind: fc.constantFrom('message', 'test'),
    },
    { requiredKeys: ['id', 'content', 'createdAt'] },
  ),
  anything,
);
const acks = fc.oneof(
  fc.record(
    {
      id: ids,
      uid: uids,
      status: fc.oneof(fc.constantFrom(...ACK_STATUSES, 'printing', 'Printed'), anything),
      at: dates,
      error: texts(1000),
      printerJob: texts(128),
      extra: anything,
    },
    { requiredKeys: [] },
  ),
  fc.record(
    {
      id: fc.integer({ min: 1, max: 2 ** 31 }),
      uid: uuid,
      status: fc.constantFrom(...ACK_STATUSES),
      at: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      error: fc.string({ maxLength: 40 }),
      printerJob: fc.string({ maxLength: 40 }),
    },
    { requiredKeys: ['id', 'status', 'at'] },
  ),
  anything,
);

/**
 * 20,000 messages when the file runs alone (npm test); 2,000 in the unit suite: about 670 of each kind above
 * (built field by field from edge values, mostly valid with a field off, anything at all), still more than 200
 * accepted and 200 refused.
 */
const RUNS = propertyRuns({ full: 20_000, quick: 2_000 });

function agree(
  fast: (payload: string) => unknown,
  schema: (payload: string) => unknown,
  messages: fc.Arbitrary<unknown>,
): { accepted: number; refused: number } {
  const counts = { accepted: 0, refused: 0 };
  fc.assert(
    fc.property(messages, (message) => {
      const payload = JSON.stringify(message) ?? 'null';
      const a = fast(payload) as { ok: boolean; value?: unknown };
      const b = schema(payload);
      assert.deepEqual(a, b);
      // Same keys in the same order: the journal and the logs write the value as it is.
      assert.equal(JSON.stringify(a), JSON.stringify(b));
      counts[a.ok ? 'accepted' : 'refused']++;
    }),
    { numRuns: RUNS },
  );
  return counts;
}

test('job messages: the hand-written check and the zod schema accept the same ones and return the same value', () => {
  const counts = agree(parseJobMessage, parseJobMessageWithSchema, jobs);
  // Both sides of the rule are exercised, not only one: a tenth of the runs each at least.
  assert.ok(counts.accepted > RUNS / 10 && counts.refused > RUNS / 10, JSON.stringify(counts));
});

test('ack messages: the hand-written check and the zod schema accept the same ones and return the same value', () => {
  const counts = agree(parseAckMessage, parseAckMessageWithSchema, acks);
  assert.ok(counts.accepted > RUNS / 10 && counts.refused > RUNS / 10, JSON.stringify(counts));
});

test('the checks themselves (not the schema behind them) accept a valid message and refuse each broken field', () => {
  const job = { id: 7, uid: '0b6f81c2-1111-4222-8333-444455556666', content: 'hi', createdAt: '2026-12-06T10:00:00Z' };
  assert.deepEqual(checkJobMessage(job), job);
  for (const broken of [
    { ...job, id: 0 },
    { ...job, id: 2 ** 53 },
    { ...job, uid: job.uid.toUpperCase() },
    { ...job, content: 'x'.repeat(MAX_CONTENT_LENGTH + 1) },
    { ...job, createdAt: 'soon' },
    { ...job, kind: 'other' },
    [job],
  ])
    assert.equal(checkJobMessage(broken), null, JSON.stringify(broken).slice(0, 80));
  assert.deepEqual(
    checkJobMessage({ ...job, content: '😀'.repeat(MAX_CONTENT_LENGTH) })?.id,
    7,
    'code points, not units',
  );
  const ack = { id: 7, status: 'printed', at: '2026-12-06T10:00:00Z', extra: 1 };
  assert.deepEqual(checkAckMessage(ack), { id: 7, status: 'printed', at: ack.at });
  assert.equal(checkAckMessage({ ...ack, status: 'printing' }), null);
  assert.equal(checkAckMessage({ ...ack, printerJob: 'x'.repeat(129) }), null);
});
