/**
 * POST /print's hand-written body check (http/api/validation.ts `checkPrintRequest`) against the zod schema it
 * stands in for (`PrintRequest`, which GET /openapi.json describes): on many generated bodies, valid and not,
 * both accept the same ones and return the same value (keys, their order, an empty printerId as undefined), and
 * `validatePrintRequest` answers what the schema alone answers, error messages and French included.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAX_CONTENT_LENGTH } from '../../../../protocol/messages';
import {
  check,
  checkPrintRequest,
  PrintRequest,
  validatePrintRequest,
} from '../../../../broker-server/http/api/validation';
import { binaryUnit } from '../../../support/arbitraries';
import { propertyRuns } from '../../../support/property-runs';

const anything = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 6 }),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
);

/** Around each rule: blank, invisible-only, lone surrogates, code points against UTF-16 units at the limit. */
const contents = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ maxLength: 12, unit: binaryUnit }),
  fc.string({ maxLength: 8, unit: 'grapheme' }),
  fc.constantFrom('', ' ', '\n\t ', '\u200b', '\u2800', '\ufffc', '\u00ad\u034f', '\x1b\x07', 'a\ud800', '\udc00'),
  fc.constantFrom('Hello world', ' x ', 'é', '😀', '\u200bx', 'x\u0000', '\u3000'),
  fc.integer({ min: MAX_CONTENT_LENGTH - 2, max: MAX_CONTENT_LENGTH + 2 }).map((n) => 'x'.repeat(n)),
  fc.integer({ min: MAX_CONTENT_LENGTH / 2 - 2, max: MAX_CONTENT_LENGTH + 2 }).map((n) => '😀'.repeat(n)),
  fc.integer({ min: MAX_CONTENT_LENGTH - 3, max: MAX_CONTENT_LENGTH + 1 }).map((n) => 'é'.repeat(n) + '😀'),
  fc.integer({ min: MAX_CONTENT_LENGTH - 2, max: MAX_CONTENT_LENGTH + 1 }).map((n) => ' '.repeat(n) + 'a'),
  anything,
);
const printerIds = fc.oneof(
  fc.constantFrom('', 'printer-1', 'P_2', 'a'.repeat(64), 'a'.repeat(65), 'bad id', 'é', '-', 'x\n'),
  fc.stringMatching(/^[A-Za-z0-9_-]{0,66}$/),
  fc.string({ maxLength: 8 }),
  anything,
);
const bodies = fc.oneof(
  fc.record(
    { content: contents, printerId: printerIds, idempotencyKey: anything, extra: anything },
    { requiredKeys: [] },
  ),
  // Mostly valid, printerId present or not, in either order (the answer's order is the schema's, not the body's).
  fc.record(
    { printerId: fc.stringMatching(/^[A-Za-z0-9_-]{0,8}$/), content: fc.string({ minLength: 1, maxLength: 40 }) },
    { requiredKeys: ['content'] },
  ),
  // What a form gives (body-parser's objects have no prototype), and objects that are not plain.
  fc
    .record({ content: contents, printerId: printerIds }, { requiredKeys: [] })
    .map((fields) => Object.assign(Object.create(null) as object, fields)),
  fc.constantFrom(
    new Date(0),
    new Map([['content', 'x']]),
    [{ content: 'x' }],
    Object.create({ content: 'inherited' }),
  ),
  anything,
  fc.constant(undefined),
);

/** 5,000 bodies alone (npm test); 600 in the unit suite, still more than 60 accepted and 60 refused. */
const RUNS = propertyRuns({ full: 5_000, quick: 600 });

test('the hand-written check and the zod schema accept the same bodies and return the same value', () => {
  const counts = { accepted: 0, refused: 0 };
  fc.assert(
    fc.property(bodies, (body) => {
      const fast = checkPrintRequest(body);
      const schema = PrintRequest.safeParse(body);
      if (schema.success) {
        assert.notEqual(fast, null, 'the schema accepts it');
        assert.deepStrictEqual(fast, schema.data);
        assert.deepEqual(Object.keys(fast!), Object.keys(schema.data));
        counts.accepted++;
      } else {
        assert.equal(fast, null, `the schema refuses it: ${schema.error.issues[0]!.message}`);
        counts.refused++;
      }
      // What the route uses: the same answer as the schema alone, errors and their French included.
      const answered = validatePrintRequest(body);
      const reference = check(PrintRequest, body);
      if (!reference.ok && reference.field === 'content' && reference.error === '"content" is required')
        reference.errorFr = 'Le message est vide : tapez un texte à imprimer.';
      assert.deepStrictEqual(answered, reference);
    }),
    { numRuns: RUNS },
  );
  assert.ok(counts.accepted > RUNS / 10 && counts.refused > RUNS / 10, JSON.stringify(counts));
});

test('the check itself (not the schema behind it) accepts a valid body and refuses each broken field', () => {
  assert.deepStrictEqual(checkPrintRequest({ content: 'hi', printerId: 'printer-1', other: 1 }), {
    content: 'hi',
    printerId: 'printer-1',
  });
  assert.deepStrictEqual(checkPrintRequest({ content: 'hi' }), { content: 'hi' });
  assert.deepStrictEqual(checkPrintRequest({ content: 'hi', printerId: '' }), { content: 'hi', printerId: undefined });
  assert.deepStrictEqual(checkPrintRequest({ content: '😀'.repeat(MAX_CONTENT_LENGTH) })?.content.length, 8000);
  for (const broken of [
    { content: '' },
    { content: ' \n' },
    { content: '\u200b\u2800' },
    { content: 'a\ud800' },
    { content: 'x'.repeat(MAX_CONTENT_LENGTH + 1) },
    { content: 7 },
    { printerId: 'printer-1' },
    { content: 'hi', printerId: 'bad id' },
    { content: 'hi', printerId: null },
    { content: 'hi', printerId: 'a'.repeat(65) },
    [{ content: 'hi' }],
    null,
    'hi',
  ])
    assert.equal(checkPrintRequest(broken), null, JSON.stringify(broken)?.slice(0, 60));
});
