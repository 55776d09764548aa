import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import { renderReceipt } from '../../agent/receipt';
import { escapeHtml } from '../../broker-server/http/page/html';
import { validatePrintRequest } from '../../broker-server/http/api/validation';
import { CODE_PAGE_NAMES, CODE_PAGES } from '../../protocol/codepages';
import { ACK_STATUSES, MAX_CONTENT_LENGTH, parseAckMessage, parseJobMessage } from '../../protocol/messages';
import { layoutReceipt, sanitizeContent, wrapLine } from '../../protocol/receipt-layout';
import { binaryUnit } from '../support/arbitraries';
import { propertyRuns } from '../support/property-runs';

/** ESC/POS commands a hostile message could carry, C1 controls and the characters that need care. */
const ESCPOS_FRAGMENTS = [
  '\x1b@', // reset
  '\x1bp\x00\x19\xfa',
  '\x10\x14\x01\x00\x05', // cash drawer kick (ESC p, DLE DC4)
  '\x1dV\x00',
  '\x1dVA\x10',
  '\x1bi',
  '\x1bm', // cuts
  '\x1bt\x01',
  '\x1bR\x01',
  '\x1c&',
  '\x1c.',
  '\x1cC\x01', // code page, character set, Kanji mode
  '\x1b!\x30',
  '\x1d!\x77',
  '\x1bd\xff',
  '\x1dk\x04',
  '\x1cp\x01\x00',
  '\x1d(k\x03\x00', // size, feed, barcode, logo, QR
  '\x9b',
  '\x85',
  '\x8d',
  '\x7f',
  '\x00',
  '\r\n',
  '\r',
  '\t',
  '\n',
  '\u2028',
  '\u2029',
  '\u200b',
  '\ufeff',
  '\u00ad',
  'é',
  '€',
  'œ',
  '’',
  '日本',
  'e\u0301',
  '⌂',
  '☺',
  '♪',
  '\u{1F600}',
  '\ud800',
];
const hostileText = fc
  .array(
    fc.oneof(
      fc.string({ unit: binaryUnit, maxLength: 12 }),
      fc.constantFrom(...ESCPOS_FRAGMENTS),
      fc.string({ maxLength: 60 }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => parts.join(''));

const EXPECTED_COMMANDS = (codePage: keyof typeof CODE_PAGES) => [
  'ESC @',
  'FS .',
  `ESC t ${CODE_PAGES[codePage].escT}`,
  'GS V 0',
];
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f]/;

test('property: the receipt never throws, and its bytes hold no command but the agent’s own, whatever the content', () => {
  fc.assert(
    fc.property(
      hostileText,
      fc.constantFrom(...CODE_PAGE_NAMES),
      fc.integer({ min: 16, max: 255 }),
      (content, codePage, columns) => {
        const createdAt = '2026-03-04T05:06:00Z';
        for (const line of layoutReceipt({ content, createdAt }, { columns, codePage })) {
          assert.doesNotMatch(line, CONTROL);
          assert.ok(!line.includes('\t'));
          assert.ok([...line].length <= columns);
        }
        const decoded = decodeEscPos(renderReceipt({ content, createdAt }, { columns, codePage }));
        assert.deepEqual(decoded.unexpected, []);
        assert.equal(decoded.receipts.length, 1);
        assert.deepEqual(decoded.receipts[0]!.commands, EXPECTED_COMMANDS(codePage));
        assert.ok(decoded.receipts[0]!.lines.every((l) => [...l].length <= columns));
      },
    ),
    // The unit suite: 100, each of the 6 code pages about 16 times, with up to 40 hostile fragments each.
    { numRuns: propertyRuns({ full: 300, quick: 100 }) },
  );
});

test('property: sanitizing keeps only newlines and printable characters of the code page', () => {
  fc.assert(
    fc.property(hostileText, fc.constantFrom(...CODE_PAGE_NAMES), (content, codePage) => {
      const clean = sanitizeContent(content, codePage);
      assert.doesNotMatch(clean.replaceAll('\n', ''), /[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]/);
      assert.equal(sanitizeContent(clean, codePage), clean, 'idempotent');
    }),
  );
});

test('property: plain ASCII text is kept as it is by the sanitizer, in every code page (its fast path)', () => {
  const plain = fc.string({
    unit: fc.constantFrom(...' \n\tabcXYZ019~`!@#$%^&*()_+-=[]{};:\'",.<>/?\\|'),
    maxLength: 200,
  });
  fc.assert(
    fc.property(plain, fc.constantFrom(...CODE_PAGE_NAMES), (content, codePage) => {
      assert.equal(sanitizeContent(content, codePage), content);
    }),
  );
});

/** wrapLine as it was written before its fast path (character by character): the reference. */
function wrapLineReference(line: string, columns: number): string[] {
  let expanded = '';
  for (const char of line) expanded += char === '\t' ? ' '.repeat(4 - (expanded.length % 4)) : char;
  const chars = [...expanded.trimEnd()];
  if (chars.length === 0) return [''];
  const lines: string[] = [];
  let start = 0;
  while (chars.length - start > columns) {
    let cut = -1;
    for (let i = start + columns; i > start; i--) {
      if (chars[i] === ' ') {
        cut = i;
        break;
      }
    }
    if (cut === -1) {
      lines.push(chars.slice(start, start + columns).join(''));
      start += columns;
    } else {
      lines.push(chars.slice(start, cut).join('').trimEnd());
      start = cut;
      while (chars[start] === ' ') start++;
    }
  }
  if (start < chars.length) lines.push(chars.slice(start).join(''));
  return lines;
}

test('property: word wrap gives what the character-by-character wrap gave, for any line and width', () => {
  const line = fc.oneof(
    fc.string({ unit: fc.constantFrom('a', 'b', ' ', '\t', 'é', '\u{1F600}', '\u3000'), maxLength: 120 }),
    fc.string({ maxLength: 120 }),
  );
  fc.assert(
    fc.property(line, fc.integer({ min: 1, max: 64 }), (text, columns) => {
      assert.deepEqual(wrapLine(text, columns), wrapLineReference(text, columns));
    }),
    { numRuns: 500 },
  );
});

test('property: validatePrintRequest never throws; what it accepts is a non-blank string of at most 4,000 characters, which the agent accepts too', () => {
  const body = fc.oneof(
    fc.anything({
      withBigInt: true,
      withBoxedValues: true,
      withMap: true,
      withSet: true,
      withNullPrototype: true,
      withDate: true,
      withTypedArray: true,
      withSparseArray: true,
    }),
    fc.record(
      {
        content: fc.oneof(
          hostileText,
          fc.string({ unit: binaryUnit, minLength: 3990, maxLength: 4010 }),
          fc.string({ unit: fc.constant('\u{1F600}'), minLength: 3990, maxLength: 4010 }),
          fc.anything(),
        ),
        printerId: fc.oneof(fc.string(), fc.anything()),
      },
      { requiredKeys: [] },
    ),
    fc.dictionary(fc.constantFrom('content', 'printerId', '__proto__', 'constructor', 'toString'), fc.anything()),
  );
  fc.assert(
    fc.property(body, (input) => {
      const result = validatePrintRequest(input);
      if (!result.ok) {
        assert.equal(typeof result.error, 'string');
        return;
      }
      assert.equal(typeof result.value.content, 'string');
      assert.ok(result.value.content.trim() !== '');
      assert.ok([...result.value.content].length <= MAX_CONTENT_LENGTH);
      if (result.value.printerId !== undefined) assert.match(result.value.printerId, /^[A-Za-z0-9_-]{1,64}$/);
      // What the page accepts, the agent accepts too: no job can be stuck as "malformed" on its way.
      assert.ok(
        parseJobMessage(
          JSON.stringify({
            id: 1,
            uid: randomUUID(),
            content: result.value.content,
            createdAt: new Date().toISOString(),
          }),
        ).ok,
      );
    }),
    // The unit suite: 150, about 50 of each kind of body (anything, a record near the limits, a dictionary of the keys).
    { numRuns: propertyRuns({ full: 500, quick: 150 }) },
  );
});

test('property: parseAckMessage never throws, and what it accepts is a well-formed ack', () => {
  const ackLike = fc.record(
    {
      id: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.constant(null), fc.maxSafeNat()),
      uid: fc.oneof(
        fc.uuid(),
        fc.uuid().map((u) => u.toUpperCase()),
        fc.string(),
        fc.integer(),
      ),
      status: fc.oneof(fc.constantFrom(...ACK_STATUSES), fc.string()),
      at: fc.oneof(
        fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
        fc.string(),
        fc.integer(),
      ),
      error: fc.oneof(fc.string({ maxLength: 1200 }), fc.anything()),
    },
    { requiredKeys: [] },
  );
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 2000 }).map((a) => Buffer.from(a)),
    fc.string({ unit: binaryUnit }),
    fc.jsonValue().map((v) => JSON.stringify(v) ?? 'null'),
    ackLike.map((a) => JSON.stringify(a)),
    fc.integer({ min: 60_000, max: 70_000 }).map((n) => Buffer.alloc(n, 0x20)),
  );
  fc.assert(
    fc.property(payload, (input) => {
      const result = parseAckMessage(input);
      if (!result.ok) return assert.equal(typeof result.error, 'string');
      const ack = result.value;
      assert.ok(Number.isSafeInteger(ack.id) && ack.id > 0);
      // A uid is matched as text by the database: only the one spelling the server makes is taken.
      assert.ok(ack.uid === undefined || /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(ack.uid));
      assert.ok((ACK_STATUSES as readonly string[]).includes(ack.status));
      assert.ok(!Number.isNaN(Date.parse(ack.at)));
      assert.ok(ack.error === undefined || (typeof ack.error === 'string' && ack.error.length <= 1000));
    }),
    // The unit suite: 200, about 40 of each of the 5 kinds of payload.
    { numRuns: propertyRuns({ full: 500, quick: 200 }) },
  );
});

test('property: escaped HTML holds no markup character of the value', () => {
  fc.assert(
    fc.property(fc.string({ unit: binaryUnit }), (value) => {
      assert.doesNotMatch(escapeHtml(value), /[<>"']/);
    }),
  );
});
