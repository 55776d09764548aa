/** The pairing rules (codes, one use, expiry, the secret, rate limit, rotation) with in-memory stores and a fake clock. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { LoginThrottle } from '../../../broker-server/admin/admin-auth';
import { JobService } from '../../../broker-server/jobs/job-service';
import { PairingError, PairingService } from '../../../broker-server/pairing/pairing-service';
import { PrinterRegistry } from '../../../broker-server/printers/printer-registry';
import { formatPairingCode, normalizePairingCode, PairingClaim } from '../../../protocol/pairing';
import { MemoryPrintStore } from '../../support/memory-print-store';
import { MemoryPairingStore } from '../../support/memory-pairing-store';
import { MemoryPrinterAccountStore } from '../../support/memory-printer-account-store';

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const AGENT = { machine: 'caisse-1', platform: 'linux-arm64', printer: 'usb', agentVersion: '0.1.0' };
const MQTT = 'ws://printhop.test:3000/mqtt';
const CODE_MS = 600_000;

async function setup(
  options: { enabled?: boolean; ratePerMinute?: number; maxPending?: number; drawCode?: () => string } = {},
) {
  let now = Date.parse('2026-12-06T09:00:00Z');
  const clock = { now: () => now, advance: (ms: number) => (now += ms) };
  const accountStore = new MemoryPrinterAccountStore();
  const accounts = new PrinterRegistry(
    accountStore,
    new JobService(new MemoryPrintStore(), log),
    { seed: () => ({ 'printer-1': 'a-token-of-printer-1-xxxx' }) },
    log,
  );
  await accounts.start();
  const store = new MemoryPairingStore();
  const pairing = new PairingService(
    store,
    accounts,
    {
      enabled: options.enabled ?? true,
      codeMs: CODE_MS,
      ratePerMinute: options.ratePerMinute ?? 10,
      maxPending: options.maxPending,
      drawCode: options.drawCode,
    },
    log,
    clock.now,
  );
  return { pairing, accounts, store, clock };
}

async function refusal(promise: Promise<unknown>, status: number): Promise<PairingError> {
  const err = await promise.then(
    () => assert.fail(`expected a ${status} refusal`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof PairingError, `a PairingError, got ${String(err)}`);
  assert.equal(err.status, status, err.message);
  assert.ok(err.messageFr.length > 0);
  return err;
}

test('codes are 6 digits, shown as 482-913, typed with or without the dash', () => {
  assert.equal(formatPairingCode('482913'), '482-913');
  assert.equal(normalizePairingCode('482-913'), '482913');
  assert.equal(normalizePairingCode(' 482 913 '), '482913');
  assert.equal(normalizePairingCode('048291'), '048291');
  for (const bad of ['48291', '4829134', 'abcdef', '', 482913, null, '482-91x', '1'.repeat(40)])
    assert.equal(normalizePairingCode(bad), null, String(bad));
});

test('a request gets a 6-digit code, a secret and an expiry; the claim is pending until approved', async () => {
  const { pairing, clock } = await setup();
  const started = await pairing.request(AGENT, '10.0.0.5');
  assert.match(started.code, /^\d{6}$/);
  assert.ok(started.secret.length >= 40, 'a long secret');
  assert.equal(Date.parse(started.expiresAt), clock.now() + CODE_MS);
  const claim = await pairing.claim(started.id, started.secret, MQTT);
  assert.deepEqual(PairingClaim.parse(claim), { status: 'pending', expiresAt: started.expiresAt });
  const [pending] = await pairing.pending();
  assert.equal(pending!.code, started.code);
  assert.equal(pending!.machine, 'caisse-1');
  assert.equal(pending!.platform, 'linux-arm64');
  assert.equal(pending!.printer, 'usb');
  assert.ok(!JSON.stringify(await pairing.pending()).includes(started.secret), 'the list never shows the secret');
});

test('approval adds the printer; only the secret holder gets its token, once, and the token opens its account', async () => {
  const { pairing, accounts } = await setup();
  const started = await pairing.request(AGENT, '10.0.0.5');
  const approved = await pairing.approve(formatPairingCode(started.code), 'cuisine');
  assert.deepEqual(approved, { code: started.code, printerId: 'cuisine', replaced: false, machine: 'caisse-1' });
  assert.ok(accounts.isActive('cuisine'), 'the printer is in the registry from the approval');

  await refusal(pairing.claim(started.id, 'not-the-secret', MQTT), 401);
  await refusal(pairing.claim('0'.repeat(32), started.secret, MQTT), 401);
  await refusal(pairing.claim('../../etc', started.secret, MQTT), 401);

  const claim = await pairing.claim(started.id, started.secret, MQTT);
  assert.equal(claim.status, 'approved');
  if (claim.status !== 'approved') return;
  assert.equal(claim.printerId, 'cuisine');
  assert.equal(claim.mqttUrl, MQTT);
  assert.ok(accounts.verify('cuisine', claim.token), 'the claimed token opens the account');
  assert.ok(!accounts.verify('cuisine', 'x'.repeat(32)));

  // Claimed once: a second claim, even with the secret, gets nothing, and the token stays the agent's.
  await refusal(pairing.claim(started.id, started.secret, MQTT), 410);
  assert.ok(accounts.verify('cuisine', claim.token));
});

test('a code is used once: a second approval is refused, and nothing changes', async () => {
  const { pairing, accounts } = await setup();
  const started = await pairing.request(AGENT, '10.0.0.5');
  await pairing.approve(started.code, 'cuisine');
  const err = await refusal(pairing.approve(started.code, 'bar'), 409);
  assert.equal(err.wrongCode, false);
  assert.ok(!accounts.isActive('bar'));
  assert.deepEqual(await pairing.pending(), []);
});

test('a code expires after its time: not approvable, the claim says expired, it leaves the list', async () => {
  const { pairing, clock, accounts } = await setup();
  const started = await pairing.request(AGENT, '10.0.0.5');
  clock.advance(CODE_MS - 1);
  assert.equal((await pairing.pending()).length, 1);
  clock.advance(1);
  assert.deepEqual(await pairing.pending(), []);
  const err = await refusal(pairing.approve(started.code, 'cuisine'), 410);
  assert.equal(err.wrongCode, false);
  assert.ok(!accounts.isActive('cuisine'), 'nothing reaches the registry');
  await refusal(pairing.claim(started.id, started.secret, MQTT), 410);
  // After the next request has swept it, still expired, never wrong.
  await pairing.request(AGENT, '10.0.0.6');
  assert.equal((await refusal(pairing.approve(started.code, 'cuisine'), 410)).wrongCode, false);
});

test('a wrong code is a 404 marked as a guess; malformed codes and ids are 400 and no guess', async () => {
  const { pairing, store } = await setup();
  const started = await pairing.request(AGENT, '10.0.0.5');
  const wrong = String((Number(started.code) + 1) % 1_000_000).padStart(6, '0');
  assert.equal((await refusal(pairing.approve(wrong, 'cuisine'), 404)).wrongCode, true);
  assert.equal((await refusal(pairing.approve('12345', 'cuisine'), 400)).wrongCode, false);
  assert.equal((await refusal(pairing.approve(started.code, 'bad id'), 400)).wrongCode, false);
  assert.equal((await refusal(pairing.approve(started.code, 'debug'), 400)).wrongCode, false);
  assert.equal([...store.rows.values()][0]!.status, 'pending', 'still approvable after the refusals');
});

test('wrong codes count against the admin lock-out like wrong passwords', () => {
  const throttle = new LoginThrottle({ attempts: 3, lockMs: 60_000 });
  assert.deepEqual(throttle.recordFailure('10.0.0.9'), { ok: false, reason: 'wrong-password' });
  // The admin API checks the password on every request: that does not forgive the wrong codes.
  assert.deepEqual(throttle.attempt('10.0.0.9', 'the-right-password', 'the-right-password'), { ok: true });
  assert.deepEqual(throttle.recordFailure('10.0.0.9'), { ok: false, reason: 'wrong-password' });
  assert.equal(throttle.recordFailure('10.0.0.9').ok, false);
  // Locked: even the right password is refused now, from that address only.
  const verdict = throttle.attempt('10.0.0.9', 'the-right-password', 'the-right-password');
  assert.equal(verdict.ok, false);
  assert.equal(!verdict.ok && verdict.reason, 'locked');
  assert.deepEqual(throttle.attempt('10.0.0.10', 'the-right-password', 'the-right-password'), { ok: true });
});

test('approving an existing printer id rotates its token at once, then hands the agent a new one', async () => {
  const { pairing, accounts } = await setup();
  assert.ok(accounts.verify('printer-1', 'a-token-of-printer-1-xxxx'));
  const started = await pairing.request(AGENT, '10.0.0.5');
  const approved = await pairing.approve(started.code, 'printer-1');
  assert.equal(approved.replaced, true);
  assert.ok(!accounts.verify('printer-1', 'a-token-of-printer-1-xxxx'), 'the old agent is cut off at approval');
  const claim = await pairing.claim(started.id, started.secret, MQTT);
  assert.ok(claim.status === 'approved' && accounts.verify('printer-1', claim.token));
});

test('a printer removed between approval and claim: the claim is a 410, so the agent asks for a new code', async () => {
  const { pairing, accounts } = await setup();
  const started = await pairing.request(AGENT, '10.0.0.5');
  await pairing.approve(started.code, 'cuisine');
  await accounts.remove('cuisine');
  await refusal(pairing.claim(started.id, started.secret, MQTT), 410);
  assert.ok(!accounts.isActive('cuisine'));
});

test('a registry refusal puts the code back, still approvable', async () => {
  const { pairing, accounts } = await setup();
  const started = await pairing.request(AGENT, '10.0.0.5');
  const add = accounts.add.bind(accounts);
  accounts.add = async () => {
    throw new Error('broker refused');
  };
  await assert.rejects(pairing.approve(started.code, 'cuisine'), /broker refused/);
  accounts.add = add;
  assert.equal((await pairing.pending()).length, 1);
  assert.equal((await pairing.approve(started.code, 'cuisine')).printerId, 'cuisine');
});

test('pairing requests are rate limited per address, and pending pairings are bounded', async () => {
  const { pairing } = await setup({ ratePerMinute: 2, maxPending: 3 });
  await pairing.request(AGENT, '10.0.0.1');
  await pairing.request(AGENT, '10.0.0.1');
  const limited = await refusal(pairing.request(AGENT, '10.0.0.1'), 429);
  assert.ok(limited.retryAfterSeconds && limited.retryAfterSeconds > 0);
  await pairing.request(AGENT, '10.0.0.2');
  await refusal(pairing.request(AGENT, '10.0.0.3'), 503);
});

test('a code held by a pending pairing is drawn again; an ended pairing’s code may come back', async () => {
  const draws = ['111111', '111111', '111111', '222222', '111111'];
  const { pairing, clock } = await setup({ drawCode: () => draws.shift()! });
  const first = await pairing.request(AGENT, '10.0.0.1');
  const second = await pairing.request(AGENT, '10.0.0.1');
  assert.deepEqual([first.code, second.code], ['111111', '222222']);
  assert.deepEqual(draws, ['111111']);
  clock.advance(CODE_MS);
  const third = await pairing.request(AGENT, '10.0.0.1');
  assert.equal(third.code, '111111', 'the expired pairing no longer holds it');
  assert.equal((await pairing.approve('111111', 'cuisine')).machine, 'caisse-1');
  await refusal(pairing.claim(first.id, first.secret, MQTT), 410);
  assert.equal((await pairing.claim(third.id, third.secret, MQTT)).status, 'approved');
});

test('PAIRING=false refuses every step with 404 and lists nothing', async () => {
  const { pairing } = await setup({ enabled: false });
  assert.equal(pairing.enabled, false);
  await refusal(pairing.request(AGENT, '10.0.0.1'), 404);
  await refusal(pairing.approve('123456', 'cuisine'), 404);
  await refusal(pairing.claim('0'.repeat(32), 'x', MQTT), 404);
  assert.deepEqual(await pairing.pending(), []);
});
