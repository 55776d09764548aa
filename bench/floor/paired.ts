/**
 * The `floor-latency` scenario's pairing (bench/run.ts): one client sends one job at a time to each of several
 * servers in turn, so that all of them see the same machine load, and each one's latency is compared with the
 * baseline's measured in the same rounds. Pure functions, unit-tested (test/bench/paired.unit.test.ts).
 */

/**
 * The order of each round: a permutation of the `systems` indices, shuffled per round by a seeded generator
 * (the same order every run), so that no server is always first after the client's pause or always right
 * behind the same other server.
 */
export function roundOrders(systems: number, rounds: number, seed = 22): number[][] {
  const random = mulberry32(seed);
  return Array.from({ length: rounds }, () => {
    const order = Array.from({ length: systems }, (_, i) => i);
    for (let i = systems - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  });
}

/** A small seeded generator of numbers in [0, 1) (mulberry32). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The nearest-rank percentile of samples sorted in ascending order (NaN for none): every figure of bench/run.ts. */
export function percentile(sorted: readonly number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** The nearest-rank percentile of unsorted samples, which stay as they are. */
export function percentileOf(samples: readonly number[], p: number): number {
  return percentile(
    [...samples].sort((a, b) => a - b),
    p,
  );
}

/**
 * Round by round, `a`'s time minus `b`'s (both indexed by round), and their median: the gap between two servers
 * measured within the same moments of the machine, which a p50 taken separately on each side is not.
 */
export function medianDifference(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new Error(`paired samples differ in number: ${a.length} and ${b.length}`);
  return percentileOf(
    a.map((x, i) => x - b[i]!),
    50,
  );
}
