/**
 * The JSON body reader (http/api/json-body.ts) answers as body-parser does: each request is sent to two apps on
 * loopback, one with express.json alone and one with the hand-written reader in front of it, and both answers
 * (status and body, through the app's own error handler) must be the same; the plain cases must not reach
 * body-parser, the others must.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import express, { type RequestHandler } from 'express';
import pino from 'pino';
import { errorHandler } from '../../../broker-server/http/guards/errors';
import { jsonBody } from '../../../broker-server/http/api/json-body';
import { verifyUtf8, verifyUtf8Form } from '../../../broker-server/http/api/validation';
import { pageErrors } from '../../../broker-server/http/page/error-text';

const LIMIT = 200;

function app(reader: (fallback: RequestHandler) => RequestHandler): http.Server {
  const json = express.json({ limit: LIMIT, strict: false, verify: verifyUtf8 });
  const form = express.urlencoded({ extended: false, limit: LIMIT, parameterLimit: 20, verify: verifyUtf8Form });
  const a = express();
  a.post('/echo', reader(json), form, (req, res) => {
    res.json({ body: req.body === undefined ? 'undefined' : (req.body as unknown) });
  });
  a.use(
    errorHandler({
      bodyLimitBytes: LIMIT,
      renderPage: async () => 'page',
      page: pageErrors(LIMIT),
      log: pino({ level: 'silent' }),
    }),
  );
  return a.listen(0, '127.0.0.1');
}

function send(server: http.Server, headers: Record<string, string>, body: Buffer | string | Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: (server.address() as AddressInfo).port, method: 'POST', path: '/echo', headers },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve(`${res.statusCode} ${text}`));
      },
    );
    req.on('error', reject);
    if (Array.isArray(body)) {
      for (const part of body) req.write(part);
      req.end();
    } else req.end(body);
  });
}

const json = (body: Buffer | string, type = 'application/json') => ({
  headers: { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) },
  body,
});

/** [name, request, read by hand?] */
const CASES: Array<[string, { headers: Record<string, string>; body: Buffer | string | Buffer[] }, boolean]> = [
  ['an object', json('{"content":"Hello world","printerId":"p-1"}'), true],
  ['accents, as UTF-8', json('{"content":"Déjà vu — ½ €"}'), true],
  ['an empty body', json(''), true],
  ['null, a string, a number, an array', json('[null,"x",42,[1]]'), true],
  ['charset=utf-8, any case, quoted', json('{"a":1}', 'Application/JSON; charset="UTF-8"'), true],
  ['a byte-order mark', json(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')])), true],
  ['bad JSON', json('{"content": "hi"'), true],
  ['bad JSON, another way', json('{content: 1}'), true],
  ['invalid UTF-8', json(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])), true],
  ['just under the limit', json(`{"a":"${'x'.repeat(LIMIT - 8)}"}`), true],
  [
    'Content-Encoding: identity',
    { headers: { ...json('{"a":1}').headers, 'content-encoding': 'identity' }, body: '{"a":1}' },
    true,
  ],
  ['over the limit', json(`{"a":"${'x'.repeat(LIMIT)}"}`), false],
  ['charset=utf-16le', json(Buffer.from('{"a":"é"}', 'utf16le'), 'application/json; charset=utf-16le'), false],
  ['charset=latin1', json('{"a":1}', 'application/json; charset=latin1'), false],
  [
    'gzip',
    {
      headers: {
        'content-type': 'application/json',
        'content-encoding': 'gzip',
        'content-length': String(gzipSync('{"a":1}').length),
      },
      body: gzipSync('{"a":1}'),
    },
    false,
  ],
  [
    'deflate-like unknown encoding',
    { headers: { 'content-type': 'application/json', 'content-encoding': 'compress' }, body: '{"a":1}' },
    false,
  ],
  [
    'chunked (no Content-Length)',
    { headers: { 'content-type': 'application/json' }, body: [Buffer.from('{"a":'), Buffer.from('1}')] },
    false,
  ],
  [
    'chunked over the limit',
    { headers: { 'content-type': 'application/json' }, body: [Buffer.from('{"a":"'), Buffer.alloc(LIMIT, 0x78)] },
    false,
  ],
  ['text/plain', json('{"a":1}', 'text/plain'), false],
  ['a +json type', json('{"a":1}', 'application/vnd.api+json'), false],
  ['a form', json('content=Hello&printerId=p-1', 'application/x-www-form-urlencoded'), false],
  ['another parameter', json('{"a":1}', 'application/json; profile=x'), false],
];

test('the hand-written JSON reader answers every request as express.json does, and reads the plain ones itself', async (t) => {
  const plain = app((fallback) => fallback);
  let fallbacks = 0;
  const fast = app((fallback) =>
    jsonBody(LIMIT, (req, res, next) => {
      fallbacks++;
      fallback(req, res, next);
    }),
  );
  t.after(() => {
    plain.close();
    fast.close();
  });
  await Promise.all([plain, fast].map((s) => new Promise((resolve) => s.once('listening', resolve))));
  const answers = new Map<string, string>();
  for (const [name, { headers, body }, byHand] of CASES) {
    const before = fallbacks;
    const [expected, actual] = [await send(plain, headers, body), await send(fast, headers, body)];
    assert.equal(actual, expected, name);
    assert.equal(fallbacks === before, byHand, `${name}: ${byHand ? 'read by hand' : 'left to body-parser'}`);
    answers.set(name, actual);
  }
  // What both must answer, so that two broken readers cannot agree.
  assert.equal(answers.get('an object'), '200 {"body":{"content":"Hello world","printerId":"p-1"}}');
  assert.equal(answers.get('an empty body'), '200 {"body":{}}');
  assert.equal(answers.get('a byte-order mark'), '200 {"body":{"a":1}}');
  assert.match(answers.get('bad JSON')!, /^400 \{"error":"the body is not valid JSON \(.+\)"\}$/);
  assert.match(answers.get('invalid UTF-8')!, /^400 \{"error":"the body is not valid UTF-8.*","field":"content"\}$/);
  assert.match(answers.get('over the limit')!, /^413 \{"error":"the body is larger than the 200 bytes allowed"\}$/);
  assert.match(answers.get('charset=latin1')!, /^415 /);
  assert.equal(answers.get('text/plain'), '200 {"body":"undefined"}');
  assert.equal(answers.get('a form'), '200 {"body":{"content":"Hello","printerId":"p-1"}}');
});
