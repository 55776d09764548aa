/**
 * The admin lock-out over real HTTP (issue 20, finding 3): a web page can make a visitor's browser call
 * the admin API without a password (`<img src="http://printhop:3000/admin/api/printers">`); such requests
 * are not guesses and lock nobody out. Guesses lock out their own address only: the admin at another
 * address that never failed gets in with the right password (requests from 127.0.0.2 and 127.0.0.1).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { startTestServer, type TestServer } from '../../../support/harness';

const ADMIN = 'admin-password-for-the-lockout-test';

/** A request from `from` (any address of 127.0.0.0/8 is this machine's). */
function request(
  server: TestServer,
  from: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: server.httpPort, localAddress: from, method, path, headers, agent: false },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const form = { 'content-type': 'application/x-www-form-urlencoded' };

test('requests without a password lock nobody out; wrong passwords lock their own address only', async (t) => {
  const server = await startTestServer(t, {
    mqttPort: -1,
    adminPassword: ADMIN,
    admin: { sessionMs: 3_600_000, lockoutAttempts: 5, lockoutMs: 900_000 },
  });
  // What six <img> tags (and more) on any web site make the visitor's browser send.
  for (let i = 0; i < 12; i++) {
    const bare = await request(server, '127.0.0.1', 'GET', '/admin/api/printers');
    assert.equal(bare.status, 401);
    assert.match(bare.body, /needs Authorization: Bearer <admin password>/);
  }
  for (let i = 0; i < 6; i++)
    assert.equal((await request(server, '127.0.0.1', 'POST', '/admin/login', form, 'password=')).status, 401);
  const admin = { Authorization: `Bearer ${ADMIN}` };
  assert.equal((await request(server, '127.0.0.1', 'GET', '/admin/api/printers', admin)).status, 200);
  const login = await request(server, '127.0.0.1', 'POST', '/admin/login', form, `password=${ADMIN}`);
  assert.equal(login.status, 303, 'the page login works too');

  // Real guesses from another address lock that address out, not the admin's.
  for (let i = 0; i < 5; i++)
    await request(server, '127.0.0.2', 'GET', '/admin/api/printers', { Authorization: 'Bearer guess' });
  assert.equal((await request(server, '127.0.0.2', 'GET', '/admin/api/printers', admin)).status, 429);
  assert.equal((await request(server, '127.0.0.1', 'GET', '/admin/api/printers', admin)).status, 200);
});
