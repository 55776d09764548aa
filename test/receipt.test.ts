import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeEscPos } from '../agent/printers/escpos-decoder';
import { renderReceipt } from '../agent/receipt';
import { CODE_PAGE_NAMES } from '../protocol/codepages';
import { formatReceiptDate, layoutReceipt, sanitizeContent, wrapLine } from '../protocol/receipt-layout';

const createdAt = '2026-03-04T05:06:00Z';

test('the layout is the specified one: rule, title, blank, content, blank, date in local time, rule', () => {
  const lines = layoutReceipt({ content: 'Hello world', createdAt }, { columns: 24, timeZone: 'Europe/Paris' });
  assert.deepEqual(lines, ['-'.repeat(24), 'MESSAGE À IMPRIMER', '', 'Hello world', '', 'Date: 2026-03-04 06:06', '-'.repeat(24)]);
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
    assert.deepEqual(receipt.commands, ['ESC @', 'FS .', `ESC t ${({ PC437: 0, PC850: 2, PC860: 3, PC863: 4, WPC1252: 16, PC858: 19 } as Record<string, number>)[codePage]}`, 'GS V 0']);
    assert.ok(receipt.text.includes('drawer p') && receipt.text.includes('kick'), receipt.text);
  }
});

test('accents print in the code page; characters it lacks get a stand-in or ?', () => {
  const bytes = renderReceipt({ content: 'Crème brûlée à 5 € — œuf “x” …', createdAt }, { columns: 48, codePage: 'PC858' });
  const receipt = decodeEscPos(bytes).receipts[0]!;
  assert.equal(receipt.codePage, 'PC858');
  assert.equal(receipt.lines[3], 'Crème brûlée à 5 € - oeuf "x" ...');
  const pc437 = decodeEscPos(renderReceipt({ content: '5 € 日本', createdAt }, { columns: 48, codePage: 'PC437' })).receipts[0]!;
  assert.equal(pc437.lines[3], '5 EUR ??');
  assert.equal(sanitizeContent('Cafe\u0301'), 'Café', 'NFC');
});

test('a cash-drawer kick, a cut, a code-page switch and a reset in the content reach the printer as text, never as commands', () => {
  const count = (bytes: Buffer, seq: number[]) => {
    let n = 0;
    for (let i = bytes.indexOf(Buffer.from(seq)); i !== -1; i = bytes.indexOf(Buffer.from(seq), i + 1)) n++;
    return n;
  };
  const ESC = 0x1b, GS = 0x1d, DLE = 0x10, FS = 0x1c;
  const attacks = [
    { name: 'drawer kick ESC p', content: 'Tiroir \x1bp\x00\x19\xfa ouvert', forbidden: [[ESC, 0x70]] },
    { name: 'real-time drawer kick DLE DC4', content: 'Tiroir \x10\x14\x01\x00\x05 ouvert', forbidden: [[DLE, 0x14]] },
    { name: 'cut GS V / ESC i / ESC m', content: 'Coupe \x1dV\x00 \x1dVA\x10 \x1bi \x1bm ici', forbidden: [[ESC, 0x69], [ESC, 0x6d]] },
    { name: 'code-page switch ESC t / ESC R / FS &', content: 'Page \x1bt\x01 \x1bR\x08 \x1c& \x1cC\x01 changée', forbidden: [[ESC, 0x52], [FS, 0x26], [FS, 0x43]] },
    { name: 'printer reset ESC @ (and C1 CSI)', content: 'Remise \x1b@ \u009b2J à zéro', forbidden: [] },
  ];
  for (const attack of attacks) {
    const bytes = renderReceipt({ content: attack.content, createdAt }, { columns: 48, codePage: 'PC858' });
    for (const seq of attack.forbidden) assert.equal(count(bytes, seq), 0, `${attack.name}: ${Buffer.from(seq).toString('hex')}`);
    assert.equal(count(bytes, [ESC, 0x40]), 1, `${attack.name}: only the agent's own ESC @`);
    assert.equal(bytes.indexOf(Buffer.from([ESC, 0x40])), 0);
    assert.equal(count(bytes, [ESC, 0x74]), 1, `${attack.name}: only the agent's own ESC t`);
    assert.equal(count(bytes, [GS, 0x56]), 1, `${attack.name}: only the agent's own cut`);
    assert.equal(bytes.lastIndexOf(Buffer.from([GS, 0x56])), bytes.length - 3, `${attack.name}: the cut is the last command`);
    assert.ok(![...bytes].some((b, i) => b === DLE || (b === ESC && ![0x40, 0x74].includes(bytes[i + 1]!))), attack.name);
    const decoded = decodeEscPos(bytes);
    assert.deepEqual(decoded.unexpected, [], attack.name);
    assert.deepEqual(decoded.receipts[0]!.commands, ['ESC @', 'FS .', 'ESC t 19', 'GS V 0'], attack.name);
  }
  const text = (content: string) => decodeEscPos(renderReceipt({ content, createdAt }, { columns: 48, codePage: 'PC858' })).receipts[0]!.lines[3];
  assert.equal(text('Tiroir \x1bp\x00\x19\xfa ouvert'), 'Tiroir p\u00fa ouvert', 'the printable leftovers are plain text');
  assert.equal(text('Remise \x1b@ \u009b2J à zéro'), 'Remise @ 2J à zéro');
});
