import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { DevicePrinter } from '../../agent/printers/device-printer';
import { readStatus } from '../../agent/printers/status';
import { TcpPrinter } from '../../agent/printers/tcp-printer';
import { VIRTUAL_CONDITIONS } from '../../agent/virtual-printer';
import { parseStatusMessage, type StatusMessage } from '../../protocol/messages';
import { topics } from '../../protocol/topics';
import {
  connectClient,
  getJson,
  postJson,
  startTestAgent,
  startTestServer,
  startVirtualPrinter,
  tempDir,
  waitFor,
} from '../support/harness';

test('DLE EOT answers read as Epson documents them; bytes that are not status bytes read as unknown', () => {
  assert.equal(readStatus({ 1: 0x16, 2: 0x12, 4: 0x12 }).condition, 'ok');
  assert.equal(readStatus({ 1: 0x1e, 2: 0x32, 4: 0x7e }).condition, 'paper-out');
  assert.equal(readStatus({ 1: 0x16, 2: 0x12, 4: 0x72 }).condition, 'paper-out', 'the roll sensor alone says so');
  assert.equal(readStatus({ 1: 0x1e, 2: 0x16, 4: 0x12 }).condition, 'cover-open');
  assert.equal(readStatus({ 1: 0x1e, 2: 0x52, 4: 0x12 }).condition, 'offline');
  assert.equal(readStatus({ 1: 0x16, 2: 0x12, 4: 0x1e }).condition, 'paper-low');
  assert.equal(readStatus({ 1: 0x41 }).condition, 'unknown', 'an echo or garbage is not an answer');
  assert.equal(readStatus({}).condition, 'unknown');
});

test('a TCP printer answers DLE EOT 1/2/4 with its condition; silence is unknown within 500 ms; no printer is unavailable', async (t) => {
  const printer = await startVirtualPrinter(t);
  const transport = new TcpPrinter('127.0.0.1', printer.port, 2000);
  for (const condition of VIRTUAL_CONDITIONS) {
    printer.setCondition(condition);
    const report = await transport.queryStatus();
    assert.equal(report.condition, condition === 'silent' ? 'unknown' : condition, condition);
    assert.ok(report.detail.length > 0);
  }
  assert.match((await transport.queryStatus()).detail, /did not answer a status request within 500 ms/);
  const port = printer.port;
  await printer.stop();
  const gone = await new TcpPrinter('127.0.0.1', port, 2000).queryStatus();
  assert.equal(gone.condition, 'unavailable');
  assert.match(gone.detail, /cannot reach the printer at tcp:\/\/127\.0\.0\.1/);
});

/**
 * A character device that reads back, as /dev/usb/lp0 does: a pseudo-terminal in raw mode whose other
 * side is relayed (by python3's pty module) to the virtual printer over TCP.
 */
async function ptyPrinter(t: import('node:test').TestContext, port: number): Promise<string> {
  const link = path.join(tempDir(t), 'lp0');
  const script = `
import os, pty, socket, sys, tty, select, time
master, slave = pty.openpty()
tty.setraw(slave)
os.symlink(os.ttyname(slave), sys.argv[1])
sock = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
print("ready", flush=True)
while True:
    r, _, _ = select.select([master, sock], [], [], 0.05)
    if master in r:
        try: data = os.read(master, 4096)
        except OSError: data = b""
        if data: sock.sendall(data)
    if sock in r:
        data = sock.recv(4096)
        if not data: break
        os.write(master, data)
`;
  const child = spawn('python3', ['-c', script, link, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', () => resolve());
  });
  return link;
}

