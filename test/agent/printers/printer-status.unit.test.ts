/** The status questions (DLE EOT 1, 2, 4) every transport asks through askStatus: answers, silence, failure. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { askStatus, statusAnswers, type StatusQuery } from '../../../agent/printers/status';

test('three answers are read together; the questions go out in the order 1, 2, 4', async () => {
  const asked: StatusQuery[] = [];
  const report = await askStatus((n) => {
    asked.push(n);
    return Promise.resolve(statusAnswers('paper-out')[n]);
  });
  assert.deepEqual(asked, [1, 2, 4]);
  assert.equal(report.condition, 'paper-out');
});

test('no answer to the first question is unknown; silence later keeps what the earlier answers say', async () => {
  assert.equal((await askStatus(() => Promise.resolve(undefined))).condition, 'unknown');
  const coverOpen = statusAnswers('cover-open');
  const report = await askStatus((n) => Promise.resolve(n === 4 ? undefined : coverOpen[n]));
  assert.equal(report.condition, 'cover-open');
});

test('a printer that cannot answer at all (the ask throws) is unknown, even after a first answer', async () => {
  const report = await askStatus((n) =>
    n === 1 ? Promise.resolve(statusAnswers('ok')[1]) : Promise.reject(new Error('EINVAL')),
  );
  assert.equal(report.condition, 'unknown');
});
