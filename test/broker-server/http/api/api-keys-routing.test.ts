/**
 * API_KEYS_REQUIRED against every spelling of every route (issue 20, finding 1): the guard is in each route's
 * own handler chain and a path routes only as the document writes it, so no case, slash or percent-encoding
 * reaches a route without passing its guard. A real server over loopback, requests sent byte for byte with
 * node:http (fetch would tidy the path), and a property-based walk of /openapi.json with fast-check.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import fc from 'fast-check';
import { API_OPERATIONS } from '../../../../broker-server/http/api-document';
import { runServerCommand } from '../../../support/child-programs';
import { startTestServer, type TestServer } from '../../../support/harness';

interface Answer {
  status: number;
  body: string;
}

/** One request with the path exactly as given; an event stream is read no further than its status. */
function send(
  server: TestServer,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.httpPort, method, path, headers, agent: false },
      (res) => {
        if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
          res.destroy();
          return resolve({ status: res.statusCode!, body: '' });
        }
        let text = '';
        res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function createKey(server: TestServer): Promise<string> {
  const created = await runServerCommand(server, 'broker-server/api-keys-command.ts', ['create', 'routing-test']);
  assert.equal(created.code, 0, created.stderr);
  return created.stdout.trim().split('\n').at(-1)!;
}

/** The routes the document marks `apiKey`, with their path parameters filled in (`{id}` → a job or a printer that exists). */
async function guardedRoutes(server: TestServer, key: string): Promise<Array<{ method: string; path: string }>> {
  const doc = JSON.parse((await send(server, 'GET', '/openapi.json', { Authorization: `Bearer ${key}` })).body) as {
    paths: Record<string, Record<string, { operationId: string }>>;
  };
  const auth = new Map(API_OPERATIONS.map((op) => [op.operationId, op.auth]));
  const routes = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([, op]) => auth.get(op.operationId) === 'apiKey')
      .map(([method]) => ({
        method: method.toUpperCase(),
        path: path.replace('/jobs/{id}', '/jobs/1').replace('/printers/{id}', '/printers/printer-1'),
      })),
  );
  assert.ok(!routes.some((r) => r.path.includes('{')), 'every parameter filled');
  return routes;
}

const letters = (path: string, change: (c: string, i: number) => string) =>
  [...path].map((c, i) => (/[a-z]/i.test(c) ? change(c, i) : c)).join('');
