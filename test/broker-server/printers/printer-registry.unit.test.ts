/** The printer registry's rules (add, rotate, remove, seed) with in-memory stores: no broker, no database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { JobService } from '../../../broker-server/jobs/job-service';
import {
  type BrokerAccountControl,
  PrinterRegistry,
  PrinterAdminError,
  REMOVED_PRINTER_ERROR,
} from '../../../broker-server/printers/printer-registry';
import { PrinterStatusList } from '../../../broker-server/printers/printer-status-list';
import { followChanges } from '../../support/change-log';
import { MemoryPrintStore } from '../../support/memory-print-store';
import { MemoryPrinterAccountStore } from '../../support/memory-printer-account-store';

const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A broker control that records what it was asked and can refuse. */
function recordingControl(readsRegistry: boolean) {
  const calls: string[] = [];
  let refuse: Error | null = null;
  const control: BrokerAccountControl = {
    name: 'test',
    readsRegistry,
    addPrinter: async (id) => {
      if (refuse) throw refuse;
      calls.push(`add ${id}`);
    },
    setToken: async (id) => {
      if (refuse) throw refuse;
      calls.push(`token ${id}`);
    },
    removePrinter: async (id) => {
      if (refuse) throw refuse;
      calls.push(`remove ${id}`);
    },
  };
  return { control, calls, refuseWith: (err: Error | null) => (refuse = err) };
}

async function setup(options: { seed?: Record<string, string>; readsRegistry?: boolean } = {}) {
  const store = new MemoryPrinterAccountStore();
  const jobStore = new MemoryPrintStore();
  const jobs = new JobService(jobStore, log);
  const broker = recordingControl(options.readsRegistry ?? true);
  const accounts = new PrinterRegistry(store, jobs, { seed: () => options.seed ?? {}, control: broker.control }, log);
  await accounts.start();
  const printers = new PrinterStatusList(jobStore, accounts, log);
  return { store, jobs, jobStore, accounts, broker, printers };
}

async function refused(promise: Promise<unknown>, status: number, pattern: RegExp): Promise<PrinterAdminError> {
  const err = await promise.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof PrinterAdminError, `a PrinterAdminError, got ${String(err)}`);
  assert.equal(err.status, status);
  assert.match(err.message, pattern);
  assert.ok(err.messageFr.length > 0, 'a French message for the page');
  return err;
}

test('an added printer gets a fresh token that opens its account; only its hash is stored', async () => {
  const { accounts, store, broker, printers } = await setup();
  const issued = await accounts.add('shop-7');
  assert.match(issued.token, /^[A-Za-z0-9_-]{32}$/);
  assert.equal(accounts.verify('shop-7', issued.token), true);
  assert.equal(accounts.verify('shop-7', issued.token + 'x'), false);
  assert.equal(accounts.verify('shop-8', issued.token), false);
  const row = store.rows.get('shop-7')!;
  assert.match(row.tokenHash!, /^[0-9a-f]{64}$/);
  assert.ok(!JSON.stringify([...store.rows.values()]).includes(issued.token), 'the token itself is stored nowhere');
  assert.deepEqual(broker.calls, ['add shop-7']);
  assert.equal(await printers.isKnown('shop-7'), true);
  assert.deepEqual(
    (await accounts.list()).map((a) => a.printerId),
    ['shop-7'],
  );
});

test('adding an id that exists, an invalid id or a reserved name is refused and changes nothing', async () => {
  const { accounts, store, broker } = await setup({ seed: { 'printer-1': 'a-seeded-token-of-32-characters!' } });
  await refused(accounts.add('printer-1'), 409, /already exists/);
  await refused(accounts.add('bad/id'), 400, /1-64 characters/);
  await refused(accounts.add('x'.repeat(65)), 400, /1-64 characters/);
  await refused(accounts.add(''), 400, /1-64/);
  await refused(accounts.add(42), 400, /1-64/);
  await refused(accounts.add('debug'), 400, /reserved/);
  await refused(accounts.add('printhop-server'), 400, /reserved/);
  assert.deepEqual([...store.rows.keys()], ['printer-1']);
  assert.deepEqual(broker.calls, []);
  assert.equal(
    accounts.verify('printer-1', 'a-seeded-token-of-32-characters!'),
    true,
    'the existing token still works',
  );
});

test('when the broker refuses a new account, nothing is stored', async () => {
  const { accounts, store, broker } = await setup({ readsRegistry: false });
  broker.refuseWith(new Error('broker says no'));
  await assert.rejects(accounts.add('shop-1'), /broker says no/);
  assert.equal(store.rows.size, 0);
  assert.equal(accounts.isActive('shop-1'), false);
});

