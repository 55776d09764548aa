/**
 * Cross-site form posts without Origin (issue 20, finding 9), over real HTTP: when a browser sends no
 * Origin, its Referer (and Sec-Fetch-Site when present) says where the form came from.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestServer } from '../../support/harness';

test('a form post without Origin but with a foreign Referer is refused (403); the page’s own, and scripts, still post', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1, adminPassword: 'admin-password-for-cross-site' });
  const page = await (await fetch(`${server.baseUrl}/`)).text();
  const token = /name="formToken" value="([^"]+)"/.exec(page)![1]!;
  const post = (path: string, body: string, headers: Record<string, string>) =>
    fetch(`${server.baseUrl}${path}`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body,
    });
  const withToken = `content=Bonjour&formToken=${encodeURIComponent(token)}`;
  const foreign: Array<Record<string, string>> = [
    { Referer: 'https://elsewhere.example/page.html' },
    { Referer: 'http://127.0.0.1.evil.example/' },
    { Referer: `http://127.0.0.1:${server.httpPort + 1}/` },
    { Referer: 'https://elsewhere.example/', 'Sec-Fetch-Site': 'cross-site' },
  ];
  for (const headers of foreign) {
    const refused = await post('/print', withToken, headers);
    assert.equal(refused.status, 403, JSON.stringify(headers));
    assert.match(await refused.text(), /autre site/);
  }
  const admin = await post('/admin/login', 'password=admin-password-for-cross-site', {
    Referer: 'https://elsewhere.example/',
  });
  assert.equal(admin.status, 403, 'the admin login too');
  assert.equal((await server.jobs.queries.list({ limit: 10 })).length, 0, 'nothing stored');

  const own = { Referer: `${server.baseUrl}/` };
  assert.equal((await post('/print', withToken, own)).status, 303, 'the page’s own form');
  assert.equal((await post('/print', 'content=Bonjour', own)).status, 403, 'a browser without the form token');
  assert.equal((await post('/print', 'content=Bonjour', {})).status, 303, 'a script (no browser headers)');
});
