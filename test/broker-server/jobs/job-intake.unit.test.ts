/** The checks a message passes before it is stored (jobs/job-intake.ts), with a fake printer list: no server, no store. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobError, ReceiptTooLongError, UnknownPrinterError } from '../../../broker-server/jobs/job-errors';
import { JobIntake, surelyFits } from '../../../broker-server/jobs/job-intake';
import { CODE_PAGES, type CodePageName } from '../../../protocol/codepages';
import { layoutReceipt } from '../../../protocol/receipt-layout';
import type { PrinterInfo } from '../../../broker-server/printers/printer-status-list';

function intake(printers: Record<string, Partial<PrinterInfo>>, receiptMaxLines = 10): JobIntake {
  const known = (id: string) => Object.hasOwn(printers, id);
  return new JobIntake(
    {} as never,
    {} as never,
    {
      isKnown: async (id) => known(id),
      get: async (id) => (known(id) ? ({ id, ...printers[id] } as PrinterInfo) : null),
      list: async () => Object.keys(printers).map((id) => ({ id, ...printers[id] }) as PrinterInfo),
    },
    { defaultPrinterId: 'front', paperColumns: 48, receiptMaxLines },
  );
}

test('a message for a printer nobody knows is refused with the known ones, as a typed error without an HTTP status', async () => {
  const err = await intake({ front: {}, kitchen: {} })
    .check('cellar', 'hello')
    .then(
      () => assert.fail('accepted'),
      (e: unknown) => e,
    );
  assert.ok(err instanceof UnknownPrinterError);
  assert.equal(err.kind, 'unknown-printer');
  assert.deepEqual(err.knownPrinters, ['front', 'kitchen']);
  assert.deepEqual(err.details, { field: 'printerId', knownPrinters: ['front', 'kitchen'] });
  assert.equal('status' in err, false);
});

test('a message without a printer goes to the default one', async () => {
  assert.equal(await intake({ front: {} }).check(undefined, 'hello'), 'front');
});

test('a receipt that fits 48 columns but not the 32 its agent reported is refused whole', async () => {
  const words = 'word '.repeat(60);
  const checks = intake({ front: {}, narrow: { columns: 32 } }, 14);
  assert.equal(await checks.check('front', words), 'front');
  const err = await checks.check('narrow', words).then(
    () => assert.fail('accepted'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ReceiptTooLongError && err instanceof JobError);
  assert.equal(err.kind, 'receipt-too-long');
  assert.equal(err.details.maxLines, 14);
  assert.ok((err.details.lines as number) > 14);
  assert.match(err.problem.errorFr, /14/);
});

test('the preview lays out for an unknown or absent printer as for the default one, on its own paper otherwise', async () => {
  const layouts = intake({ front: {}, narrow: { columns: 32, codepage: 'cp437' } });
  const unknown = await layouts.layout('hi', 'cellar');
  assert.equal(unknown.printerId, 'front');
  assert.equal(unknown.columns, 48);
  const narrow = await layouts.layout('hi', 'narrow');
  assert.deepEqual([narrow.printerId, narrow.columns], ['narrow', 32]);
});

test('a message the check lets through without laying it out never lays out longer than the limit, on any paper or code page', () => {
  // Worst cases for word wrap (one character a line, runs of newlines, leading spaces), then random printable ASCII.
  const samples = ['a b c d e f g h i j k', '\n'.repeat(40), '   x   y', 'x\n'.repeat(30), 'word '.repeat(20)];
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 300; i++)
    samples.push(
      Array.from({ length: 1 + Math.floor(random() * 160) }, () =>
        random() < 0.1 ? '\n' : random() < 0.3 ? ' ' : String.fromCharCode(0x21 + Math.floor(random() * 94)),
      ).join(''),
    );
  let fastPaths = 0;
  for (const codePage of Object.keys(CODE_PAGES) as CodePageName[])
    for (const columns of [1, 2, 5, 12, 21, 32, 48])
      for (const content of samples)
        for (const maxLines of [60, 120, 200]) {
          if (!surelyFits(content, maxLines)) continue;
          fastPaths++;
          const lines = layoutReceipt({ content, createdAt: new Date() }, { columns, codePage }).length;
          assert.ok(lines <= maxLines, `${JSON.stringify(content)} on ${columns} columns, ${codePage}: ${lines} lines`);
        }
  assert.ok(fastPaths > 1000);
});

test('only short printable ASCII skips the layout: tabs, other characters and long messages are laid out', () => {
  assert.equal(surelyFits('Hello world', 200), true);
  assert.equal(surelyFits('Hello\tworld', 200), false);
  assert.equal(surelyFits('Déjà vu', 200), false);
  assert.equal(surelyFits('⒇', 200), false);
  assert.equal(surelyFits('x'.repeat(155), 200), true);
  assert.equal(surelyFits('x'.repeat(156), 200), false);
});

test('a long message is still laid out and refused when it would not fit, a short one passes without a printer lookup of its paper', async () => {
  let lookups = 0;
  const checks = new JobIntake(
    {} as never,
    {} as never,
    {
      isKnown: async () => true,
      get: async (id) => (lookups++, { id, columns: 32 }) as PrinterInfo,
      list: async () => [],
    },
    { defaultPrinterId: 'front', paperColumns: 48, receiptMaxLines: 60 },
  );
  assert.equal(await checks.check('front', 'hello'), 'front');
  assert.equal(lookups, 0);
  await assert.rejects(checks.check('front', 'x\n'.repeat(100)), ReceiptTooLongError);
  assert.equal(lookups, 1);
});
