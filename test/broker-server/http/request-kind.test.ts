/** The body kind read without parsing the type for what API clients send (http/guards/request-kind.ts) is `req.is`'s answer, header for header (Express itself, so not a unit test). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import express, { type Request } from 'express';
import { bodyKind } from '../../../broker-server/http/guards/request-kind';

const request = (headers: Record<string, string>): Request =>
  Object.setPrototypeOf({ headers }, express.request) as Request;

/** What the routes told apart before: `req.is`, as Express answers it. */
const byReqIs = (req: Request) =>
  req.is('application/json') ? 'json' : req.is('application/x-www-form-urlencoded') ? 'form' : 'other';

test('bodyKind answers as req.is for every content type, length and transfer coding', () => {
  const types = [
    undefined,
    'application/json',
    'application/json; charset=utf-8',
    'Application/JSON',
    'application/json;charset=utf-8',
    'application/json; charset=latin1',
    'application/json; charset',
    'application/jsonx',
    'application/vnd.api+json',
    'application/x-www-form-urlencoded',
    'text/plain',
    '',
  ];
  const lengths = [undefined, '0', '52', '', 'x', ' 12'];
  const codings = [undefined, 'chunked'];
  let cases = 0;
  for (const type of types)
    for (const length of lengths)
      for (const coding of codings) {
        const headers: Record<string, string> = {};
        if (type !== undefined) headers['content-type'] = type;
        if (length !== undefined) headers['content-length'] = length;
        if (coding !== undefined) headers['transfer-encoding'] = coding;
        assert.equal(bodyKind(request(headers)), byReqIs(request(headers)), JSON.stringify(headers));
        cases++;
      }
  assert.equal(cases, types.length * lengths.length * codings.length);
});

test('a JSON request without a body (no length, no transfer coding) is no JSON body, as req.is says', () => {
  assert.equal(bodyKind(request({ 'content-type': 'application/json' })), 'other');
  assert.equal(bodyKind(request({ 'content-type': 'application/json', 'content-length': '2' })), 'json');
});
