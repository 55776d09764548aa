import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import escpos, { type Adapter } from 'escpos';
import iconv from 'iconv-lite';
import { jobBytes, layoutJob, renderJob, renderLines, renderReceipt } from '../../agent/receipt';
import fc from 'fast-check';
import { loadAgentConfig } from '../../config';
import { canEncode, CODE_PAGE_NAMES, CODE_PAGES, type CodePageName, encodeInto } from '../../protocol/codepages';
import {
  formatReceiptDate,
  layoutBody,
  layoutReceipt,
  layoutTestReceipt,
  PAPER_PRESETS,
  sanitizeContent,
  wrapLine,
} from '../../protocol/receipt-layout';
import { binaryUnit } from '../support/arbitraries';
import { propertyRuns } from '../support/property-runs';

const createdAt = '2026-03-04T05:06:00Z';

test('the layout is the specified one: rule, title, blank, content, blank, date in local time, rule', () => {
  const lines = layoutReceipt({ content: 'Hello world', createdAt }, { columns: 24, timeZone: 'Europe/Paris' });
  assert.deepEqual(lines, [
    '-'.repeat(24),
    'MESSAGE À IMPRIMER',
    '',
    'Hello world',
    '',
    'Date: 2026-03-04 06:06',
    '-'.repeat(24),
  ]);
  assert.equal(formatReceiptDate(new Date('2026-12-31T23:59:00Z'), 'America/New_York'), '2026-12-31 18:59');
});

test('word wrap never splits a word shorter than a line, splits longer ones, and keeps blank lines', () => {
  assert.deepEqual(wrapLine('aaa bbb ccc', 7), ['aaa bbb', 'ccc']);
  assert.deepEqual(wrapLine('abcdefghij', 4), ['abcd', 'efgh', 'ij']);
  assert.deepEqual(wrapLine('a\tb', 10), ['a   b']);
  assert.deepEqual(wrapLine('   ', 10), ['']);
  const lines = layoutReceipt({ content: 'un\n\ndeux', createdAt }, { columns: 32 });
  assert.deepEqual(lines.slice(3, 6), ['un', '', 'deux']);
  const long = layoutReceipt({ content: 'mot '.repeat(500) + 'x'.repeat(200), createdAt }, { columns: 32 });
  assert.ok(long.every((l) => l.length <= 32));
});

