/**
 * The independent client (bench/user-client.ts), run as a user runs it, against a real server and agent: it
 * must read the server's event stream as the server writes it (each event's `id:` line first, for resuming),
 * or it waits for `printed` events it has already been sent.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import test from 'node:test';
import { promisify } from 'node:util';
import { startPrinting } from '../support/harness';

const run = promisify(execFile);
const client = path.resolve(import.meta.dirname, '../../bench/user-client.ts');

test('bench/user-client.ts measures latency and load against a running server', async (t) => {
  const { server, addAgent } = await startPrinting(t, { printRate: { perMinute: 0, burst: 20 } });
  await addAgent();
  const measure = async (...args: string[]) => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', client, ...args], { timeout: 60_000 });
    return stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  };
  const [latency] = await measure('latency', server.baseUrl, '5');
  assert.equal(latency?.mode, 'latency');
  assert.equal(latency?.count, 5);
  assert.ok(typeof latency?.p50 === 'number' && latency.p50 > 0, `p50: ${String(latency?.p50)}`);
  const [viaNode] = await measure('latency', `node:${server.baseUrl}`, '3');
  assert.equal(viaNode?.count, 3);
  const [load] = await measure('load', server.baseUrl, '20', '4');
  assert.equal(load?.count, 20);
  assert.ok(typeof load?.printedPerS === 'number' && load.printedPerS > 0, `printed/s: ${String(load?.printedPerS)}`);
});
