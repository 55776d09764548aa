/** The admin's authentication rules with a fake clock: lock-out, session expiry, CSRF. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdminSessions, csrfMatches, LoginThrottle, samePassword } from '../../../broker-server/admin/admin-auth';

const PASSWORD = 'correct horse battery';

function clock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

test('the password check is exact', () => {
  assert.equal(samePassword(PASSWORD, PASSWORD), true);
  assert.equal(samePassword(PASSWORD + ' ', PASSWORD), false);
  assert.equal(samePassword('', PASSWORD), false);
});

test('after N wrong passwords an address is locked out, even for the right password, until the lock ends', () => {
  const c = clock();
  const throttle = new LoginThrottle({ attempts: 3, lockMs: 60_000 }, c.now);
  assert.deepEqual(throttle.attempt('10.0.0.1', 'no', PASSWORD), { ok: false, reason: 'wrong-password' });
  assert.deepEqual(throttle.attempt('10.0.0.1', 'no', PASSWORD), { ok: false, reason: 'wrong-password' });
  const third = throttle.attempt('10.0.0.1', 'no', PASSWORD);
  assert.equal(third.ok, false);
  assert.equal(!third.ok && third.reason, 'locked');
  const locked = throttle.attempt('10.0.0.1', PASSWORD, PASSWORD);
  assert.equal(!locked.ok && locked.reason, 'locked');
  assert.equal(!locked.ok && locked.retryAfterSeconds, 60);
  assert.deepEqual(throttle.attempt('10.0.0.2', PASSWORD, PASSWORD), { ok: true }, 'another address is not locked');
  c.advance(30_000);
  const later = throttle.attempt('10.0.0.1', PASSWORD, PASSWORD);
  assert.equal(!later.ok && later.retryAfterSeconds, 30);
  c.advance(30_001);
  assert.deepEqual(throttle.attempt('10.0.0.1', PASSWORD, PASSWORD), { ok: true });
});

test('a success forgets the failures; failures spread over more than the window do not lock', () => {
  const c = clock();
  const throttle = new LoginThrottle({ attempts: 3, lockMs: 60_000, windowMs: 10_000 }, c.now);
  throttle.attempt('a', 'x', PASSWORD);
  throttle.attempt('a', 'x', PASSWORD);
  assert.deepEqual(throttle.attempt('a', PASSWORD, PASSWORD), { ok: true });
  throttle.attempt('a', 'x', PASSWORD);
  throttle.attempt('a', 'x', PASSWORD);
  c.advance(10_001);
  assert.deepEqual(throttle.attempt('a', 'x', PASSWORD), { ok: false, reason: 'wrong-password' });
});

test('the lock-out table is bounded: a flood of addresses cannot grow it without limit', () => {
  const throttle = new LoginThrottle({ attempts: 5, lockMs: 60_000, maxAddresses: 100 });
  for (let i = 0; i < 1000; i++) throttle.attempt(`10.0.${i >> 8}.${i & 255}`, 'x', PASSWORD);
  assert.equal(throttle.trackedAddresses, 100);
});

test('a session expires after its time; an expired one says so once, then is forgotten', () => {
  const c = clock();
  const sessions = new AdminSessions({ ttlMs: 60_000 }, c.now);
  const s = sessions.create();
  assert.equal(sessions.get(s.id)?.id, s.id);
  c.advance(59_999);
  assert.equal(sessions.status(s.id), 'valid');
  c.advance(1);
  assert.equal(sessions.status(s.id), 'expired');
  assert.equal(sessions.get(s.id), null);
  assert.equal(sessions.status(s.id), 'none');
  assert.equal(sessions.get(undefined), null);
  assert.equal(sessions.get('forged'), null);
});

test('sessions are bounded and can be ended', () => {
  const sessions = new AdminSessions({ ttlMs: 60_000, max: 10 });
  const first = sessions.create();
  for (let i = 0; i < 20; i++) sessions.create();
  assert.equal(sessions.size, 10);
  assert.equal(sessions.get(first.id), null, 'the oldest went first');
  const s = sessions.create();
  sessions.destroy(s.id);
  assert.equal(sessions.get(s.id), null);
});

test("the CSRF token must be the session's own: missing, empty, forged or another session's is refused", () => {
  const sessions = new AdminSessions({ ttlMs: 60_000 });
  const a = sessions.create();
  const b = sessions.create();
  assert.equal(csrfMatches(a, a.csrfToken), true);
  assert.equal(csrfMatches(a, undefined), false);
  assert.equal(csrfMatches(a, ''), false);
  assert.equal(csrfMatches(a, a.csrfToken.slice(1)), false);
  assert.equal(csrfMatches(a, b.csrfToken), false);
  assert.equal(csrfMatches(a, [a.csrfToken]), false);
  assert.equal(csrfMatches(null, a.csrfToken), false);
  assert.notEqual(a.csrfToken, a.id, 'the CSRF token is not the cookie');
});

test('a request without a password is not a guess: however many, the address is never locked by them', () => {
  const c = clock();
  const throttle = new LoginThrottle({ attempts: 3, lockMs: 60_000 }, c.now);
  for (let i = 0; i < 50; i++)
    assert.deepEqual(throttle.attempt('10.0.0.1', '', PASSWORD), { ok: false, reason: 'no-password' });
  assert.equal(throttle.trackedAddresses, 0, 'nothing recorded');
  assert.deepEqual(throttle.attempt('10.0.0.1', PASSWORD, PASSWORD), { ok: true });
});
