/** The API description: a valid OpenAPI 3.1 document, with every route the app serves and only those. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import pino from 'pino';
import { AdminSessions, LoginThrottle } from '../../../broker-server/admin/admin-auth';
import { createApp } from '../../../broker-server/http/app';
import { FormTokens } from '../../../broker-server/http/guards/cross-site';
import { HostCheck } from '../../../broker-server/http/guards/host-check';
import { openApiPath } from '../../../broker-server/http/api/openapi';
import { API_OPERATIONS, apiDocument } from '../../../broker-server/http/api-document';
import { StreamLimits } from '../../../broker-server/http/guards/stream-limits';
import { checkAgainstDocument } from '../../support/openapi-check';

test('the document is valid OpenAPI 3.1 (checked by @seriousme/openapi-schema-validator)', async () => {
  const validator = new Validator();
  const result = await validator.validate(structuredClone(apiDocument()) as never);
  assert.deepEqual(result, { valid: true });
  assert.equal(validator.version, '3.1');
});

test('the document is built once: the same object, with unique operation ids', () => {
  assert.equal(apiDocument(), apiDocument());
  const ids = API_OPERATIONS.map((op) => op.operationId);
  assert.equal(new Set(ids).size, ids.length);
});

test('requests are described from the zod schemas that validate them', () => {
  const doc = apiDocument() as {
    paths: Record<string, Record<string, { parameters: Array<{ name: string; in: string }>; requestBody?: unknown }>>;
    components: { schemas: Record<string, { properties: Record<string, { maxLength?: number; pattern?: string }> }> };
  };
  const list = doc.paths['/jobs']!.get!;
  assert.deepEqual(
    list.parameters.map((p) => `${p.in}:${p.name}`),
    ['query:printerId', 'query:since', 'query:until', 'query:cursor', 'query:status', 'query:limit'],
  );
  assert.equal(doc.components.schemas.PrintRequest!.properties.content!.maxLength, 4000);
  assert.ok(
    doc.paths['/print']!.post!.parameters.some((p) => p.in === 'header' && p.name === 'Idempotency-Key'),
    'Idempotency-Key is described',
  );
});

/** The app as the server builds it; only the parts its construction touches are real. */
function buildApp() {
  const unused = {} as never;
  return createApp({
    jobs: unused,
    printers: unused,
    intake: unused,
    live: { handle: () => undefined, handleJson: () => undefined } as never,
    defaultPrinterId: 'printer-1',
    bodyLimitBytes: 16_384,
    printRate: { perMinute: 0, burst: 1 },
    trustProxy: false,
    publicDir: '/nonexistent',
    apiKeys: unused,
    webhooks: unused,
    apiKeyLimiter: null,
    apiKeysRequired: false,
    idempotency: unused,
    log: pino({ level: 'silent' }),
    operations: { checks: [], metrics: unused, metricsToken: null },
    pairing: { service: unused, agentMqttUrl: null },
    agentFiles: unused,
    admin: {
      accounts: unused,
      password: 'x'.repeat(20),
      sessions: new AdminSessions({ ttlMs: 60_000 }),
      throttle: new LoginThrottle({ attempts: 5, lockMs: 60_000 }),
      sessionMs: 60_000,
      agentMqttUrl: null,
    },
    protections: {
      hostCheck: new HostCheck([]),
      formTokens: new FormTokens(Buffer.alloc(32, 1)),
      streamLimits: new StreamLimits({ total: 10, perAddress: 5 }),
      previewRate: { perMinute: 0, burst: 1 },
    },
  });
}

interface Layer {
  route?: { path: string; methods: Record<string, boolean>; stack: Array<{ name: string }> };
  handle: { stack?: Layer[] };
  rawPath?: string;
  name: string;
}

/** `METHOD /path` of every route in the app's router, walking nested routers; a file server mounted at /x is `GET /x/:file`. */
function routesOf(stack: Layer[], prefix = ''): string[] {
  return stack.flatMap((layer) => {
    if (layer.route)
      return Object.keys(layer.route.methods)
        .filter((m) => m !== '_all')
        .map((m) => `${m.toUpperCase()} ${prefix}${layer.route!.path}`);
    if (layer.handle.stack)
      return routesOf(layer.handle.stack, prefix + (layer.rawPath === '/' ? '' : (layer.rawPath ?? '')));
    if (layer.name === 'serveStatic') return [`GET ${prefix}${layer.rawPath}/:file`];
    return [];
  });
}

test('every route the app serves is in the document, and every operation of the document is a route', () => {
  const app = buildApp() as unknown as { router: { stack: Layer[] } };
  const served = routesOf(app.router.stack).map((r) => r.replace(/ (.*)$/, (_, p: string) => ` ${openApiPath(p)}`));
  assert.ok(served.includes('POST /print') && served.includes('GET /admin/api/printers'), served.join(', '));
  const doc = apiDocument() as { paths: Record<string, Record<string, unknown>> };
  const described = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
  );
  assert.deepEqual([...new Set(served)].sort(), described.sort());
});

