/**
 * The store's cost per job (bench/store-cost.ts) runs each of its variants to the end: every job of each reaches
 * `printed` (the tool checks it), and the figures it prints are per job. Its numbers are the bench's business,
 * not this test's: here only that each variant writes what it says.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { storeCost, STORE_COST_VARIANTS } from '../../bench/store-cost';

test('every variant of the store cost bench takes its jobs to printed and reports per-job figures', async () => {
  for (const variant of STORE_COST_VARIANTS) {
    const cost = await storeCost(variant, 20, 100);
    assert.equal(cost.jobs, 100, variant);
    for (const figure of [cost.process, cost.wall]) assert.ok(figure > 0, `${variant}: ${JSON.stringify(cost)}`);
  }
});
