/**
 * What a message may be (issue 20, findings 7 and 8), over real HTTP: a body that is not UTF-8 and lone
 * surrogates are refused (400) instead of being stored and printed as U+FFFD; a message made only of
 * characters that show nothing (default-ignorable, format, private-use, blank-looking) is empty (400).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestServer, type TestServer } from '../../support/harness';

async function post(server: TestServer, body: Buffer | string, type: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.baseUrl}/print`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': type, ...headers },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
  return { status: res.status, text: await res.text() };
}

const JSON_TYPE = 'application/json';
const FORM = 'application/x-www-form-urlencoded';

test('a body that is not UTF-8, or a lone surrogate, is a 400 and stores nothing', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  const bytes = (...parts: Array<string | number[]>) =>
    Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
  const refused: Array<[string, Buffer | string, string]> = [
    ['JSON with \\xff\\xfe', bytes('{"content":"a', [0xff, 0xfe], 'b"}'), JSON_TYPE],
    ['JSON with a truncated sequence', bytes('{"content":"caf', [0xc3], '"}'), JSON_TYPE],
    ['JSON with an overlong /', bytes('{"content":"a', [0xc0, 0xaf], '"}'), JSON_TYPE],
    ['JSON with an encoded surrogate', bytes('{"content":"a', [0xed, 0xa0, 0x80], 'b"}'), JSON_TYPE],
    ['JSON with \\ud800', '{"content":"a\\ud800b"}', JSON_TYPE],
    ['JSON with a lone low surrogate', '{"content":"\\udc00 x"}', JSON_TYPE],
    ['a form with %FF%FE', 'content=a%FF%FEb', FORM],
    ['a form with a raw \\xff', bytes('content=a', [0xff], 'b'), FORM],
  ];
  for (const [what, body, type] of refused) {
    const answer = await post(server, body, type);
    assert.equal(answer.status, 400, `${what}: ${answer.text}`);
    // A form without JavaScript gets the page again, with the French message.
    assert.match(answer.text, type === FORM ? /caractères invalides/ : /not valid UTF-8|not valid Unicode/, what);
  }
  const htmx = await post(server, 'content=a%FF%FEb', FORM, { 'HX-Request': 'true' });
  assert.equal(htmx.status, 400);
  assert.match(htmx.text, /caractères invalides/);
  assert.equal((await server.jobs.queries.list({ limit: 10 })).length, 0, 'nothing stored');
  for (const ok of ['café 😀', 'a\ufffdb (typed as such)', 'naïve ﬁ']) {
    const answer = await post(server, JSON.stringify({ content: ok }), JSON_TYPE);
    assert.equal(answer.status, 201, ok);
    assert.equal((JSON.parse(answer.text) as { content: string }).content, ok);
  }
  const form = await post(server, `content=${encodeURIComponent('crème brûlée')}`, FORM);
  assert.equal(form.status, 303);
});

const INVISIBLE = [
  '\u00ad',
  '\u034f',
  '\u061c',
  '\u180e',
  '\u2800',
  '\u3164',
  '\u115f',
  '\u1160',
  '\u202e',
  '\u202d',
  '\ue000',
  '\ufffc',
  '\u{e0020}',
  '\u{e0041}\u{e007f}',
  '\ufe0f',
  '\u2066\u2069',
  '\u{f0000}',
  '\uffa0',
];

test('a message with nothing visible is a 400: default-ignorable, format, private-use and blank-looking characters', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  for (const invisible of [...INVISIBLE, INVISIBLE.join(''), `  ${INVISIBLE.join(' \n')}\t`]) {
    const answer = await post(server, JSON.stringify({ content: invisible }), JSON_TYPE);
    const name = [...invisible].map((c) => `U+${c.codePointAt(0)!.toString(16).toUpperCase()}`).join(' ');
    assert.equal(answer.status, 400, `${name}: ${answer.text}`);
    assert.match(answer.text, /the message is empty/, name);
  }
  assert.equal((await server.jobs.queries.list({ limit: 10 })).length, 0, 'nothing stored');
  // Among visible text they do no harm here (the layout drops what it cannot print).
  const mixed = await post(server, JSON.stringify({ content: `Bonjour\u00ad \u202eles amis\u2800` }), JSON_TYPE);
  assert.equal(mixed.status, 201, mixed.text);
  for (const visible of ['·', '_', '😀', '漢']) {
    const answer = await post(server, JSON.stringify({ content: visible }), JSON_TYPE);
    assert.equal(answer.status, 201, `U+${visible.codePointAt(0)!.toString(16)} shows`);
  }
});
