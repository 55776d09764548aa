/** The journal's lines, written without building an object per line (issue 22), are JSON.stringify's, byte for byte. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ackLine, legacyKey, stateLine, type JournalState } from '../../agent/journal';
import type { AckStatus, JobMessage } from '../../protocol/messages';

const STATES: JournalState[] = ['received', 'printing', 'printed', 'failed', 'interrupted'];
const ACKS: AckStatus[] = ['received', 'printed', 'failed', 'interrupted'];

const key = fc.oneof(
  fc.uuid(),
  fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.startsWith('#')),
  fc.integer({ min: 1, max: 2 ** 31 }).map(legacyKey),
);
const id = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
const at = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => d.toISOString());
const job: fc.Arbitrary<JobMessage> = fc.record(
  {
    id,
    uid: fc.uuid(),
    content: fc.string({ unit: 'binary', maxLength: 200 }),
    createdAt: at,
    kind: fc.constantFrom('message' as const, 'test' as const),
  },
  { requiredKeys: ['id', 'content', 'createdAt'] },
);

/** What the journal wrote before: the record as an object, through JSON.stringify. */
const keyFields = (k: string, n: number) => (k.startsWith('#') ? { id: n } : { uid: k, id: n });

test('a state line is JSON.stringify of { uid, id, state, at, job?, error? }, and reads back', () => {
  fc.assert(
    fc.property(
      key,
      id,
      fc.constantFrom(...STATES),
      at,
      fc.option(job, { nil: undefined }),
      fc.option(fc.string({ unit: 'binary', maxLength: 80 }), { nil: undefined }),
      (k, n, state, when, j, error) => {
        const extra = { ...(j ? { job: j } : {}), ...(error !== undefined ? { error } : {}) };
        const expected =
          JSON.stringify({
            ...keyFields(k, n),
            state,
            at: when,
            ...(extra.job ? { job: extra.job } : {}),
            ...(extra.error ? { error: extra.error } : {}),
          }) + '\n';
        const line = stateLine(k, n, state, when, extra);
        assert.equal(line, expected);
        assert.deepEqual(JSON.parse(line), JSON.parse(expected));
      },
    ),
    { numRuns: 500 },
  );
});

test('an ack line is JSON.stringify of { uid, id, acked }', () => {
  fc.assert(
    fc.property(key, id, fc.constantFrom(...ACKS), (k, n, status) => {
      assert.equal(ackLine(k, n, status), JSON.stringify({ ...keyFields(k, n), acked: status }) + '\n');
    }),
    { numRuns: 300 },
  );
});
