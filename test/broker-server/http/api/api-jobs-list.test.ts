/** GET /jobs: filters and cursor pages, on SQLite and PostgreSQL. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PrintJob } from '../../../../broker-server/jobs/job-service';
import { decodeCursor, encodeCursor } from '../../../../broker-server/http/api/validation';
import { postJson, startTestServer, testEachMode } from '../../../support/harness';

test("cursors are opaque, and only the server's own decode", () => {
  assert.equal(decodeCursor(encodeCursor(42)), 42);
  for (const bad of [
    '',
    'abc',
    encodeCursor(0),
    Buffer.from('{"b":"1"}').toString('base64url'),
    'a'.repeat(101),
    '../x',
  ])
    assert.equal(decodeCursor(bad), null, bad);
});

testEachMode(
  'GET /jobs filters by printer, status and time, and pages with a cursor in the Link header',
  async (t, mode) => {
    const server = await startTestServer(t, { mqttPort: -1, printers: ['printer-1', 'printer-2'] }, { mode });
    const ids: number[] = [];
    for (let i = 0; i < 7; i++)
      ids.push(
        (
          (await postJson(server.baseUrl, '/print', { content: `n${i}`, printerId: i % 2 ? 'printer-2' : 'printer-1' }))
            .json as PrintJob
        ).id,
      );
    const middle = new Date();
    await new Promise((resolve) => setTimeout(resolve, 20));
    const late = ((await postJson(server.baseUrl, '/print', { content: 'late' })).json as PrintJob).id;
    await server.jobs.transition(ids[2]!, 'printed');

    const list = async (query: string) => {
      const res = await fetch(`${server.baseUrl}/jobs?${query}`);
      assert.equal(res.status, 200, query);
      return { ids: ((await res.json()) as PrintJob[]).map((j) => j.id), link: res.headers.get('link') };
    };
    assert.deepEqual((await list('printerId=printer-2')).ids, [ids[5], ids[3], ids[1]]);
    assert.deepEqual((await list('status=printed&printerId=printer-1')).ids, [ids[2]]);
    assert.deepEqual((await list(`since=${middle.toISOString()}`)).ids, [late]);
    assert.deepEqual((await list(`until=${middle.toISOString()}&printerId=printer-1`)).ids, [
      ids[6],
      ids[4],
      ids[2],
      ids[0],
    ]);

    const seen: number[] = [];
    let next: string | null = '/jobs?limit=3&printerId=printer-1';
    let pages = 0;
    while (next) {
      const page = await list(next.replace('/jobs?', ''));
      seen.push(...page.ids);
      pages++;
      next = page.link ? /^<([^>]+)>; rel="next"$/.exec(page.link)![1]! : null;
      if (next) assert.match(next, /printerId=printer-1/, 'the next link keeps the filters');
    }
    assert.equal(pages, 2);
    assert.deepEqual(seen, [late, ids[6], ids[4], ids[2], ids[0]]);

    for (const [query, error] of [
      ['since=yesterday', /"since" must be a date/],
      ['until=2026-13-01T00:00:00Z', /"until" must be a date/],
      ['cursor=forged', /"cursor" is not one this server gave/],
      ['printerId=a/b', /"printerId" must be/],
    ] as const) {
      const res = await fetch(`${server.baseUrl}/jobs?${query}`);
      assert.equal(res.status, 400, query);
      assert.match(((await res.json()) as { error: string }).error, error);
    }
  },
);
