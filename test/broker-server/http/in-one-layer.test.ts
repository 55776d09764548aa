/** The guards run in one layer (http/guards/in-one-layer.ts) answer what the same guards as separate layers answer (Express itself, so not a unit test). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import express, { type RequestHandler } from 'express';
import { inOneLayer } from '../../../broker-server/http/guards/in-one-layer';

const mark =
  (name: string): RequestHandler =>
  (_req, res, next) => {
    res.append('X-Seen', name);
    next();
  };

/** Each scenario: what the middle one of three guards does. */
const middles: Record<string, RequestHandler> = {
  passes: mark('b'),
  'passes later': (_req, res, next) => {
    res.append('X-Seen', 'b');
    setImmediate(next);
  },
  'passes an error': (_req, _res, next) => next(Object.assign(new Error('refused'), { status: 421 })),
  'passes an error later': (_req, _res, next) => setImmediate(() => next(new Error('later'))),
  throws: () => {
    throw new Error('thrown');
  },
  'rejects its promise': async () => {
    await Promise.resolve();
    throw Object.assign(new Error('rejected'), { status: 503 });
  },
  "next('route')": (_req, _res, next) => next('route'),
  "next('router')": (_req, _res, next) => next('router'),
  answers: (_req, res) => void res.status(421).send('misdirected'),
};

async function answers(app: express.Express, path: string): Promise<string> {
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const { port } = server.address() as { port: number };
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return `${res.status} seen=${res.headers.get('x-seen')} ${await res.text()}`;
  } finally {
    server.close();
  }
}

test('three guards in one layer answer as the same three as layers of their own: passing, refusing, throwing, leaving', async () => {
  for (const [name, middle] of Object.entries(middles)) {
    const build = (oneLayer: boolean) => {
      const app = express();
      const chain = [mark('a'), middle, mark('c')];
      if (oneLayer) app.use(inOneLayer(...chain));
      else for (const handler of chain) app.use(handler);
      app.get('/x', (_req, res) => void res.send('served'));
      app.use(((err, _req, res, _next) => {
        res.status((err as { status?: number }).status ?? 500).send(`error: ${(err as Error).message}`);
      }) as express.ErrorRequestHandler);
      return app;
    };
    const separate = await answers(build(false), '/x');
    const together = await answers(build(true), '/x');
    assert.equal(together, separate, name);
  }
});

test('the layers are fewer: one for the three guards', () => {
  const app = express();
  app.use(inOneLayer(mark('a'), mark('b'), mark('c')));
  app.get('/x', (_req, res) => void res.send('served'));
  const stack = (app as unknown as { router: { stack: unknown[] } }).router.stack;
  assert.equal(stack.length, 2);
});
