import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { build } from 'esbuild';
import { pathToFileURL } from 'node:url';
import { formatLedger, parseStraceSummary, sourceResolver, stageOf, stagesInWindow } from '../../bench/cost-ledger';

test('frames are put in the stage of their file, the first matching rule winning', () => {
  const at = (url: string, functionName = 'f') => stageOf({ url, functionName });
  assert.equal(at('file:///app/node_modules/zod/v4/core/parse.js'), 'validation (zod, the schemas)');
  assert.equal(at('file:///app/broker-server/http/api/validation.ts'), 'validation (zod, the schemas)');
  assert.equal(at('node:_http_server'), 'HTTP: parse, Express, middleware, answer');
  assert.equal(at('file:///app/node_modules/express/lib/router.js'), 'HTTP: parse, Express, middleware, answer');
  assert.equal(
    at('file:///app/broker-server/store/sqlite-print-store.ts'),
    'database: statements and commits (Sequelize, sqlite3, pg, the stores)',
  );
  assert.equal(
    at('file:///app/node_modules/aedes/lib/handlers/publish.js'),
    'MQTT: broker, packets, WebSocket, client',
  );
  assert.equal(at('file:///app/agent/journal.ts'), 'agent: journal');
  assert.equal(at('node:internal/timers'), 'streams, timers, sockets (Node core)');
  assert.equal(at('', '(garbage collector)'), 'garbage collection');
  assert.equal(at('', '(program)'), 'native, outside JavaScript (system calls, libuv, SQLite, zlib)');
  assert.equal(at('', 'fdatasync'), 'system calls made from JavaScript (socket and file writes, reads, syncs)');
  assert.equal(at('', 'writev'), 'system calls made from JavaScript (socket and file writes, reads, syncs)');
  assert.equal(at('', 'runMicrotasks'), 'streams, timers, sockets (Node core)');
  assert.equal(at('file:///app/somewhere/else.js'), 'other JavaScript');
});

test("a phase's stages come only from the samples inside its time window, idle left out", () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ledger-')), 'p.cpuprofile');
  const node = (id: number, functionName: string, url: string) => ({ id, callFrame: { functionName, url } });
  fs.writeFileSync(
    file,
    JSON.stringify({
      nodes: [
        node(1, '(idle)', ''),
        node(2, 'parse', 'file:///a/node_modules/zod/x.js'),
        node(3, 'run', 'file:///a/agent/journal.ts'),
      ],
      startTime: 1_000,
      // samples at 1100 (zod), 1200 (idle), 1300 (journal), 1400 (zod): the window [1150, 1350] holds idle and journal
      samples: [2, 1, 3, 2],
      timeDeltas: [100, 100, 100, 100],
    }),
  );
  const stages = stagesInWindow(file, 1_150, 1_350);
  assert.deepEqual([...stages], [['agent: journal', 100]]);
  fs.rmSync(path.dirname(file), { recursive: true });
});

test("strace -c's table is read into calls per system call, the total left out", () => {
  const text = [
    '% time     seconds  usecs/call     calls    errors syscall',
    '------ ----------- ----------- --------- --------- ----------------',
    ' 87.73    0.063418        2536        25           futex',
    ' 11.38    0.008228          15       533         2 epoll_pwait',
    '------ ----------- ----------- --------- --------- ----------------',
    '100.00    0.072284         125       558         2 total',
  ].join('\n');
  assert.deepEqual(
    [...parseStraceSummary(text)],
    [
      ['futex', 25],
      ['epoll_pwait', 533],
    ],
  );
});

test('the ledger scales the sampled stages to the measured CPU, per job', () => {
  const table = formatLedger([
    {
      title: 'server',
      jobs: 10,
      cpuMs: 20, // 2,000 µs a job
      stages: new Map([
        ['agent: journal', 300],
        ['garbage collection', 100],
      ]),
      switches: { voluntary: 50, involuntary: 10 },
    },
  ]);
  assert.match(table, /\| \*\*CPU per job, all threads \(µs\)\*\* \| \*\*2000\*\* \|/);
  assert.match(table, /\| agent: journal \| 1500 \|/);
  assert.match(table, /\| garbage collection \| 500 \|/);
  assert.match(table, /\| wake-ups per job \(voluntary context switches\) \| 5\.0 \|/);
});

test("a bundle's frames are named by their source file through the .map beside the bundle", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ledger-map-'));
  fs.mkdirSync(path.join(dir, 'agent'));
  fs.writeFileSync(path.join(dir, 'agent', 'journal.ts'), 'export function record(n: number) {\n  return n * 2;\n}\n');
  fs.writeFileSync(path.join(dir, 'main.ts'), "import { record } from './agent/journal';\nconsole.log(record(2));\n");
  const outfile = path.join(dir, 'dist', 'bundle.mjs');
  // The async API: the esbuild service the unit suite's runner started is reused (buildSync starts a process).
  await build({
    entryPoints: [path.join(dir, 'main.ts')],
    bundle: true,
    format: 'esm',
    outfile,
    sourcemap: 'external',
  });
  const code = fs.readFileSync(outfile, 'utf8').split('\n');
  const line = code.findIndex((l) => l.includes('function record'));
  const resolved = sourceResolver()({
    functionName: 'record',
    url: pathToFileURL(outfile).href,
    lineNumber: line,
    columnNumber: code[line]!.indexOf('function'),
  });
  assert.match(resolved.url, /agent\/journal\.ts$/);
  assert.equal(stageOf(resolved), 'agent: journal');
  fs.rmSync(dir, { recursive: true });
});