test('a rotated token refuses the old one at once and closes the connection (embedded: after the commit)', async () => {
  const { accounts, broker } = await setup();
  const first = await accounts.add('p1');
  const second = await accounts.rotate('p1');
  assert.notEqual(second.token, first.token);
  assert.equal(accounts.verify('p1', first.token), false);
  assert.equal(accounts.verify('p1', second.token), true);
  assert.deepEqual(broker.calls, ['add p1', 'token p1']);
  await refused(accounts.rotate('nope'), 404, /no printer nope/);
});

test('with a broker that holds its own accounts, a refused rotation leaves the old token in force', async () => {
  const { accounts, broker } = await setup({ readsRegistry: false });
  const first = await accounts.add('p1');
  broker.refuseWith(new Error('dynsec down'));
  await assert.rejects(accounts.rotate('p1'), /dynsec down/);
  assert.equal(accounts.verify('p1', first.token), true);
});

test('removing a printer with unfinished jobs needs force; then the jobs never printed end failed, printed ones stay', async (t) => {
  const { accounts, jobs, jobStore, printers } = await setup();
  await accounts.add('p1');
  await accounts.add('p2');
  const printed = await jobs.create({ printerId: 'p1', content: 'déjà imprimé' });
  await jobs.transition(printed.id, 'printed');
  const waiting = await jobs.create({ printerId: 'p1', content: 'en attente' });
  const received = await jobs.create({ printerId: 'p1', content: 'reçu' });
  await jobs.transition(received.id, 'received');
  const other = await jobs.create({ printerId: 'p2', content: 'autre imprimante' });

  const err = await refused(accounts.remove('p1'), 409, /2 unfinished job/);
  assert.deepEqual(err.details.unfinishedJobs, [waiting.id, received.id]);
  assert.equal(accounts.isActive('p1'), true, 'nothing done without force');
  assert.equal((await jobs.queries.get(waiting.id))?.status, 'pending');

  const changes = await followChanges(t, jobStore);
  const removed = await accounts.remove('p1', { force: true });
  assert.deepEqual(removed.failedJobs, [waiting.id, received.id]);
  for (const id of [waiting.id, received.id]) {
    const job = (await jobs.queries.get(id))!;
    assert.equal(job.status, 'failed');
    assert.equal(job.error, REMOVED_PRINTER_ERROR);
  }
  await changes.settled();
  assert.deepEqual(
    changes.seen.map((j) => j.id),
    [waiting.id, received.id],
    'each failure is announced to the page and the streams',
  );
  assert.equal((await jobs.queries.get(printed.id))?.status, 'printed');
  assert.equal((await jobs.queries.get(other.id))?.status, 'pending', "another printer's jobs are untouched");
  assert.equal(await printers.isKnown('p1'), false, 'a removed printer takes no new job');
  assert.equal(await printers.get('p1'), null);
  assert.deepEqual(
    (await printers.list()).map((p) => p.id),
    ['p2'],
  );
  await refused(accounts.remove('p1'), 404, /no printer p1/);
});

test('a printer removed is not brought back by PRINTERS at the next start, but can be added again by hand', async () => {
  const store = new MemoryPrinterAccountStore();
  const jobs = new JobService(new MemoryPrintStore(), log);
  const seed = { 'printer-1': 'token-of-printer-1-from-the-file' };
  const first = new PrinterRegistry(store, jobs, { seed: () => seed }, log);
  await first.start();
  assert.equal(
    first.verify('printer-1', seed['printer-1']),
    true,
    "the token file's printer is migrated with its token",
  );
  await first.remove('printer-1');
  const second = new PrinterRegistry(store, jobs, { seed: () => seed }, log);
  await second.start();
  assert.equal(second.isActive('printer-1'), false);
  assert.equal(second.isRemoved('printer-1'), true);
  assert.equal(second.verify('printer-1', seed['printer-1']), false);
  const again = await second.add('printer-1');
  assert.equal(second.verify('printer-1', again.token), true);
});

test('a failed database write leaves the registry as it was', async () => {
  const { accounts, store } = await setup();
  const issued = await accounts.add('p1');
  store.failNextWrite = new Error('disk full');
  await assert.rejects(accounts.rotate('p1'), /disk full/);
  assert.equal(accounts.verify('p1', issued.token), true);
  store.failNextWrite = new Error('disk full');
  await assert.rejects(accounts.remove('p1'), /disk full/);
  assert.equal(accounts.isActive('p1'), true);
});

test('two operations on one printer at once run one after the other', async () => {
  const { accounts } = await setup();
  const results = await Promise.allSettled([accounts.add('p1'), accounts.add('p1')]);
  assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
});
