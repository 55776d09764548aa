/**
 * The log lines of one turn of the event loop go out in one write (runtime/logger.ts, issue 22: a job's two
 * `info` lines were two system calls of the agent's eight a job under load), and none is lost when the
 * process ends: process.exit(), an uncaught exception, an unhandled rejection.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createLogger } from '../../runtime/logger';
import { tempDir } from '../support/basics';

const root = path.resolve(import.meta.dirname, '../..');

test("a turn's log lines go in one write, at the end of the turn, in order", async (t) => {
  const file = path.join(tempDir(t), 'agent.log');
  const fd = fs.openSync(file, 'a');
  t.after(() => fs.closeSync(fd));
  const writes = t.mock.method(fs, 'writeSync');
  const writesTo = () => writes.mock.calls.filter((c) => c.arguments[0] === fd).length;
  const log = createLogger('printhop-agent', 'info', fd).child({ module: 'agent', printerId: 'p1' });
  for (let id = 1; id <= 50; id++) {
    log.info({ jobId: id }, 'job received');
    log.debug({ jobId: id }, 'not at info');
  }
  assert.equal(writesTo(), 0, 'nothing written during the turn');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(writesTo(), 1, 'one write for the 50 lines');
  const lines = fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { jobId: number; msg: string; printerId: string });
  assert.deepEqual(
    lines.map((l) => l.jobId),
    Array.from({ length: 50 }, (_, i) => i + 1),
  );
  assert.ok(lines.every((l) => l.msg === 'job received' && l.printerId === 'p1'));
  // The next turn's lines: a write of their own.
  log.warn({ jobId: 51 }, 'printer unavailable');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(writesTo(), 2);
});

for (const [how, end] of [
  ['an uncaught exception', "throw new Error('crash')"],
  ['an unhandled rejection', "void Promise.reject(new Error('crash'))"],
  ['process.exit()', 'process.exit(3)'],
] as const) {
  test(`the lines logged before ${how} are written before the process ends`, () => {
    const script = [
      "import { createLogger } from './runtime/logger.ts';",
      "const log = createLogger('printhop-agent', 'info', 1);",
      "for (let id = 1; id <= 3; id++) log.info({ jobId: id }, 'job printed');",
      // Later than the turn's end would be: the end comes in the same turn as the lines.
      end,
    ].join('\n');
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root,
      encoding: 'utf8',
      // Not a terminal: JSON lines through the buffered destination, as under systemd or Docker.
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    assert.notEqual(child.status, 0, 'the process ended with an error');
    const ids = child.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { jobId: number }).jobId);
    assert.deepEqual(ids, [1, 2, 3], `stdout: ${child.stdout}\nstderr: ${child.stderr}`);
  });
}