/** A path a route's pattern matches: each parameter a word, each wildcard two segments, optional groups present. */
const samplePath = (route: string) => route.replace(/:\w+/g, 'x1').replace(/\*\w+/g, 'a/b').replace(/[{}]/g, '');

test('every route is reached: the router that serves it is entered by its paths, and only routers with a route for a path are', () => {
  const app = buildApp() as unknown as {
    router: { stack: Array<Layer & { handle: { enters?: (p: string) => boolean } }> };
  };
  const gated = app.router.stack.filter((layer) => layer.handle.enters && layer.handle.stack);
  assert.ok(gated.length >= 10, 'every router of the app is mounted through enteredByItsPaths');
  for (const layer of gated)
    for (const route of routesOf(layer.handle.stack!)) {
      const path = samplePath(route.slice(route.indexOf(' ') + 1));
      assert.equal(layer.handle.enters!(path), true, `${route} (as ${path})`);
    }
  const enteredBy = (path: string) => gated.filter((layer) => layer.handle.enters!(path)).length;
  assert.equal(enteredBy('/print'), 1);
  assert.equal(enteredBy('/jobs/42'), 1);
  assert.equal(enteredBy('/nothing-here'), 0);
});

/** `METHOD /path` → the names of the handlers of that route, in order. */
function handlersOf(stack: Layer[], prefix = ''): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const layer of stack) {
    if (layer.route)
      for (const m of Object.keys(layer.route.methods))
        found.set(
          `${m.toUpperCase()} ${openApiPath(prefix + layer.route.path)}`,
          layer.route.stack.map((h) => h.name),
        );
    else if (layer.handle.stack)
      for (const [k, v] of handlersOf(
        layer.handle.stack,
        prefix + (layer.rawPath === '/' ? '' : (layer.rawPath ?? '')),
      ))
        found.set(k, v);
  }
  return found;
}

test('API_KEYS_REQUIRED is in the handler chain of every route the document marks apiKey, before the handler', () => {
  const app = buildApp() as unknown as { router: { stack: Layer[] } };
  const handlers = handlersOf(app.router.stack);
  const guarded = API_OPERATIONS.filter((op) => op.auth === 'apiKey');
  assert.ok(guarded.length >= 9, 'the JSON API');
  for (const op of guarded) {
    const route = `${op.method.toUpperCase()} ${openApiPath(op.path)}`;
    const chain = handlers.get(route);
    assert.ok(chain, `${route} is served`);
    const at = chain.indexOf('requireApiKey');
    assert.ok(at >= 0 && at < chain.length - 1, `${route} is guarded: ${chain.join(', ')}`);
  }
});

test('the tests’ response check fails on an answer the document does not describe', () => {
  const json = new Headers({ 'content-type': 'application/json; charset=utf-8' });
  const url = 'http://127.0.0.1:1';
  const job = {
    id: 1,
    uid: '0b6f1c1e-2f4a-4c55-9d3e-8a1b2c3d4e5f',
    printerId: 'printer-1',
    content: 'Hello',
    kind: 'message',
    status: 'pending',
    error: null,
    reprintOf: null,
    createdBy: 'anonymous',
    createdAt: '2026-12-01T08:00:00.000Z',
    updatedAt: '2026-12-01T08:00:00.000Z',
    sentAt: null,
    receivedAt: null,
    printedAt: null,
    finishedAt: null,
  };
  const ok = { method: 'GET', url: `${url}/jobs/1`, status: 200, headers: json, body: job };
  checkAgainstDocument(ok);
  assert.throws(() => checkAgainstDocument({ ...ok, body: { ...job, status: 'lost' } }), /does not match the schema/);
  assert.throws(() => checkAgainstDocument({ ...ok, body: { ...job, surprise: 1 } }), /does not match the schema/);
  assert.throws(() => checkAgainstDocument({ ...ok, body: { ...job, uid: 'job-1' } }), /does not match the schema/);
  assert.throws(
    () => checkAgainstDocument({ ...ok, status: 409, body: { error: 'x' } }),
    /status 409 is not described/,
  );
  assert.throws(
    () => checkAgainstDocument({ ...ok, headers: new Headers({ 'content-type': 'text/html' }) }),
    /content type text\/html is not described/,
  );
  assert.throws(
    () => checkAgainstDocument({ ...ok, url: `${url}/print`, method: 'POST', status: 201 }),
    /header Location is missing/,
  );
  // A path the document does not have: only the server's 404 JSON error is expected there.
  checkAgainstDocument({ ...ok, url: `${url}/nowhere`, status: 404, body: { error: 'nothing at GET /nowhere' } });
  assert.throws(() => checkAgainstDocument({ ...ok, url: `${url}/nowhere` }), /not in \/openapi.json/);
  assert.throws(() => checkAgainstDocument({ ...ok, method: 'DELETE' }), /not in \/openapi.json/);
});
