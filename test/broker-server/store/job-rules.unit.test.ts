import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyTransition, finishes, statusesBefore, writesError } from '../../../broker-server/store/job-rules';
import type { PrintJob } from '../../../broker-server/store/print-store';
import { uidOf } from '../../support/job-uids';

const created = '2026-01-01T00:00:00.000Z';
const job = (over: Partial<PrintJob> = {}): PrintJob => ({
  id: 1,
  uid: uidOf(1),
  printerId: 'p1',
  content: 'x',
  kind: 'message',
  status: 'pending',
  error: null,
  reprintOf: null,
  createdBy: null,
  createdAt: created,
  updatedAt: created,
  sentAt: null,
  receivedAt: null,
  printedAt: null,
  finishedAt: null,
  ...over,
});
const at = new Date('2026-01-02T03:04:05.678Z');
const now = new Date('2026-01-02T03:04:06.000Z');

test('a move starts only from an earlier, unfinished status', () => {
  assert.deepEqual(statusesBefore('sent'), ['pending']);
  assert.deepEqual(statusesBefore('received'), ['pending', 'sent']);
  assert.deepEqual(statusesBefore('printed'), ['pending', 'sent', 'received']);
  assert.deepEqual(statusesBefore('pending'), []);
  for (const final of ['printed', 'failed', 'interrupted'] as const) {
    assert.equal(
      applyTransition(job({ status: final }), { id: 1, to: 'failed', at }, now),
      null,
      `${final} is never left`,
    );
  }
  assert.equal(applyTransition(job({ status: 'received' }), { id: 1, to: 'sent', at }, now), null, 'never backwards');
  assert.equal(applyTransition(job({ status: 'sent' }), { id: 1, to: 'sent', at }, now), null, 'never the same again');
});

test("each move stamps its own time with the time it happened, and the store's time as updatedAt", () => {
  const sent = applyTransition(job(), { id: 1, to: 'sent', at }, now)!;
  assert.equal(sent.sentAt, at.toISOString());
  assert.equal(sent.updatedAt, now.toISOString());
  assert.equal(sent.finishedAt, null);
  const received = applyTransition(sent, { id: 1, to: 'received', at }, now)!;
  assert.equal(received.receivedAt, at.toISOString());
  assert.equal(received.sentAt, at.toISOString(), 'earlier stamps kept');
});

test('final moves set finishedAt; only failed and interrupted write the error', () => {
  assert.ok(finishes('printed') && finishes('failed') && finishes('interrupted') && !finishes('received'));
  assert.ok(writesError('failed') && writesError('interrupted') && !writesError('printed'));
  const printed = applyTransition(
    job({ status: 'received', error: 'earlier' }),
    { id: 1, to: 'printed', at, error: 'ignored' },
    now,
  )!;
  assert.equal(printed.printedAt, at.toISOString());
  assert.equal(printed.finishedAt, at.toISOString());
  assert.equal(printed.error, 'earlier', 'printed leaves the error alone');
  const failed = applyTransition(job({ status: 'sent' }), { id: 1, to: 'failed', at, error: 'no paper' }, now)!;
  assert.equal(failed.error, 'no paper');
  assert.equal(failed.finishedAt, at.toISOString());
  assert.equal(failed.printedAt, null);
});

test("a move that names a printer applies only to that printer's job", () => {
  assert.equal(applyTransition(job(), { id: 1, to: 'received', printerId: 'p2', at }, now), null);
  assert.equal(applyTransition(job(), { id: 1, to: 'received', printerId: 'p1', at }, now)?.status, 'received');
});
