import assert from 'node:assert/strict';
import { test } from 'node:test';
import { medianDifference, percentileOf, roundOrders } from '../../bench/floor/paired';

test('each round sends one job to every server, in an order that changes from round to round', () => {
  const orders = roundOrders(5, 400);
  assert.equal(orders.length, 400);
  for (const order of orders) assert.deepEqual([...order].sort(), [0, 1, 2, 3, 4]);
  assert.ok(new Set(orders.map((o) => o.join())).size > 50, 'the orders vary');
  // Each server is first in about a fifth of the rounds, and follows each other one about as often.
  for (let s = 0; s < 5; s++) {
    const first = orders.filter((o) => o[0] === s).length;
    assert.ok(first > 40 && first < 120, `server ${s} first in ${first} rounds of 400`);
  }
  const sequence = orders.flat();
  const follows = new Map<string, number>();
  for (let i = 1; i < sequence.length; i++) {
    const pair = `${sequence[i - 1]}→${sequence[i]}`;
    follows.set(pair, (follows.get(pair) ?? 0) + 1);
  }
  for (let a = 0; a < 5; a++)
    for (let b = 0; b < 5; b++) if (a !== b) assert.ok((follows.get(`${a}→${b}`) ?? 0) > 40, `${a}→${b}`);
});

test('the orders are the same in every run (seeded), and another seed gives others', () => {
  assert.deepEqual(roundOrders(5, 20), roundOrders(5, 20));
  assert.notDeepEqual(roundOrders(5, 20, 1), roundOrders(5, 20, 2));
  assert.deepEqual(roundOrders(1, 3), [[0], [0], [0]]);
});

test('percentiles are nearest-rank, on unsorted samples, which they leave as they are', () => {
  const samples = [5, 1, 4, 2, 3];
  assert.equal(percentileOf(samples, 50), 3);
  assert.equal(percentileOf(samples, 99), 5);
  assert.equal(percentileOf(samples, 0), 1);
  assert.deepEqual(samples, [5, 1, 4, 2, 3]);
  assert.ok(Number.isNaN(percentileOf([], 50)));
  assert.equal(percentileOf([1, 2, 3, 4], 50), 2);
});

test('the paired gap is the median of the round-by-round differences, not the difference of the medians', () => {
  // a is slower than b by 1 in every round, while a load swing moves both.
  const b = [1, 10, 2, 20, 3];
  const a = b.map((x) => x + 1);
  assert.equal(medianDifference(a, b), 1);
  assert.equal(medianDifference(b, a), -1);
  assert.throws(() => medianDifference([1, 2], [1]), /differ in number/);
});
