/**
 * The README is the front door (at most 300 lines, every page of docs/ one click away), and no link between
 * the README and docs/ points to a file or a heading that is not there.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const root = path.resolve(import.meta.dirname, '../..');
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');
const pages = [
  'README.md',
  ...fs
    .readdirSync(path.join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** GitHub's anchor for a heading. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\- _]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a Markdown file's headings, outside code blocks. */
function anchors(file: string): Set<string> {
  const found = new Set<string>();
  let fence = false;
  for (const line of read(file).split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    const heading = !fence && /^#{1,6} (.*)$/.exec(line);
    if (heading) found.add(anchor(heading[1]!));
  }
  return found;
}

/** Links outside code blocks: [text](target). */
function links(file: string): string[] {
  const text = read(file).replace(/```[\s\S]*?```/g, '');
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

test('the README is at most 300 lines and links every page of docs/', () => {
  const readme = read('README.md');
  const lines = readme.split('\n').length;
  assert.ok(lines <= 300, `README.md has ${lines} lines`);
  const linked = new Set(links('README.md').map((target) => target.split('#')[0]));
  const missing = pages.filter((page) => page !== 'README.md' && !linked.has(page));
  assert.deepEqual(missing, [], 'pages of docs/ the README does not link');
});

test('every link of the README and of docs/ reaches a file, and a heading where it names one', () => {
  const broken: string[] = [];
  for (const page of pages) {
    for (const target of links(page)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [file = '', hash] = target.split('#');
      const resolved = file ? path.normalize(path.join(path.dirname(page), file)) : page;
      if (!fs.existsSync(path.join(root, resolved))) {
        broken.push(`${page}: ${target} (no file)`);
        continue;
      }
      if (hash && resolved.endsWith('.md') && !anchors(resolved).has(hash))
        broken.push(`${page}: ${target} (no heading)`);
    }
  }
  assert.deepEqual(broken, []);
});

test('no page repeats a section: every second-level heading of a page is its own', () => {
  const repeated: string[] = [];
  for (const page of pages) {
    const seen = new Set<string>();
    let fence = false;
    for (const line of read(page).split('\n')) {
      if (line.startsWith('```')) fence = !fence;
      const heading = !fence && /^## (.*)$/.exec(line);
      if (!heading) continue;
      if (seen.has(heading[1]!)) repeated.push(`${page}: ${heading[1]}`);
      seen.add(heading[1]!);
    }
  }
  assert.deepEqual(repeated, []);
});
