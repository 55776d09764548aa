/** `tsx bench/profile-summary.ts FILE.cpuprofile [N]`: the N functions with the most self time, and idle share. */
import fs from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
const [file, top = '25'] = process.argv.slice(2);
if (!file) throw new Error('usage: profile-summary FILE.cpuprofile [N]');
const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
let total = 0;
profile.samples.forEach((id, i) => {
  const node = byId.get(id)!;
  const dt = profile.timeDeltas[i] ?? 0;
  total += dt;
  const url = node.callFrame.url.replace(/^.*node_modules\//, '~/').replace(/^file:\/\/.*?\/(broker-server|agent|protocol|config)\//, '$1/');
  const key = `${node.callFrame.functionName || '(anonymous)'} ${url}:${node.callFrame.lineNumber + 1}`;
  self.set(key, (self.get(key) ?? 0) + dt);
});
const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(top));
console.log(`total ${(total / 1000).toFixed(0)} ms`);
for (const [key, us] of rows) console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`);
