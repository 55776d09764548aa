/**
 * Issue 22: what the agent spends per job, in CPU and memory, where it does not change what it prints.
 * A `file:` printer that is a regular file is written without the thread pool; one that can block still has its
 * timeout. A receipt's date in the process's own zone needs no Intl (ICU's locale data, about 8 MB).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DevicePrinter } from '../../agent/printers/device-printer';
import { formatReceiptDate } from '../../protocol/receipt-layout';

const tmpDir = (t: { after(fn: () => void): void }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'printhop-footprint-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
};

/** A writer for each FIFO ends the opens waiting for one (ENXIO: that open has not reached its thread yet). */
async function releaseFifos(fifos: string[], held: Array<Promise<fsp.FileHandle>>): Promise<void> {
  const writers: number[] = [];
  for (const fifo of fifos)
    for (const deadline = Date.now() + 10_000; ;) {
      try {
        writers.push(fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > deadline) throw err;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  for (const handle of await Promise.all(held)) await handle.close();
  writers.forEach((fd) => fs.closeSync(fd));
}

test('a file: printer that is a regular file is written without the thread pool, one job after another', async (t) => {
  if (process.platform === 'win32') return t.skip('no FIFOs');
  const dir = tmpDir(t);
  const file = path.join(dir, 'paper.prn');
  const connection = await new DevicePrinter(file, 'file', 1000).open();
  // Every thread of libuv's pool held by an open(2) that waits for a FIFO's writer: a write through the pool
  // would wait for them.
  const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
  const fifos = Array.from({ length: threads }, (_, i) => path.join(dir, `hold-${i}.fifo`));
  for (const fifo of fifos) execFileSync('mkfifo', [fifo]);
  const held = fifos.map((fifo) => fsp.open(fifo, 'r'));
  let timer: NodeJS.Timeout | undefined;
  try {
    const written = await Promise.race([
      connection.write(Buffer.from('first receipt\n')).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 2000))),
    ]);
    assert.equal(written, true, 'written while every pool thread was busy');
    assert.equal(fs.readFileSync(file, 'utf8'), 'first receipt\n');
  } finally {
    clearTimeout(timer);
    await releaseFifos(fifos, held);
  }
  await connection.write(Buffer.from('second receipt\n'));
  await connection.close();
  assert.equal(fs.readFileSync(file, 'utf8'), 'first receipt\nsecond receipt\n');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
});

test('a file: printer that can block (a FIFO nobody reads) still times out, and the agent goes on', async (t) => {
  if (process.platform === 'win32') return t.skip('no FIFOs');
  const fifo = path.join(tmpDir(t), 'printer.fifo');
  execFileSync('mkfifo', [fifo]);
  // A reader that never reads: the writer's open succeeds, and its writes block once the pipe is full.
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const connection = await new DevicePrinter(fifo, 'file', 300).open();
  let alive = 0;
  const counter = setInterval(() => alive++, 20);
  try {
    await assert.rejects(connection.write(Buffer.alloc(1 << 20, 0x41)), /timed out after 300 ms/);
    assert.ok(alive >= 5, `the event loop kept running while the write was blocked (${alive} ticks)`);
  } finally {
    clearInterval(counter);
    fs.closeSync(reader); // the blocked write ends (EPIPE) and frees its thread
    await connection.close().catch(() => undefined);
  }
});

test('a receipt date in the process’s zone is the one Intl gives, and is made without Intl', () => {
  const date = new Date('2026-12-31T23:59:00Z');
  const parts = new Intl.DateTimeFormat('en-GB', {
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).formatToParts(date);
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  assert.equal(formatReceiptDate(date), `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}`);

  // In a process whose Intl.DateTimeFormat throws: the local zone, and the zone TZ names, print all the same.
  const script = `
    Intl.DateTimeFormat = function () { throw new Error('Intl used'); };
    const { formatReceiptDate } = await import(${JSON.stringify(path.resolve('protocol/receipt-layout.ts'))});
    const d = new Date('2026-12-31T23:59:00Z');
    console.log(JSON.stringify([formatReceiptDate(d), formatReceiptDate(d, 'America/New_York')]));`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, TZ: 'America/New_York' },
    encoding: 'utf8',
  });
  assert.deepEqual(JSON.parse(out), ['2026-12-31 18:59', '2026-12-31 18:59']);
  // Another zone than the process's still goes through Intl, and is right.
  assert.equal(formatReceiptDate(date, 'Asia/Tokyo'), '2027-01-01 08:59');
});
