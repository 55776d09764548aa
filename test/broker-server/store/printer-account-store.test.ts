/** The printer registry's table on SQLite and PostgreSQL, and two instances sharing it on PostgreSQL. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobService } from '../../../broker-server/jobs/job-service';
import { hashToken, PrinterRegistry } from '../../../broker-server/printers/printer-registry';
import { startTestDatabase, testEachDatabase, testLogger } from '../../support/harness';
import { createTestDatabase, postgresMissing } from '../../support/services';

testEachDatabase('the registry table: seed once, add, rotate, remove to a tombstone, add again', async (t, dialect) => {
  const db = await startTestDatabase(t, dialect);
  const store = db.createPrinterAccountStore();
  assert.equal(await store.seed('p1', hashToken('a')), true);
  assert.equal(await store.seed('p1', hashToken('b')), false, 'a seed never overwrites');
  assert.equal((await store.get('p1'))?.tokenHash, hashToken('a'));
  assert.equal(await store.add('p1', hashToken('c')), false, 'an existing printer is not added twice');
  assert.equal(await store.add('p2', hashToken('d')), true);
  assert.equal(await store.rotate('p2', hashToken('e')), true);
  assert.equal(await store.rotate('nope', hashToken('e')), false);
  assert.equal((await store.get('p2'))?.tokenHash, hashToken('e'));
  assert.equal(await store.remove('p2'), true);
  assert.equal(await store.remove('p2'), false);
  const tomb = (await store.get('p2'))!;
  assert.equal(tomb.tokenHash, null);
  assert.ok(tomb.removedAt && !Number.isNaN(Date.parse(tomb.removedAt)));
  assert.equal(await store.seed('p2', hashToken('f')), false, 'PRINTERS does not bring a removed printer back');
  assert.equal(await store.rotate('p2', hashToken('f')), false);
  assert.equal(await store.add('p2', hashToken('g')), true, 'added again by hand');
  assert.deepEqual(
    (await store.all()).map((r) => [r.printerId, r.tokenHash, r.removedAt]),
    [
      ['p1', hashToken('a'), null],
      ['p2', hashToken('g'), null],
    ],
  );
});

test(
  'two instances on one PostgreSQL database: one adds or removes, the other knows at once for an unknown id and after its refresh',
  { skip: postgresMissing() },
  async (t) => {
    const databaseUrl = await createTestDatabase();
    const open = async () => {
      const db = await startTestDatabase(t, 'postgres', databaseUrl);
      const jobs = new JobService(db.createPrintStore(), testLogger());
      const accounts = new PrinterRegistry(
        db.createPrinterAccountStore(),
        jobs,
        { seed: () => ({}), refreshMs: 100 },
        testLogger(),
      );
      await accounts.start();
      t.after(() => accounts.stop());
      return accounts;
    };
    const [a, b] = [await open(), await open()];
    const issued = await a.add('shared');
    assert.equal(b.isActive('shared'), false, 'not yet read');
    assert.equal(await b.lookup('shared'), true, 'an unknown id is looked up in the database');
    assert.equal(b.verify('shared', issued.token), true);
    const changes: string[] = [];
    b.events.on('printer-account', (c) => changes.push(`${c.change} ${c.printerId}`));
    await a.remove('shared');
    const deadline = Date.now() + 5000;
    while (b.isActive('shared') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(b.isActive('shared'), false, 'the removal reached the other instance');
    assert.equal(b.isRemoved('shared'), true);
    assert.deepEqual(changes, ['removed shared']);
  },
);
