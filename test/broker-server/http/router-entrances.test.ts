/** Routers entered only by the paths they serve (http/api/context.ts enteredByItsPaths): what enters, what passes by (Express itself, so not a unit test). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import express from 'express';
import { enteredByItsPaths, newRouter } from '../../../broker-server/http/api/context';

const handler: express.RequestHandler = (_req, res) => void res.end();

test('a strict router is entered by its exact paths and the literal start of its parameterised ones, nothing else', () => {
  const router = newRouter();
  router.get('/print', handler);
  router.post('/jobs/:id/reprint', handler);
  router.get('/jobs', handler);
  router.use('/static', express.static('/nonexistent'));
  const { enters } = enteredByItsPaths(router);
  for (const path of ['/print', '/jobs', '/jobs/42', '/jobs/42/reprint', '/static', '/static/a/b.css'])
    assert.equal(enters(path), true, path);
  for (const path of ['/', '/printx', '/print/', '/PRINT', '/job', '/admin', '/events', '/health'])
    assert.equal(enters(path), false, path);
});

test('nested routers are read through; a router with a middleware for every path is always entered', () => {
  const inner = newRouter();
  inner.get('/admin', handler);
  inner.post('/admin/printers/:id/rotate', handler);
  const outer = newRouter();
  outer.use(inner);
  const { enters } = enteredByItsPaths(outer);
  assert.equal(enters('/admin'), true);
  assert.equal(enters('/admin/printers/p/rotate'), true);
  assert.equal(enters('/print'), false);

  const everything = newRouter();
  everything.get('/a', handler);
  everything.use((_req, _res, next) => next());
  assert.equal(enteredByItsPaths(everything).enters('/anything'), true);
  const rooted = newRouter();
  rooted.get('/', handler);
  rooted.get('/:page', handler);
  assert.equal(enteredByItsPaths(rooted).enters('/anything'), true);
});

test('a router that ignores case and trailing slashes (express.Router() defaults) is entered by any spelling it serves', () => {
  const router = express.Router();
  router.post('/pairing', handler);
  router.get('/agents/:file', handler);
  const { enters } = enteredByItsPaths(router);
  for (const path of ['/pairing', '/pairing/', '/PAIRING', '/Agents/x', '/agents/'])
    assert.equal(enters(path), true, path);
  assert.equal(enters('/print'), false);
});

test('through an app: a router passed by calls the next one; entered, it serves; the walk of the app still finds its routes', async () => {
  const first = newRouter();
  first.get('/a', (_req, res) => void res.send('a'));
  const second = newRouter();
  second.get('/b', (_req, res) => void res.send('b'));
  const app = express();
  app.use(enteredByItsPaths(first));
  app.use(enteredByItsPaths(second));
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const { port } = server.address() as { port: number };
    const get = async (path: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`);
      return `${res.status} ${await res.text()}`;
    };
    assert.equal(await get('/a'), '200 a');
    assert.equal(await get('/b'), '200 b');
    assert.match(await get('/c'), /^404 /);
  } finally {
    server.close();
  }
  const stack = (app as unknown as { router: { stack: Array<{ handle: { stack?: unknown[] } }> } }).router.stack;
  assert.equal(
    stack.filter((layer) => layer.handle.stack === first.stack || layer.handle.stack === second.stack).length,
    2,
  );
});
