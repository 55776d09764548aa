/** SerialRun (broker-server/serial-run.ts): one run at a time, one more for requests made during a run, none after stop. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SerialRun } from '../../broker-server/serial-run';

test('requests during a run make exactly one more run; a failure is reported and the next request runs again', async () => {
  let runs = 0;
  let concurrent = 0;
  let release: (() => void) | null = null;
  const errors: unknown[] = [];
  let fail = false;
  const run = new SerialRun(
    async () => {
      runs++;
      concurrent++;
      assert.equal(concurrent, 1, 'never two at once');
      await new Promise<void>((resolve) => (release = resolve));
      concurrent--;
      if (fail) throw new Error('boom');
    },
    (err) => errors.push(err),
  );
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  run.request();
  run.request();
  run.request();
  assert.equal(runs, 1);
  release!();
  await settle();
  assert.equal(runs, 2, 'three requests during one run: one more run');
  release!();
  await settle();
  assert.equal(runs, 2, 'nothing asked since');
  fail = true;
  run.request();
  release!();
  await settle();
  assert.equal(errors.length, 1);
  fail = false;
  run.request();
  assert.equal(runs, 4, 'runs again after a failure');
  const stopped = run.stop();
  run.request();
  release!();
  await stopped;
  await settle();
  assert.equal(runs, 4, 'no run after stop');
});
