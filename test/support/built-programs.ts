/** `npm run build` once per test file, into a temp dir laid out like the repository (dist/ next to public/ and node_modules). */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { buildAll, ROOT } from '../../scripts/build';

let built: Promise<string> | null = null;

/** The directory holding `dist/`, `public/` and `node_modules/` (the last two linked to the repository's). */
export function builtPrograms(t: TestContext): Promise<string> {
  built ??= (async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-build-'));
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    for (const link of ['public', 'node_modules']) fs.symlinkSync(path.join(ROOT, link), path.join(dir, link));
    const started = Date.now();
    await buildAll(path.join(dir, 'dist'));
    t.diagnostic(`build: ${Date.now() - started} ms`);
    return dir;
  })();
  return built;
}