test('control characters in content never become printer commands', () => {
  const hostile = [
    'drawer \x1bp\x00\x19\xfa kick', // ESC p: cash drawer
    'cut \x1dV\x00 now', // GS V: cut
    'page \x1bt\x01 switch', // ESC t: code page
    'reset \x1b@ printer', // ESC @
    'dle \x10\x04\x01 fs \x1c& c1 \u0085\u009b end',
  ].join('\n');
  const clean = sanitizeContent(hostile);
  assert.doesNotMatch(clean, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  for (const codePage of CODE_PAGE_NAMES) {
    const decoded = decodeEscPos(renderReceipt({ content: hostile, createdAt }, { columns: 48, codePage }));
    assert.deepEqual(decoded.unexpected, [], codePage);
    assert.equal(decoded.receipts.length, 1, 'one ESC @ only: the one the agent sends');
    const receipt = decoded.receipts[0]!;
    assert.deepEqual(receipt.commands, [
      'ESC @',
      'FS .',
      `ESC t ${({ PC437: 0, PC850: 2, PC860: 3, PC863: 4, WPC1252: 16, PC858: 19 } as Record<string, number>)[codePage]}`,
      'GS V 0',
    ]);
    assert.ok(receipt.text.includes('drawer p') && receipt.text.includes('kick'), receipt.text);
  }
});

test('accents print in the code page; characters it lacks get a stand-in or ?', () => {
  const bytes = renderReceipt(
    { content: 'Crème brûlée à 5 € — œuf “x” …', createdAt },
    { columns: 48, codePage: 'PC858' },
  );
  const receipt = decodeEscPos(bytes).receipts[0]!;
  assert.equal(receipt.codePage, 'PC858');
  assert.equal(receipt.lines[3], 'Crème brûlée à 5 € - oeuf "x" ...');
  const pc437 = decodeEscPos(renderReceipt({ content: '5 € 日本', createdAt }, { columns: 48, codePage: 'PC437' }))
    .receipts[0]!;
  assert.equal(pc437.lines[3], '5 EUR ??');
  assert.equal(sanitizeContent('Cafe\u0301'), 'Café', 'NFC');
});

test('a cash-drawer kick, a cut, a code-page switch and a reset in the content reach the printer as text, never as commands', () => {
  const count = (bytes: Buffer, seq: number[]) => {
    let n = 0;
    for (let i = bytes.indexOf(Buffer.from(seq)); i !== -1; i = bytes.indexOf(Buffer.from(seq), i + 1)) n++;
    return n;
  };
  const ESC = 0x1b,
    GS = 0x1d,
    DLE = 0x10,
    FS = 0x1c;
  const attacks = [
    { name: 'drawer kick ESC p', content: 'Tiroir \x1bp\x00\x19\xfa ouvert', forbidden: [[ESC, 0x70]] },
    { name: 'real-time drawer kick DLE DC4', content: 'Tiroir \x10\x14\x01\x00\x05 ouvert', forbidden: [[DLE, 0x14]] },
    {
      name: 'cut GS V / ESC i / ESC m',
      content: 'Coupe \x1dV\x00 \x1dVA\x10 \x1bi \x1bm ici',
      forbidden: [
        [ESC, 0x69],
        [ESC, 0x6d],
      ],
    },
    {
      name: 'code-page switch ESC t / ESC R / FS &',
      content: 'Page \x1bt\x01 \x1bR\x08 \x1c& \x1cC\x01 changée',
      forbidden: [
        [ESC, 0x52],
        [FS, 0x26],
        [FS, 0x43],
      ],
    },
    { name: 'printer reset ESC @ (and C1 CSI)', content: 'Remise \x1b@ \u009b2J à zéro', forbidden: [] },
  ];
  for (const attack of attacks) {
    const bytes = renderReceipt({ content: attack.content, createdAt }, { columns: 48, codePage: 'PC858' });
    for (const seq of attack.forbidden)
      assert.equal(count(bytes, seq), 0, `${attack.name}: ${Buffer.from(seq).toString('hex')}`);
    assert.equal(count(bytes, [ESC, 0x40]), 1, `${attack.name}: only the agent's own ESC @`);
    assert.equal(bytes.indexOf(Buffer.from([ESC, 0x40])), 0);
    assert.equal(count(bytes, [ESC, 0x74]), 1, `${attack.name}: only the agent's own ESC t`);
    assert.equal(count(bytes, [GS, 0x56]), 1, `${attack.name}: only the agent's own cut`);
    assert.equal(
      bytes.lastIndexOf(Buffer.from([GS, 0x56])),
      bytes.length - 3,
      `${attack.name}: the cut is the last command`,
    );
    assert.ok(
      ![...bytes].some((b, i) => b === DLE || (b === ESC && ![0x40, 0x74].includes(bytes[i + 1]!))),
      attack.name,
    );
    const decoded = decodeEscPos(bytes);
    assert.deepEqual(decoded.unexpected, [], attack.name);
    assert.deepEqual(decoded.receipts[0]!.commands, ['ESC @', 'FS .', 'ESC t 19', 'GS V 0'], attack.name);
  }
  const text = (content: string) =>
    decodeEscPos(renderReceipt({ content, createdAt }, { columns: 48, codePage: 'PC858' })).receipts[0]!.lines[3];
  assert.equal(
    text('Tiroir \x1bp\x00\x19\xfa ouvert'),
    'Tiroir p\u00fa ouvert',
    'the printable leftovers are plain text',
  );
  assert.equal(text('Remise \x1b@ \u009b2J à zéro'), 'Remise @ 2J à zéro');
});

/** The bytes each code page must give `éàçêô€œ`, from the printers' own code tables (- : not in the table). */
const FRENCH = 'éàçêô€œ';
const EXPECTED: Record<CodePageName, { escT: number; bytes: string; text: string }> = {
  PC437: { escT: 0, bytes: '82 85 87 88 93 45 55 52 6f 65', text: 'éàçêôEURoe' },
  PC850: { escT: 2, bytes: '82 85 87 88 93 45 55 52 6f 65', text: 'éàçêôEURoe' },
  PC860: { escT: 3, bytes: '82 85 87 88 93 45 55 52 6f 65', text: 'éàçêôEURoe' },
  PC863: { escT: 4, bytes: '82 85 87 88 93 45 55 52 6f 65', text: 'éàçêôEURoe' },
  WPC1252: { escT: 16, bytes: 'e9 e0 e7 ea f4 80 9c', text: 'éàçêô€œ' },
  PC858: { escT: 19, bytes: '82 85 87 88 93 d5 6f 65', text: 'éàçêô€oe' },
};
const hexOf = (b: Buffer) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

test('each code page and each paper width: ESC @, FS ., ESC t n, the table’s own bytes, lines within the width, a cut', () => {
  const sentence = `${FRENCH}\nLe garçon a mangé une crème brûlée très sucrée à côté de l’église, où il pleuvait encore.\n\tTabulé\n\n\n\n\nfin`;
  for (const codePage of CODE_PAGE_NAMES) {
    for (const columns of [PAPER_PRESETS['58mm'], PAPER_PRESETS['80mm-42'], PAPER_PRESETS['80mm']]) {
      const what = `${codePage} at ${columns} columns`;
      const bytes = renderReceipt({ content: sentence, createdAt }, { columns, codePage, timeZone: 'UTC' });
      const expected = EXPECTED[codePage];
      // Exact prefix: ESC @, FS ., ESC t n, then the rule.
      assert.equal(
        hexOf(bytes.subarray(0, 7)),
        `1b 40 1c 2e 1b 74 ${expected.escT.toString(16).padStart(2, '0')}`,
        what,
      );
      assert.ok(
        bytes.includes(
          Buffer.from(
            `\n${expected.bytes
              .split(' ')
              .map((h) => String.fromCharCode(parseInt(h, 16)))
              .join('')}\n`,
            'latin1',
          ),
        ),
        `${what}: ${hexOf(bytes)}`,
      );
      assert.equal(hexOf(bytes.subarray(-3)), '1d 56 00', `${what}: ends with a full cut`);
      const decoded = decodeEscPos(bytes);
      assert.deepEqual(decoded.unexpected, [], what);
      const receipt = decoded.receipts[0]!;
      assert.equal(receipt.codePage, codePage);
      assert.ok(
        receipt.lines.every((l) => [...l].length <= columns),
        `${what}:\n${receipt.text}`,
      );
      assert.equal(receipt.lines[0], '-'.repeat(columns));
      assert.equal(receipt.lines[3], expected.text, what);
      const body = receipt.lines.slice(4, receipt.lines.indexOf('fin') + 1);
      // Words are never split: joined back with spaces, the sentence is whole.
      const sentenceLines = body.slice(
        0,
        body.indexOf('    Tabule') === -1 ? body.indexOf('    Tabulé') : body.indexOf('    Tabule'),
      );
      assert.match(
        sentenceLines.join(' '),
        /^Le gar.on a mang. une cr.me br.l.e tr.s sucr.e . c.t. de l..glise, o. il pleuvait encore\.$/,
        what,
      );
      assert.ok(sentenceLines.length >= 2, what);
      // The tab became spaces up to the next stop; four empty lines became two.
      assert.deepEqual(body.slice(sentenceLines.length), ['    Tabulé', '', '', 'fin'], what);
    }
  }
});

test('widths: 58mm is 32 columns, 80mm 48, 80mm-42 (TM-T88V) 42, or any explicit count; a word longer than a line is split, others never', () => {
  assert.equal(loadAgentConfig({ PAPER_COLUMNS: '58mm' }).columns, 32);
  assert.equal(loadAgentConfig({ PAPER_COLUMNS: '80mm' }).columns, 48);
  assert.equal(loadAgentConfig({ PAPER_COLUMNS: '80mm-42' }).columns, 42);
  assert.equal(loadAgentConfig({ PAPER_COLUMNS: '40' }).columns, 40);
  assert.throws(() => loadAgentConfig({ PAPER_COLUMNS: '100mm' }), /PAPER_COLUMNS="100mm"/);
  const url = 'https://example.com/' + 'a'.repeat(80);
  for (const columns of [32, 42, 48]) {
    const lines = layoutBody(`voir ${url} merci`, columns);
    assert.equal(lines[0], 'voir');
    assert.equal(lines.slice(1, -1).join(''), url.slice(0, lines.slice(1, -1).join('').length));
    assert.ok(lines.every((l) => l.length <= columns));
    assert.ok(
      lines.slice(1, -2).every((l) => l.length === columns),
      'a long word fills whole lines',
    );
  }
  // 4,000 characters of one word, or of words: never wider than the paper.
  const random = fc.array(fc.constantFrom('a', 'é', ' ', '\t', '\n', 'mot', '€', '—', '\u00a0', 'ﬁ', '日'), {
    maxLength: 400,
  });
  fc.assert(
    fc.property(
      random,
      fc.constantFrom(...CODE_PAGE_NAMES),
      fc.integer({ min: 16, max: 64 }),
      (parts, codePage, columns) => {
        const lines = layoutReceipt({ content: parts.join(''), createdAt }, { columns, codePage });
        return lines.every((l) => [...l].length <= columns && !/[\t\n]/.test(l));
      },
    ),
  );
});

test('transliteration: typographic characters get stand-ins in every code page; only what has none becomes ?', () => {
  const cases: Array<[string, string]> = [
    ['œ Œ æ ß ẞ', 'oe OE æ ß SS'],
    ['‘a’ “b” «c» ‹d›', `'a' "b" «c» <d>`],
    ['a–b—c…', 'a-b-c...'],
    ['1\u00a02\u202f3\u20094', '1 2 3 4'],
    ['ﬁn Ａ ① ⁴', 'fin A 1 4'],
    ['Łódź őz', 'Lódz oz'],
    ['q\u0303', 'q'],
    ['日本 😀 Ж', '?? ? ?'],
  ];
  for (const [input, expected] of cases) assert.equal(sanitizeContent(input, 'PC437'), expected, input);
  assert.equal(sanitizeContent('5 € — œ', 'WPC1252'), '5 € — œ', 'WPC1252 has them all');
  assert.equal(sanitizeContent('5 € — œ', 'PC858'), '5 € - oe');
  assert.equal(sanitizeContent('Cafe\u0301 e\u0301te\u0301', 'PC850'), 'Café été', 'NFC first');
});

/** The bytes as escpos 2.5 built them before (agent/receipt.ts up to stop 27): the reference the table encoder must match. */
function escposBytes(lines: string[], codePageName: CodePageName): Buffer {
  const codePage = CODE_PAGES[codePageName];
  const chunks: Buffer[] = [];
  const adapter = {
    open: () => adapter,
    write: (data: Buffer) => (chunks.push(Buffer.from(data)), adapter),
    close: () => adapter,
  };
  const printer = new escpos.Printer(adapter as unknown as Adapter, { encoding: codePage.iconv });
  printer
    .hardware('init')
    .print(Buffer.from([0x1c, 0x2e]))
    .print(Buffer.from([0x1b, 0x74, codePage.escT]));
  for (const line of lines) printer.text(line);
  printer.cut(false, 4);
  printer.flush();
  return Buffer.concat(chunks);
}

test('the code-page tables encode every UTF-16 unit as iconv-lite does, and say which characters have a byte', () => {
  for (const name of CODE_PAGE_NAMES) {
    const codePage = CODE_PAGES[name];
    let all = '';
    for (let unit = 0; unit < 65536; unit++) all += String.fromCharCode(unit);
    const mine = Buffer.alloc(all.length);
    encodeInto(codePage, all, mine, 0);
    assert.ok(mine.equals(iconv.encode(all, codePage.iconv)), `${name}: every unit`);
    for (const char of [...'aé€œ😀\u0000?\ufffd', ...all.slice(0, 0x3000)])
      assert.equal(
        canEncode(codePage, char),
        iconv.decode(iconv.encode(char, codePage.iconv), codePage.iconv) === char,
        `${name}: ${JSON.stringify(char)}`,
      );
  }
});

test('receipts are byte for byte what escpos made of the same lines, for generated contents in every code page and width', () => {
  const at = '2026-12-06T10:00:00Z';
  fc.assert(
    fc.property(
      fc.oneof(fc.string({ unit: binaryUnit, maxLength: 300 }), fc.string({ unit: 'grapheme', maxLength: 300 })),
      fc.constantFrom(...CODE_PAGE_NAMES),
      fc.constantFrom(32, 42, 48, 13),
      fc.constantFrom('message', 'test'),
      (content, codePage, columns, kind) => {
        const options = { columns, codePage, timeZone: 'Europe/Paris' };
        const job = { content, createdAt: at, kind: kind as 'message' | 'test' };
        const lines =
          kind === 'test'
            ? layoutTestReceipt({ printerId: 'p1', agentVersion: '0.1.0', printer: 'file:x', createdAt: at }, options)
            : layoutReceipt(job, options);
        const expected = escposBytes(lines, codePage);
        const rendered = renderJob(job, {
          ...options,
          format: 'escpos',
          printerId: 'p1',
          agentVersion: '0.1.0',
          printer: 'file:x',
        });
        assert.ok(rendered.equals(expected), `${codePage}/${columns}: ${JSON.stringify(content).slice(0, 60)}`);
        if (kind === 'message') assert.ok(renderReceipt(job, options).equals(expected));
        // Lines the layout would never make (raw controls, astral characters) are encoded alike too.
        assert.ok(renderLines([content], { columns, codePage }).equals(escposBytes([content], codePage)), 'raw line');
      },
    ),
    // The unit suite: 400, each of the 48 code page x width x kind combinations about 8 times.
    { numRuns: propertyRuns({ full: 2000, quick: 400 }) },
  );
});

test('the agent lays a job out once: the lines it counts against RECEIPT_MAX_LINES are those it prints, as many as the server counts', () => {
  fc.assert(
    fc.property(
      fc.string({ unit: binaryUnit, maxLength: 400 }),
      fc.constantFrom(...CODE_PAGE_NAMES),
      fc.integer({ min: 16, max: 64 }),
      fc.constantFrom(undefined, 'Europe/Paris', 'America/New_York'),
      fc.constantFrom('escpos' as const, 'text' as const),
      (content, codePage, columns, timeZone, format) => {
        const options = { format, columns, codePage, timeZone, printerId: 'p1', agentVersion: '0', printer: 'memory' };
        const job = { content, createdAt };
        const lines = layoutJob(job, options);
        assert.deepEqual(jobBytes(lines, options), renderJob(job, options));
        // As many as the server counts when it checks the message (the same layout, any date).
        assert.equal(lines.length, layoutReceipt({ content, createdAt: new Date() }, { columns, codePage }).length);
      },
    ),
    { numRuns: propertyRuns({ full: 500, quick: 100 }) },
  );
});