test('a device path (as /dev/usb/lp0) is asked on a non-blocking handle of its own, and still prints', async (t) => {
  const printer = await startVirtualPrinter(t, 'paper-low');
  const device = new DevicePrinter(await ptyPrinter(t, printer.port), 'device', 2000);
  assert.equal((await device.queryStatus!()).condition, 'paper-low');
  printer.setCondition('cover-open');
  assert.equal((await device.queryStatus!()).condition, 'cover-open');
  printer.setCondition('silent');
  assert.equal((await device.queryStatus!()).condition, 'unknown');
  printer.setCondition('ok');
  assert.equal((await device.queryStatus!()).condition, 'ok');
  const { renderReceipt } = await import('../../agent/receipt');
  const connection = await device.open();
  await connection.write(
    renderReceipt(
      { content: 'par le périphérique', createdAt: new Date().toISOString() },
      { columns: 32, codePage: 'PC858' },
    ),
  );
  await connection.close();
  const receipt = await waitFor('receipt through the device', () => printer.receipts[0]);
  assert.equal(receipt.lines[3], 'par le périphérique');
  assert.equal(new DevicePrinter('/tmp/printhop-file', 'file', 1000).queryStatus, undefined, 'a file cannot answer');
  assert.equal((await new DevicePrinter('/nonexistent/lp0', 'device', 1000).queryStatus!()).condition, 'unavailable');
});

test('paper out: the agent publishes it in its retained status, the page says so in French, the job waits, then prints once paper is back', async (t) => {
  const server = await startTestServer(t);
  const printer = await startVirtualPrinter(t, 'paper-out');
  await startTestAgent(t, server, {
    mqttUrl: server.tcpUrl,
    printer: printer.url,
    printerStatusIntervalMs: 100,
    printerRetryLimitMs: 1000,
  });

  const statuses: StatusMessage[] = [];
  const watcher = await connectClient(t, server, 'debug', { clientId: 'test-status-watcher' });
  watcher.on('message', (_topic, payload) => {
    const parsed = parseStatusMessage(payload);
    if (parsed.ok) statuses.push(parsed.value);
  });
  await watcher.subscribeAsync(topics.status('printer-1'), { qos: 1 });
  await waitFor('retained paper-out status', () =>
    statuses.some((s) => s.state === 'online' && s.printer === 'paper-out'),
  );
  assert.match(statuses.find((s) => s.printer === 'paper-out')!.detail ?? '', /out of paper/);

  const fragment = async () => (await fetch(`${server.baseUrl}/`)).text();
  await waitFor('page shows paper out', async () => (await fragment()).includes('plus de papier'));
  const api = (await getJson<Array<{ id: string; condition: string | null }>>(server.baseUrl, '/printers')).json;
  assert.equal(api.find((p) => p.id === 'printer-1')?.condition, 'paper-out');

  const job = (await postJson(server.baseUrl, '/print', { content: 'attend le papier' })).json as PrintJob;
  await waitFor(
    'job received',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'received',
  );
  // Longer than PRINTER_RETRY_LIMIT_MS (1 s) of asking, and the job neither printed nor failed: it waits.
  const asked = printer.statusRequests;
  await waitFor('the agent asked again and again', () => printer.statusRequests >= asked + 3 * 12);
  assert.equal((await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status, 'received');
  assert.equal(printer.receipts.length, 0, 'nothing sent to a printer without paper');

  printer.setCondition('ok');
  await waitFor(
    'printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'printed',
  );
  assert.deepEqual(
    printer.receipts.map((r) => r.lines[3]),
    ['attend le papier'],
  );
  await waitFor('page shows ready', async () => (await fragment()).includes('prête'));
  await waitFor('status ok', () => statuses.at(-1)?.printer === 'ok');
});

test('a printer that never answers status requests is unknown, not an error: jobs still print', async (t) => {
  const server = await startTestServer(t);
  const printer = await startVirtualPrinter(t, 'silent');
  await startTestAgent(t, server, { mqttUrl: server.tcpUrl, printer: printer.url, printerStatusIntervalMs: 0 });
  await waitFor('condition unknown', async () => (await server.printers.get('printer-1'))?.condition === 'unknown');
  const job = (await postJson(server.baseUrl, '/print', { content: 'sans réponse' })).json as PrintJob;
  await waitFor(
    'printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'printed',
  );
  assert.equal(printer.receipts[0]?.lines[3], 'sans réponse');
  assert.match(await (await fetch(`${server.baseUrl}/`)).text(), /état inconnu/);
});
