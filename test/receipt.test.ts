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
