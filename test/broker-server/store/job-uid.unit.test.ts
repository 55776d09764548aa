import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { timeOrderedUid, uidTag, withUid } from '../../../broker-server/store/job-rules';
import { uidTagOf } from '../../../broker-server/webhooks/webhook-events';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const msOf = (uid: string): number => parseInt(uid.slice(0, 8) + uid.slice(9, 13), 16);

test('a new uid is a UUID of version 7: its time in ms first, then random bits', () => {
  const at = Date.UTC(2026, 11, 7, 9, 0, 0, 123);
  const uid = timeOrderedUid(at);
  assert.match(uid, V7);
  assert.equal(msOf(uid), at);
  assert.equal(timeOrderedUid(0).slice(0, 13), '00000000-0000');
  assert.equal(msOf(timeOrderedUid(2 ** 48 - 1)), 2 ** 48 - 1, 'the largest time of 48 bits');
  assert.match(withUid({ printerId: 'p1', content: 'x', kind: 'message', reprintOf: null }).uid, V7);
  assert.equal(withUid({ printerId: 'p1', content: 'x', kind: 'message', reprintOf: null, uid: 'given' }).uid, 'given');
});

test('uids made in the same millisecond are all different; made later, they sort after', () => {
  const at = Date.now();
  const same = Array.from({ length: 20_000 }, () => timeOrderedUid(at));
  assert.equal(new Set(same).size, same.length);
  // 74 random bits: the version digit and the variant's two bits are the only fixed ones after the time.
  const tails = new Set(same.map((u) => u.slice(15, 18)));
  assert.ok(tails.size > 3000, `the 12 bits after the version vary (${tails.size} kinds)`);
  const later = timeOrderedUid(at + 1);
  assert.ok(
    same.every((u) => u < later),
    'a later millisecond sorts after, as text',
  );
  const sorted = [timeOrderedUid(at + 5), timeOrderedUid(at - 5), timeOrderedUid(at)].sort();
  assert.deepEqual(sorted.map(msOf), [at - 5, at, at + 5]);
});

test("a uid's tag is 8 of its random digits: a v4 uid's first 8 (as before), a v7 uid's last 8", () => {
  assert.equal(uidTag('0b6f81c2-1111-4222-8333-444455556666'), '0b6f81c2');
  assert.equal(uidTag('0193a5b2-7c00-7123-8456-00000000beef'), '0000beef');
  const v4 = randomUUID();
  assert.equal(uidTag(v4), v4.replace(/-/g, '').slice(0, 8));
  // Jobs made in the same minute share their first 8 digits, never (but by chance) their tags.
  const at = Date.now();
  const uids = Array.from({ length: 1000 }, (_, i) => timeOrderedUid(at + i));
  assert.equal(new Set(uids.map((u) => u.slice(0, 8))).size <= 2, true);
  assert.ok(new Set(uids.map(uidTag)).size >= 999);
  // The webhook payload's reading (webhook-events.ts) agrees, for both kinds.
  for (const uid of [v4, uids[0]!])
    assert.equal(
      uidTagOf(JSON.stringify({ type: 'job.created', data: { id: 1, uid, reprintOfUid: null } })),
      uidTag(uid),
    );
  assert.equal(uidTagOf('{"data":{"id":1}}'), null);
});
