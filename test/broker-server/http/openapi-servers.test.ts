/**
 * For integrators: /openapi.json names the server it was fetched from (`servers`, what Redocly's
 * no-empty-servers rule asks for), still a valid OpenAPI 3.1 document; /metrics has Node's default metrics
 * under Prometheus' standard names and Printhop's own as printhop_*.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startTestServer } from '../../support/harness';

/** GET with a chosen Host header (fetch does not let one set it). */
function getWithHost(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

test('/openapi.json has a servers entry for the address it was fetched from, and stays valid', async (t) => {
  const server = await startTestServer(t);
  const res = await fetch(`${server.baseUrl}/openapi.json`);
  const doc = (await res.json()) as { servers: Array<{ url: string }> };
  assert.deepEqual(
    doc.servers.map((s) => s.url),
    [server.baseUrl],
  );
  const other = await getWithHost(server.httpPort, '/openapi.json', `localhost:${server.httpPort}`);
  assert.equal(other.status, 200);
  assert.deepEqual(
    (JSON.parse(other.body) as { servers: Array<{ url: string }> }).servers.map((s) => s.url),
    [`http://localhost:${server.httpPort}`],
  );
  const validator = new Validator();
  assert.deepEqual(await validator.validate(doc as never), { valid: true });
});

test('/metrics: Node’s default metrics under their standard names, Printhop’s own as printhop_*', async (t) => {
  const server = await startTestServer(t);
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  for (const name of [
    'process_resident_memory_bytes',
    'process_cpu_seconds_total',
    'nodejs_eventloop_lag_seconds',
    'nodejs_heap_size_used_bytes',
    'printhop_jobs_unfinished',
  ])
    assert.match(text, new RegExp(`^${name}[ {]`, 'm'), name);
  assert.doesNotMatch(text, /^printhop_(process|nodejs)_/m);
});
