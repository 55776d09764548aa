/** The hand-written JSON answer (http/api/json-answer.ts) is byte for byte Express's res.status(s).json(value), headers and ETag included. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import express from 'express';
import { sendJson } from '../../../../broker-server/http/api/json-answer';

const VALUES: unknown[] = [
  { id: 42, uid: '0b6f81c2-0000-4000-8000-000000000000', content: 'Déjà vu — ½ €\n"quoted"', status: 'pending' },
  { nothing: null, list: [1, 'two', { three: 3 }] },
  [],
  'a string',
  7,
];

/** Status line, headers (without the date, which moves) and body, as the client receives them. */
function raw(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .request({ host: '127.0.0.1', port, method: 'POST', path, headers: { 'content-length': '0' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const pairs: string[] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2)
            if (!/^date$/i.test(res.rawHeaders[i]!)) pairs.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
          resolve(`${res.statusCode} ${JSON.stringify(pairs)} ${Buffer.concat(chunks).toString('utf8')}`);
        });
      })
      .on('error', reject)
      .end();
  });
}

test('sendJson answers what res.status(s).json(value) answers: status, headers in order, ETag, body', async (t) => {
  const app = express();
  app.post('/express/:i/:status', (req, res) => {
    res.setHeader('X-Before', 'kept');
    res.status(Number(req.params.status)).json(VALUES[Number(req.params.i)]);
  });
  app.post('/hand/:i/:status', (req, res) => {
    res.setHeader('X-Before', 'kept');
    sendJson(res, Number(req.params.status), VALUES[Number(req.params.i)]);
  });
  const server = app.listen(0, '127.0.0.1');
  t.after(() => server.close());
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  for (const status of [201, 200])
    for (let i = 0; i < VALUES.length; i++) {
      const [expected, actual] = [await raw(port, `/express/${i}/${status}`), await raw(port, `/hand/${i}/${status}`)];
      assert.equal(actual, expected);
      assert.match(actual, new RegExp(`^${status} .*"ETag: W/`));
    }
});