const percent = (c: string) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`;

/** The spellings the review used, and more: each must be refused (never 2xx, never a redirect) without a key. */
function spellings(path: string): string[] {
  const firstLetter = path.search(/[a-z]/i);
  return [
    path.toUpperCase(),
    letters(path, (c, i) => (i % 2 ? c.toUpperCase() : c)),
    letters(path, (c, i) => (i === firstLetter ? c.toUpperCase() : c)),
    `${path}/`,
    `/${path}`,
    path.replace(/\/(?=[^/]*$)/, '//'),
    letters(path, (c, i) => (i === firstLetter ? percent(c) : c)),
    letters(path, (c, i) => (i === firstLetter ? percent(c).toLowerCase() : c)),
    letters(path, percent),
    `${path}/.`,
    `${path};x`,
    `${path}%2F`,
  ];
}

const JSON_BODY = { 'content-type': 'application/json' };
const bodyFor = (path: string) => (path === '/print' ? '{"content":"sans clé"}' : '{}');

test('with API_KEYS_REQUIRED, no spelling of a route of the document answers without a key (case, slashes, percent-encoding)', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1, apiKeysRequired: true });
  const key = await createKey(server);
  const auth = { Authorization: `Bearer ${key}` };
  assert.equal((await send(server, 'POST', '/print', { ...JSON_BODY, ...auth }, bodyFor('/print'))).status, 201);
  const routes = await guardedRoutes(server, key);
  assert.deepEqual(
    routes.map((r) => `${r.method} ${r.path}`).sort(),
    [
      'GET /jobs',
      'GET /jobs/1',
      'GET /jobs/events',
      'GET /openapi.json',
      'GET /printers',
      'GET /webhooks/deliveries',
      'POST /jobs/1/reprint',
      'POST /print',
      'POST /printers/printer-1/test',
    ].sort(),
  );
  const jobsBefore = (await server.jobs.queries.list({ limit: 100 })).length;
  for (const { method, path } of routes) {
    const headers = method === 'POST' ? JSON_BODY : {};
    const body = method === 'POST' ? bodyFor(path) : undefined;
    const canonical = await send(server, method, path, headers, body);
    assert.equal(canonical.status, 401, `${method} ${path}`);
    for (const spelled of spellings(path)) {
      const answer = await send(server, method, spelled, headers, body);
      assert.ok(answer.status >= 400, `${method} ${spelled} answered ${answer.status} without a key: ${answer.body}`);
      // A form, as a script would post it without the page's token: no longer "the page".
      if (method === 'POST') {
        const form = await send(
          server,
          method,
          spelled,
          { 'content-type': 'application/x-www-form-urlencoded' },
          'content=x',
        );
        assert.ok(form.status >= 400, `form ${method} ${spelled} answered ${form.status}`);
      }
    }
  }
  assert.equal((await server.jobs.queries.list({ limit: 100 })).length, jobsBefore, 'no job made without a key');
  // The key still opens the canonical spelling of each.
  for (const { method, path } of routes.filter((r) => r.method === 'GET')) {
    const answer = await send(server, method, path, auth);
    assert.equal(answer.status, 200, `${method} ${path} with the key`);
  }
});

test('property: random spellings, methods, headers and bodies on every apiKey route of /openapi.json never get a 2xx without a key', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1, apiKeysRequired: true });
  const key = await createKey(server);
  assert.equal(
    (await send(server, 'POST', '/print', { ...JSON_BODY, Authorization: `Bearer ${key}` }, bodyFor('/print'))).status,
    201,
  );
  const routes = await guardedRoutes(server, key);
  const jobsBefore = (await server.jobs.queries.list({ limit: 100 })).length;

  const spelledPath = (path: string) =>
    fc
      .record({
        chars: fc.array(fc.constantFrom('keep', 'upper', 'lower', 'percent', 'percent-lower'), {
          minLength: path.length,
          maxLength: path.length,
        }),
        doubled: fc.array(fc.boolean(), { minLength: path.length, maxLength: path.length }),
        trailing: fc.constantFrom('', '/', '//', '/.', '%2F', '?lastEventId=0'),
      })
      .map(({ chars, doubled, trailing }) =>
        [...path]
          .map((c, i) => {
            if (c === '/') return doubled[i] ? '//' : '/';
            if (!/[a-z]/i.test(c)) return c;
            const how = chars[i];
            if (how === 'upper') return c.toUpperCase();
            if (how === 'lower') return c.toLowerCase();
            if (how === 'percent') return percent(c);
            if (how === 'percent-lower') return percent(c).toLowerCase();
            return c;
          })
          .join('')
          .concat(trailing),
      );
  const request = fc.constantFrom(...routes).chain((route) =>
    fc.record({
      route: fc.constant(route),
      path: fc.oneof(fc.constant(route.path), spelledPath(route.path)),
      method: fc.oneof(fc.constant(route.method), fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD')),
      contentType: fc.constantFrom(
        undefined,
        'application/json',
        'application/x-www-form-urlencoded',
        'text/plain',
        'application/json; charset=utf-8',
      ),
      htmx: fc.boolean(),
      browser: fc.constantFrom(undefined, 'same-origin', 'none', 'cross-site'),
      body: fc.oneof(
        fc.constant(undefined),
        fc.string({ maxLength: 40 }).map((content) => JSON.stringify({ content })),
        fc.string({ maxLength: 40 }).map((content) => `content=${encodeURIComponent(content)}`),
        fc.json({ maxDepth: 2 }),
      ),
    }),
  );
  await fc.assert(
    fc.asyncProperty(request, async (r) => {
      const headers: Record<string, string> = {};
      if (r.contentType) headers['content-type'] = r.contentType;
      if (r.htmx) headers['HX-Request'] = 'true';
      if (r.browser) headers['Sec-Fetch-Site'] = r.browser;
      const withBody = r.method !== 'GET' && r.method !== 'HEAD';
      const answer = await send(server, r.method, r.path, headers, withBody ? r.body : undefined);
      assert.ok(
        answer.status >= 400 || answer.status < 200,
        `${r.method} ${r.path} (${JSON.stringify(headers)}) answered ${answer.status} without a key: ${answer.body.slice(0, 200)}`,
      );
    }),
    { numRuns: 400 },
  );
  assert.equal((await server.jobs.queries.list({ limit: 100 })).length, jobsBefore, 'no job made without a key');
});
