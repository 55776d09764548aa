/** API keys with the real command (a child process on the server's database, while the server runs) and HTTP over loopback, on SQLite and PostgreSQL. */
import assert from 'node:assert/strict';
import type { PrintJob } from '../../../../broker-server/jobs/job-service';
import { runServerCommand } from '../../../support/child-programs';
import { captureLogger, postJson, startTestServer, type TestServer, testEachMode } from '../../../support/harness';

/** `npm run api-keys -- …` as a user runs it, with the server's settings. */
const apiKeys = (server: TestServer, ...args: string[]) =>
  runServerCommand(server, 'broker-server/api-keys-command.ts', args);

async function createKey(server: TestServer, name: string): Promise<string> {
  const created = await apiKeys(server, 'create', name);
  assert.equal(created.code, 0, created.stderr);
  const key = created.stdout.trim().split('\n').at(-1)!;
  assert.match(key, /^ph_[A-Za-z0-9_-]{43}$/);
  return key;
}

const get = (server: TestServer, route: string, headers: Record<string, string> = {}) =>
  fetch(server.baseUrl + route, { headers });

testEachMode(
  'keys are created, listed and revoked by the command while the server runs; a job records its key; bad keys are 401, never anonymous',
  async (t, mode) => {
    const logs = captureLogger('trace');
    const server = await startTestServer(t, { mqttPort: -1 }, { mode, log: logs.log });
    const key = await createKey(server, 'caisse-1');
    const duplicate = await apiKeys(server, 'create', 'caisse-1');
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.stderr, /already exists/);
    assert.equal((await apiKeys(server, 'create', 'bad name!')).code, 2);

    const withKey = await postJson(
      server.baseUrl,
      '/print',
      { content: 'de la caisse' },
      { Authorization: `Bearer ${key}` },
    );
    assert.equal(withKey.status, 201);
    assert.equal((withKey.json as PrintJob).createdBy, 'api-key:caisse-1');
    const anonymous = await postJson(server.baseUrl, '/print', { content: 'sans clé' });
    assert.equal((anonymous.json as PrintJob).createdBy, 'anonymous');

    const bad: Array<[string, RegExp]> = [
      ['Bearer ph_' + 'A'.repeat(43), /unknown API key/],
      ['Bearer nope', /not a Printhop API key/],
      [`Basic ${key}`, /must be "Bearer <API key>"/],
    ];
    for (const [header, error] of bad) {
      const res = await postJson(server.baseUrl, '/print', { content: 'x' }, { Authorization: header });
      assert.equal(res.status, 401, header);
      assert.match((res.json as { error: string }).error, error);
      assert.equal((await get(server, '/jobs', { Authorization: header })).status, 401);
    }

    const list = await apiKeys(server, 'list');
    assert.match(list.stdout, /^caisse-1\tcreated \S+\tactive$/m);
    assert.ok(!list.stdout.includes(key), 'the list never shows a key');
    const revoked = await apiKeys(server, 'revoke', 'caisse-1');
    assert.equal(revoked.code, 0, revoked.stderr);
    const after = await postJson(server.baseUrl, '/print', { content: 'x' }, { Authorization: `Bearer ${key}` });
    assert.equal(after.status, 401, 'revoked without a restart');
    assert.match((after.json as { error: string }).error, /revoked/);
    const again = await apiKeys(server, 'revoke', 'caisse-1');
    assert.equal(again.code, 1);
    assert.match(again.stderr, /no active API key named "caisse-1"/);
    assert.equal((await apiKeys(server, 'revoke', 'unknown')).code, 1);
    assert.match((await apiKeys(server, 'list')).stdout, /caisse-1\tcreated \S+\trevoked \S+/);
    assert.ok(!logs.text().includes(key), 'the key is never logged');
    assert.ok(!logs.text().includes(key.slice(3)), 'not even part of it');
  },
);

testEachMode(
  'API_KEYS_REQUIRED closes the JSON API to callers without a key; the page and its form (with the page’s token) stay open',
  async (t, mode) => {
    const server = await startTestServer(t, { mqttPort: -1, apiKeysRequired: true }, { mode });
    const key = await createKey(server, 'backend');
    const refused = await postJson(server.baseUrl, '/print', { content: 'x' });
    assert.equal(refused.status, 401);
    assert.match((refused.json as { error: string }).error, /requires an API key/);
    for (const route of ['/jobs', '/jobs/1', '/printers']) assert.equal((await get(server, route)).status, 401, route);
    assert.equal((await get(server, '/jobs', { Authorization: `Bearer ${key}` })).status, 200);
    assert.equal(
      (await postJson(server.baseUrl, '/print', { content: 'x' }, { Authorization: `Bearer ${key}` })).status,
      201,
    );
    const pageAnswer = await get(server, '/');
    assert.equal(pageAnswer.status, 200);
    const token = /name="formToken" value="([^"]+)"/.exec(await pageAnswer.text())?.[1];
    assert.ok(token, 'the page carries a form token');
    const form = await fetch(server.baseUrl + '/print', {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `content=Depuis+la+page&formToken=${encodeURIComponent(token)}`,
    });
    assert.equal(form.status, 303);
    const htmx = await fetch(server.baseUrl + '/print', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'HX-Request': 'true', 'X-Form-Token': token },
      body: 'content=Depuis+htmx',
    });
    assert.equal(htmx.status, 201);
    // A form that did not come from the page (no token) is an API caller without a key.
    for (const headers of [{}, { 'HX-Request': 'true' }] as Array<Record<string, string>>) {
      const forged = await fetch(server.baseUrl + '/print', {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: 'content=Sans+jeton',
      });
      assert.equal(forged.status, 401, JSON.stringify(headers));
    }
  },
);

testEachMode(
  'a key has its own limit instead of the per-address one, counted across instances on PostgreSQL',
  async (t, mode) => {
    const limits = { mqttPort: -1, printRate: { perMinute: 1, burst: 1 }, apiKeyRatePerMinute: 4 };
    const a = await startTestServer(t, limits, { mode });
    const b = mode === 'external' ? await startTestServer(t, limits, { join: a }) : a;
    const key = await createKey(a, 'pos');
    const other = await createKey(a, 'pos-2');
    const auth = (k: string) => ({ Authorization: `Bearer ${k}` });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await postJson((i % 2 ? b : a).baseUrl, '/print', { content: `k${i}` }, auth(key))).status);
    assert.deepEqual(statuses, [201, 201, 201, 201, 429], 'four a minute for this key, on whichever instance');
    const limited = await postJson(b.baseUrl, '/print', { content: 'x' }, auth(key));
    assert.match((limited.json as { error: string }).error, /this API key has used its 4 jobs a minute/);
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
    assert.equal(
      (await postJson(a.baseUrl, '/print', { content: 'x' }, auth(other))).status,
      201,
      'another key has its own limit',
    );
    assert.deepEqual(
      [
        (await postJson(a.baseUrl, '/print', { content: 'x' })).status,
        (await postJson(a.baseUrl, '/print', { content: 'x' })).status,
      ],
      [201, 429],
      'without a key: the per-address limit',
    );
  },
);
