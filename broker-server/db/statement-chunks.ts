/** Batches written in a few fixed statement texts, so that each is prepared once (db/sql-client.ts). */

/** Rows per statement: a batch is written in chunks of these sizes, so each statement text is prepared once. */
const CHUNKS = [128, 64, 32, 16, 8, 4, 2, 1];

/** `items` in chunks of the sizes CHUNKS allows, largest first (13 → 8, 4, 1): a few texts serve every size. */
export function statementChunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length;) {
    const size = CHUNKS.find((c) => c <= items.length - i)!;
    out.push(items.slice(i, i + size));
    i += size;
  }
  return out;
}
