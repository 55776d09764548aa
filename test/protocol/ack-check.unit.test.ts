/** The hand-written ack check (protocol/messages.ts's checkAckMessage, used by the server and the agent) against the zod schema it stands for; and the acks topic cache. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import fc from 'fast-check';
import { printerOfAckTopic } from '../../broker-server/jobs/ack-topics';
import {
  ACK_STATUSES,
  ackMessageSchema,
  checkAckMessage as checkAck,
  parseAckMessage as parseAck,
  parseAckMessageWithSchema as parseAckMessage,
} from '../../protocol/messages';
import { topics } from '../../protocol/topics';
import { propertyRuns } from '../support/property-runs';

/** Values near each field's edges, valid and not, mixed with anything at all. */
const anything = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.object({ maxDepth: 1 }),
);
const idLike = fc.oneof(
  fc.integer({ min: -2, max: 2 ** 31 }),
  fc.constantFrom(0, -0, 1.5, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 1e300, Infinity, -Infinity, NaN, '1'),
  anything,
);
const uidLike = fc.oneof(
  fc.constant(undefined),
  fc.uuid(),
  fc.constant(randomUUID()),
  fc.constant(randomUUID().toUpperCase()),
  fc.constant(randomUUID() + ' '),
  fc.constant('\n' + randomUUID()),
  anything,
);
const statusLike = fc.oneof(fc.constantFrom(...ACK_STATUSES, 'printing', 'Printed', ''), anything);
const atLike = fc.oneof(
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2026-12-06', 'Sun, 06 Dec 2026 12:00:00 GMT', 'not a date', '', '2026-13-45T00:00:00Z', '0'),
  anything,
);
const textLike = (max: number) =>
  fc.oneof(
    fc.constant(undefined),
    fc.string({ maxLength: 20 }),
    fc.constantFrom(
      'x'.repeat(max),
      'x'.repeat(max + 1),
      'é'.repeat(max),
      '😀'.repeat(max / 2 + 1),
      '😀'.repeat(max),
      '😀'.repeat(max + 1),
      '\ud83d'.repeat(max + 1),
      '😀'.repeat(max - 1) + 'xx',
    ),
    anything,
  );
const ackLike = fc
  .record(
    {
      id: idLike,
      uid: uidLike,
      status: statusLike,
      at: atLike,
      error: textLike(1000),
      printerJob: textLike(128),
      extra: anything,
    },
    { requiredKeys: [] },
  )
  .map((o) => JSON.parse(JSON.stringify(o)) as unknown); // as it arrives: JSON, no undefined

/** 5,000 alone (npm test); 1,000 in the unit suite: about half of them ack-like records with edge values in every field. */
const RUNS = propertyRuns({ full: 5_000, quick: 1_000 });

test('the hand-written ack check accepts what the zod schema accepts, and returns the same value', () => {
  fc.assert(
    fc.property(fc.oneof(ackLike, anything), (value) => {
      const zod = ackMessageSchema.safeParse(value);
      const fast = checkAck(value);
      if (zod.success) assert.deepEqual(fast, zod.data);
      else assert.equal(fast, null, `zod refuses ${JSON.stringify(value)}: ${zod.error.issues[0]?.message}`);
    }),
    { numRuns: RUNS },
  );
});

test('parseAck answers as parseAckMessage: the same value, or the same refusal in the same words', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        ackLike.map((v) => JSON.stringify(v)),
        fc.string(),
        fc.constant('x'.repeat(70_000)),
      ),
      (text) => {
        assert.deepEqual(parseAck(Buffer.from(text)), parseAckMessage(Buffer.from(text)));
      },
    ),
    { numRuns: RUNS },
  );
});

test('the printer of an acks topic, and null for any other topic', () => {
  assert.equal(printerOfAckTopic(topics.acks('p-1')), 'p-1');
  assert.equal(printerOfAckTopic(topics.acks('p-1')), 'p-1', 'the same from the cache');
  assert.equal(printerOfAckTopic(topics.jobs('p-1')), null);
  assert.equal(printerOfAckTopic('printers/bad id/acks'), null);
  assert.equal(printerOfAckTopic('printers/p1/acks/more'), null);
  for (let i = 0; i < 5000; i++) assert.equal(printerOfAckTopic(topics.acks(`p${i}`)), `p${i}`);
});
