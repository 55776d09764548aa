/**
 * runtime/one-write-per-turn.ts with a plain Writable: the pieces written in one turn reach the stream as one
 * write, whole and in order; callbacks are called; end() and destroy() send what was gathered first; the
 * stream's backpressure still reaches the writer.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { oneWritePerTurn } from '../../runtime/one-write-per-turn';

const turn = () => new Promise((resolve) => setImmediate(resolve));

function sink(highWaterMark = 16_384, hold = false) {
  const received: Buffer[] = [];
  const held: Array<() => void> = [];
  const stream = new Writable({
    highWaterMark,
    write(chunk: Buffer, _encoding, callback) {
      received.push(chunk);
      if (hold) held.push(() => callback());
      else callback();
    },
  });
  let writes = 0;
  const write = stream.write;
  stream.write = function (this: Writable, ...args: unknown[]) {
    writes++;
    return write.apply(this, args as never);
  } as Writable['write'];
  oneWritePerTurn(stream);
  return { stream, received, held, writes: () => writes };
}

test('the pieces of one turn reach the stream as one write, whole and in order', async () => {
  const { stream, received, writes } = sink();
  // A PUBLISH as mqtt-packet writes it: corked, in pieces, a string among them.
  stream.cork();
  for (const piece of [
    Buffer.from([0x32]),
    Buffer.from([0x1a]),
    Buffer.from([0, 16]),
    'printers/p1/jobs',
    Buffer.from('{}'),
  ])
    assert.equal(stream.write(piece as never), true);
  process.nextTick(() => stream.uncork());
  stream.write(Buffer.from([0x40, 2, 0, 7])); // a PUBACK from another callback of the same turn
  assert.equal(writes(), 0, 'nothing written before the end of the turn');
  await turn();
  assert.equal(writes(), 1);
  assert.deepEqual(
    Buffer.concat(received),
    Buffer.concat([
      Buffer.from([0x32, 0x1a, 0, 16]),
      Buffer.from('printers/p1/jobs'),
      Buffer.from('{}'),
      Buffer.from([0x40, 2, 0, 7]),
    ]),
  );
  stream.write(Buffer.from('next'));
  await turn();
  assert.equal(writes(), 2, 'the next turn: one more write');
});

test('write callbacks are called once the gathered write is done', async () => {
  const { stream } = sink();
  const called: number[] = [];
  stream.write(Buffer.from('a'), () => called.push(1));
  stream.write('b', 'utf8', () => called.push(2));
  await turn();
  await turn();
  assert.deepEqual(called, [1, 2]);
});

test('end() and destroy() send what the turn gathered first', async () => {
  const ended = sink();
  ended.stream.write(Buffer.from('connack'));
  ended.stream.end();
  await new Promise((resolve) => ended.stream.once('finish', resolve));
  assert.equal(Buffer.concat(ended.received).toString(), 'connack');
  const destroyed = sink();
  destroyed.stream.write(Buffer.from('connack'));
  destroyed.stream.destroy();
  assert.equal(Buffer.concat(destroyed.received).toString(), 'connack');
});

test("the stream's backpressure reaches the writer, and its 'drain' lets it go on", async () => {
  const { stream, held } = sink(8, true);
  assert.equal(stream.write(Buffer.alloc(16)), true, 'gathered: the stream has not seen it yet');
  await turn();
  assert.equal(stream.write(Buffer.alloc(1)), false, 'the stream is over its mark');
  const drained = new Promise((resolve) => stream.once('drain', resolve));
  await turn();
  while (held.length) held.shift()!();
  await drained;
  assert.equal(stream.write(Buffer.alloc(1)), true);
});
