/** A job id in a path: parseJobId (hand-written, on every GET /jobs/:id) keeps exactly JobId's rules (the schema the document shows). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobId, parseJobId } from '../../../../broker-server/http/api/validation';

test('parseJobId accepts and refuses exactly what the JobId schema does', () => {
  const inputs: unknown[] = [
    '1',
    '42',
    '0',
    '01',
    '-1',
    '1.5',
    '1e3',
    ' 1',
    '1 ',
    '',
    'abc',
    '١٢',
    '9007199254740991',
    '9007199254740992',
    '9999999999999999',
    '10000000000000000',
    42,
    null,
    undefined,
    ['1'],
  ];
  for (let digits = 1; digits <= 17; digits++) inputs.push('9'.repeat(digits), `1${'0'.repeat(digits - 1)}`);
  for (const input of inputs) {
    const parsed = JobId.safeParse(input);
    assert.equal(parseJobId(input), parsed.success ? parsed.data : null, JSON.stringify(input));
  }
  assert.equal(parseJobId('42'), 42);
  assert.equal(parseJobId('9007199254740992'), null);
});
