/**
 * GET /openapi.json over loopback, and the answers the JSON helpers cannot get (HTML, forms, event streams,
 * metrics, a foreign Host) checked against it: every kind of answer of a real server is one it describes.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { apiDocument } from '../../../broker-server/http/api-document';
import { getJson, postJson, startTestServer } from '../../support/harness';
import { checkAgainstDocument } from '../../support/openapi-check';

const ADMIN = 'admin-password-for-the-openapi-test';

test('GET /openapi.json serves the same valid OpenAPI 3.1 document every time, cacheable', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  const first = await fetch(`${server.baseUrl}/openapi.json`);
  assert.equal(first.status, 200);
  assert.match(first.headers.get('content-type') ?? '', /^application\/json/);
  assert.match(first.headers.get('cache-control') ?? '', /public, max-age=\d+/);
  const etag = first.headers.get('etag');
  assert.ok(etag, 'an ETag');
  const doc = await first.json();
  assert.deepEqual(doc, {
    ...JSON.parse(JSON.stringify(apiDocument())),
    servers: [{ url: server.baseUrl, description: 'This Printhop server' }],
  });
  assert.deepEqual(await new Validator().validate(doc as never), { valid: true });
  const again = await getJson(server.baseUrl, '/openapi.json');
  assert.deepEqual(again.json, doc);
  const revalidated = await rawGet(server.httpPort, '/openapi.json', { 'If-None-Match': etag });
  assert.equal(revalidated.status, 304, 'a client that has it is told it has not changed');
  checkAgainstDocument({ method: 'GET', url: `${server.baseUrl}/openapi.json`, ...revalidated });
});

/** A request with fetch, its answer checked against the document; event streams are read no further than their headers. */
async function checked(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const controller = new AbortController();
  const res = await fetch(url, { redirect: 'manual', signal: controller.signal, ...init });
  const type = res.headers.get('content-type') ?? '';
  let body: unknown = '';
  if (type.startsWith('text/event-stream')) controller.abort();
  else {
    const text = await res.text();
    body = type.startsWith('application/json') ? JSON.parse(text) : text;
  }
  const answer = { method: init.method ?? 'GET', url, status: res.status, headers: res.headers, body };
  checkAgainstDocument(answer);
  return answer;
}

test('every kind of answer a real server gives is described: pages, forms, htmx, streams, metrics, errors', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1, adminPassword: ADMIN });
  const url = (path: string) => server.baseUrl + path;
  const form = { 'content-type': 'application/x-www-form-urlencoded' };

  assert.equal((await checked(url('/'))).status, 200);
  assert.equal((await checked(url('/static/style.css'))).status, 200);
  assert.equal((await checked(url('/vendor/htmx.min.js'))).status, 200);
  assert.equal((await checked(url('/vendor/nothing.js'))).status, 404);
  assert.equal((await checked(url('/events'))).status, 200);
  assert.equal((await checked(url('/jobs/events'))).status, 200);
  assert.equal((await checked(url('/metrics'))).status, 200);
  assert.equal((await checked(url('/health'))).status, 200);

  // The page's forms: htmx gets HTML, a form without JavaScript a redirect, a refusal HTML.
  const htmx = await checked(url('/print'), {
    method: 'POST',
    headers: { ...form, 'HX-Request': 'true' },
    body: 'content=Bonjour',
  });
  assert.equal(htmx.status, 201);
  const plain = await checked(url('/print'), { method: 'POST', headers: form, body: 'content=Bonjour+encore' });
  assert.equal(plain.status, 303);
  assert.equal((await checked(url('/print'), { method: 'POST', headers: form, body: 'content=+' })).status, 400);
  const preview = await checked(url('/fragments/preview'), {
    method: 'POST',
    headers: { ...form, 'HX-Request': 'true' },
    body: 'content=Bonjour',
  });
  assert.equal(preview.status, 200);
  const foreign = await checked(url('/print'), {
    method: 'POST',
    headers: { 'content-type': 'application/json', Origin: 'https://elsewhere.example' },
    body: '{"content": "x"}',
  });
  assert.equal(foreign.status, 403);

  // The JSON API's refusals.
  const json = { 'content-type': 'application/json' };
  assert.equal((await checked(url('/print'), { method: 'POST', headers: json, body: '{"content":' })).status, 400);
  assert.equal(
    (await checked(url('/print'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })).status,
    415,
  );
  const tooBig = await checked(url('/print'), { method: 'POST', headers: json, body: 'x'.repeat(200_000) });
  assert.equal(tooBig.status, 413);
  assert.equal((await postJson(server.baseUrl, '/print', { content: 'x', printerId: 'nowhere' })).status, 422);
  assert.equal((await checked(url('/jobs'), { headers: { Authorization: 'Bearer nope' } })).status, 401);
  assert.equal((await checked(url('/nothing-here'))).status, 404);

  // Pages of jobs, with the Link header described.
  const page = await checked(url('/jobs?limit=1'));
  assert.match(page.headers.get('link') ?? '', /rel="next"/);

  // The admin API and its refusals.
  const admin = { Authorization: `Bearer ${ADMIN}` };
  assert.equal((await checked(url('/admin/api/printers'), { headers: admin })).status, 200);
  const added = await checked(url('/admin/api/printers'), {
    method: 'POST',
    headers: { ...admin, ...json },
    body: '{"printerId": "shop-9"}',
  });
  assert.equal(added.status, 201);
  assert.equal(
    (await checked(url('/admin/api/printers/shop-9/rotate'), { method: 'POST', headers: admin })).status,
    200,
  );
  assert.equal((await checked(url('/admin/api/printers/shop-9'), { method: 'DELETE', headers: admin })).status, 200);
  assert.equal((await checked(url('/admin/api/printers/shop-9'), { method: 'DELETE', headers: admin })).status, 404);
  assert.equal((await checked(url('/admin/api/printers'), { headers: { Authorization: 'Bearer wrong' } })).status, 401);
  assert.equal((await checked(url('/admin'))).status, 200);
});

/** A GET with node:http, which sends the headers as given (fetch adds `Cache-Control` and cannot set `Host`). */
function rawGet(port: number, path: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: Headers; body: string }>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: new Headers(res.headers as Record<string, string>), body }),
      );
    });
    req.on('error', reject);
  });
}

test('a foreign Host header gets the 421 the document describes for every route', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  const answer = await rawGet(server.httpPort, '/jobs', { Host: 'rebound.example' });
  assert.equal(answer.status, 421);
  checkAgainstDocument({ method: 'GET', url: `${server.baseUrl}/jobs`, ...answer });
});
