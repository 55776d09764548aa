/**
 * Draws the structure from the imports (`npx tsx scripts/import-graph.ts [--rooms]`): each folder of the
 * source is a room (each file at the top of `agent/` and `broker-server/` is a room of its own: roots,
 * commands, small shared modules), a room's floor is one above the highest room it imports, and an
 * import that runs from a lower floor back up is one that closes a cycle between rooms: in each cycle,
 * the fewest file imports whose removal breaks it. Prints the back-up imports (file by file) and any
 * cycle between files; exits 1 when there is either.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '..');
const SOURCE = ['agent', 'broker-server', 'protocol', 'config', 'runtime'];
const SPLIT_TOP = new Set(['agent', 'broker-server']);

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir)).flatMap((name) => {
    const rel = path.join(dir, name);
    if (statSync(path.join(ROOT, rel)).isDirectory()) return sourceFiles(rel);
    return /\.ts$/.test(name) && !/\.d\.ts$/.test(name) ? [rel] : [];
  });
}

function resolveImport(from: string, spec: string): string | null {
  const base = path.join(path.dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, path.join(base, 'index.ts')]) {
    try {
      if (statSync(path.join(ROOT, candidate)).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

const roomOf = (file: string): string => {
  const dir = path.dirname(file);
  return SPLIT_TOP.has(dir) ? file.replace(/\.ts$/, '') : dir;
};

const files = SOURCE.flatMap(sourceFiles);
const fileEdges = new Map<string, Set<string>>();
for (const file of files) {
  const text = readFileSync(path.join(ROOT, file), 'utf8');
  const targets = new Set<string>();
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)) {
    const target = resolveImport(file, m[1]!);
    if (target && target !== file) targets.add(target);
  }
  fileEdges.set(file, targets);
}

/** Room → room → the file imports that make the dependency. */
const roomEdges = new Map<string, Map<string, string[]>>();
for (const [file, targets] of fileEdges) {
  const from = roomOf(file);
  if (!roomEdges.has(from)) roomEdges.set(from, new Map());
  for (const target of targets) {
    const to = roomOf(target);
    if (to === from) continue;
    const byTarget = roomEdges.get(from)!;
    byTarget.set(to, [...(byTarget.get(to) ?? []), `${file} → ${target}`]);
  }
}
const rooms = [...new Set([...roomEdges.keys(), ...[...roomEdges.values()].flatMap((m) => [...m.keys()])])].sort();

/** Tarjan's strongly connected components. */
function components(nodes: string[], next: (n: string) => Iterable<string>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of next(v)) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      out.push(scc);
    }
  };
  for (const n of nodes) if (!idx.has(n)) visit(n);
  return out;
}

// In each cycle of rooms, the fewest file imports whose removal leaves no cycle (then the fewest room
// dependencies) are the ones running back up: the smallest set of dependencies that disagrees with the rest.
const kept = new Map<string, Set<string>>(rooms.map((r) => [r, new Set(roomEdges.get(r)?.keys() ?? [])]));
const backUp: Array<{ from: string; to: string; imports: string[] }> = [];
const acyclic = (nodes: string[], edges: Array<[string, string]>): boolean =>
  components(nodes, (n) => edges.filter(([from]) => from === n).map(([, to]) => to)).every((c) => c.length === 1);
for (const scc of components(rooms, (r) => kept.get(r)!).filter((c) => c.length > 1)) {
  const members = new Set(scc);
  const edges = scc.flatMap((from) =>
    [...kept.get(from)!].filter((to) => members.has(to)).map((to) => [from, to] as [string, string]),
  );
  const weight = (e: [string, string]) => roomEdges.get(e[0])!.get(e[1])!.length;
  if (edges.length > 20) throw new Error(`a cycle of ${edges.length} room dependencies: too many to search`);
  let best: { mask: number; cost: number; count: number } | null = null;
  for (let mask = 1; mask < 1 << edges.length; mask++) {
    const removed = edges.filter((_, i) => mask & (1 << i));
    const cost = removed.reduce((n, e) => n + weight(e), 0);
    if (best && (cost > best.cost || (cost === best.cost && removed.length >= best.count))) continue;
    if (
      acyclic(
        scc,
        edges.filter((_, i) => !(mask & (1 << i))),
      )
    )
      best = { mask, cost, count: removed.length };
  }
  for (const [i, [from, to]] of edges.entries())
    if (best!.mask & (1 << i)) {
      kept.get(from)!.delete(to);
      backUp.push({ from, to, imports: roomEdges.get(from)!.get(to)! });
    }
}

const floor = new Map<string, number>();
const floorOf = (r: string): number => {
  if (!floor.has(r)) floor.set(r, 1 + Math.max(-1, ...[...kept.get(r)!].map(floorOf)));
  return floor.get(r)!;
};
rooms.forEach(floorOf);
const floors = Math.max(...floor.values()) + 1;
const fileCycles = components(files, (f) => fileEdges.get(f) ?? []).filter((c) => c.length > 1);

console.log(`${files.length} files, ${rooms.length} rooms, ${floors} floors`);
if (process.argv.includes('--rooms'))
  for (let f = floors - 1; f >= 0; f--)
    console.log(
      `  floor ${f}: ${rooms
        .filter((r) => floor.get(r) === f)
        .map((r) => r.replace(/^broker-server\//, 'server/'))
        .join(', ')}`,
    );
console.log(`${backUp.length} back-up import(s) (from a lower floor up):`);
for (const b of backUp) {
  console.log(`  ${b.from} (floor ${floor.get(b.from)}) → ${b.to} (floor ${floor.get(b.to)})`);
  for (const i of b.imports) console.log(`    ${i}`);
}
console.log(`${fileCycles.length} cycle(s) between files`);
for (const c of fileCycles) console.log(`  ${c.join(' → ')}`);
process.exitCode = backUp.length || fileCycles.length ? 1 : 0;
