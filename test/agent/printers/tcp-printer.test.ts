/**
 * The TCP 9100 transport's word that a receipt reached the printer, against real sockets on loopback: the
 * printer's close of its side after the receipt. A printer seen closing its side is waited for up to the
 * printer timeout, and one that does not close then has not taken the receipt as far as the agent can tell.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { TcpPrinter } from '../../../agent/printers/tcp-printer';

/** How the fake printer ends each connection, in order (the last one repeats). */
type Ending = { closeAfterMs: number } | 'never';

/** A raw TCP printer that reads each receipt to its end, then closes its side as `endings` say. */
async function fakePrinter(t: TestContext, endings: Ending[]) {
  const received: Buffer[] = [];
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    const ending = endings[Math.min(connections++, endings.length - 1)]!;
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('end', () => {
      received.push(Buffer.concat(chunks));
      if (ending !== 'never') setTimeout(() => socket.end(), ending.closeAfterMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as net.AddressInfo).port, received };
}

async function printOnce(printer: TcpPrinter, text: string): Promise<number> {
  const started = Date.now();
  const connection = await printer.open();
  await connection.write(Buffer.from(text));
  await connection.close();
  return Date.now() - started;
}

test('a printer seen closing its side is waited for up to the printer timeout; one that then does not close has not confirmed the receipt', async (t) => {
  const { port, received } = await fakePrinter(t, [{ closeAfterMs: 0 }, { closeAfterMs: 700 }, 'never']);
  const printer = new TcpPrinter('127.0.0.1', port, 1500, 100);
  await printOnce(printer, 'first');
  // Slower than the grace, within the timeout: waited for, and taken.
  const slow = await printOnce(printer, 'second');
  assert.ok(slow >= 650, `waited for the printer's close (${slow} ms)`);
  // No close at all within the timeout: not a receipt the agent can vouch for.
  await assert.rejects(printOnce(printer, 'third'), /did not confirm it took the receipt within 1500 ms/);
  assert.deepEqual(
    received.map((b) => b.toString()),
    ['first', 'second', 'third'],
  );
});

test('a printer never seen closing its side is taken at its word after the grace', async (t) => {
  const { port, received } = await fakePrinter(t, ['never']);
  const printer = new TcpPrinter('127.0.0.1', port, 5000, 100);
  const first = await printOnce(printer, 'one');
  const second = await printOnce(printer, 'two');
  assert.ok(first < 4000 && second < 4000, `the grace, not the timeout (${first}, ${second} ms)`);
  assert.deepEqual(
    received.map((b) => b.toString()),
    ['one', 'two'],
  );
});
