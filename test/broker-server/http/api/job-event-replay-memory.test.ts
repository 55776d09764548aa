/**
 * Issue 20, finding 2, on a real server process: ten GET /jobs/events replays from event 0 that never read,
 * over 300 jobs of ~24 KB of escaped JSON each ("a" + 3,999 × U+0001), raise the server's resident memory by
 * at most 100 MB (before the fix: each held a 500-row page, ~12 MB of JSON, for as long as its socket stayed
 * open). The latency of /healthz meanwhile is a figure of `npm run bench -- --only=replay`, not a test.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import { startServerChild } from '../../../support/child-programs';
import { tempDir, waitFor } from '../../../support/harness';

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

async function gauge(baseUrl: string, name: string): Promise<number | null> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const line = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
  return line ? Number(line[1]) : null;
}

test('ten replays from event 0 that never read raise the server’s memory by at most 100 MB', async (t) => {
  const { server, port, baseUrl } = await startServerChild(t, {
    DATA_DIR: tempDir(t),
    PRINT_RATE_PER_MINUTE: '0',
  });
  const content = 'a' + '\u0001'.repeat(3999);
  for (let i = 0; i < 300; i++) {
    const res = await fetch(`${baseUrl}/print`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content }),
    });
    assert.equal(res.status, 201, await res.text());
  }
  const before = rssMb(server.child.pid!);

  const sockets = Array.from({ length: 10 }, () => {
    const socket = net.connect(port, '127.0.0.1');
    socket.pause(); // reads nothing: what the server sends piles up in the kernel, then in the server
    socket.write(`GET /jobs/events HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: 0\r\n\r\n`);
    return socket;
  });
  t.after(() => sockets.forEach((s) => s.destroy()));
  await waitFor(
    'ten replays held back by their readers',
    async () => (await gauge(baseUrl, 'printhop_event_replays_waiting')) === 10,
    60_000,
    200,
  );
  let peak = 0;
  for (let i = 0; i < 5; i++) {
    peak = Math.max(peak, rssMb(server.child.pid!));
    assert.equal((await fetch(`${baseUrl}/healthz`)).status, 200);
  }
  const grown = peak - before;
  t.diagnostic(
    `RSS ${before.toFixed(0)} MB before, ${peak.toFixed(0)} MB with ten replays waiting (+${grown.toFixed(0)} MB)`,
  );
  assert.ok(grown <= 100, `RSS grew by ${grown.toFixed(0)} MB`);
});
