/** `tsx bench/profile-summary.ts FILE.cpuprofile [N]`: the N functions with the most self time, and idle share. */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** The profile's total time, its idle share, and its `top` functions by self time, one per line. */
export function summariseProfile(file: string, top = 25): string {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    nodes: Node[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)!;
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const url = node.callFrame.url
      .replace(/^.*node_modules\//, '~/')
      .replace(/^file:\/\/.*?\/(broker-server|agent|protocol|config|bench|dist)\//, '$1/');
    const key = `${node.callFrame.functionName || '(anonymous)'} ${url}:${node.callFrame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  const idle = self.get('(idle) :0') ?? 0;
  const rows = [...self]
    .filter(([key]) => key !== '(idle) :0')
    .sort((a, b) => b[1] - a[1])
    .slice(0, top);
  return [
    `total ${(total / 1000).toFixed(0)} ms, idle ${((idle / total) * 100).toFixed(0)} %`,
    ...rows.map(
      ([key, us]) =>
        `${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`,
    ),
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const [file, top = '25'] = process.argv.slice(2);
  if (!file) throw new Error('usage: profile-summary FILE.cpuprofile [N]');
  console.log(summariseProfile(file, Number(top)));
}
