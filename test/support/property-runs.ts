/**
 * How many runs a property test makes: its full count, or a smaller quick count chosen by the test (each
 * says what its quick count still covers), as PROPERTY_RUNS says:
 *   full   (the default) every count in full: a test file run alone, as `npm test` (and so CI) runs each file;
 *   quick  the quick counts: `npm run test:unit` (test/unit.ts sets it unless the environment did), the
 *          suite run before each commit. Weaker per run: a mutant that only an edge value shows (an error
 *          of 1,001 characters taken) was caught by 2 of 5 quick runs, by every full run; fast-check draws a
 *          new seed each run, so repeated quick runs still reach it, and `npm test` runs the full counts.
 * `PROPERTY_RUNS=full npm run test:unit` runs the unit suite at full size.
 */
export function propertyRuns(counts: { full: number; quick: number }): number {
  const mode = process.env.PROPERTY_RUNS ?? 'full';
  if (mode === 'full') return counts.full;
  if (mode === 'quick') return counts.quick;
  throw new Error(`PROPERTY_RUNS=${mode}: must be full or quick`);
}
