/** The checks a message passes before it is stored (jobs/job-intake.ts), with a fake printer list: no server, no store. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobError, ReceiptTooLongError, UnknownPrinterError } from '../../../broker-server/jobs/job-errors';
import { JobIntake } from '../../../broker-server/jobs/job-intake';
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
