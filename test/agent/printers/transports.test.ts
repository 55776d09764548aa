import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Adapter } from 'escpos';
import type { PrintJob } from '../../../broker-server/jobs/job-service';
import { CupsPrinter, parseRequestId } from '../../../agent/printers/cups-printer';
import { DevicePrinter } from '../../../agent/printers/device-printer';
import { createTransport, PrinterUnavailableError } from '../../../agent/printers';
import { explain, UsbPrinter, type UsbAdapterClass } from '../../../agent/printers/usb-printer';
import { parseAckMessage, type AckMessage } from '../../../protocol/messages';
import { topics } from '../../../protocol/topics';
import { startTestCups } from '../../support/cups';
import { connectClient, getJson, postJson, startTestAgent, startTestServer, waitFor } from '../../support/harness';

test('PRINTER picks the transport: device path, file:, tcp://, usb, usb:VID:PID, cups:QUEUE', () => {
  assert.equal(createTransport('/dev/usb/lp0', 1000).description, '/dev/usb/lp0');
  assert.equal(createTransport('file:/tmp/x.prn', 1000).description, 'file:/tmp/x.prn');
  assert.equal(createTransport('tcp://10.0.0.9', 1000).description, 'tcp://10.0.0.9:9100');
  assert.equal(createTransport('usb', 1000).description, 'usb');
  assert.equal(createTransport('usb:4b8:e15', 1000).description, 'usb:04b8:0e15');
  const cups = createTransport('cups:Bureau', 1000);
  assert.equal(cups.description, 'cups:Bureau');
  assert.equal(cups.format, 'text');
  assert.equal(cups.queryStatus, undefined);
  assert.ok(
    createTransport('tcp://10.0.0.9', 1000).queryStatus && createTransport('/dev/usb/lp0', 1000).queryStatus,
    'those two read back',
  );
});

test('lp’s answer gives the CUPS job id', () => {
  assert.equal(parseRequestId('request id is Bureau-123 (1 file(s))\n'), 'Bureau-123');
  assert.equal(parseRequestId('request id is test-7 (0 file(s))'), 'test-7');
  assert.equal(parseRequestId(''), undefined);
});

test('cups:QUEUE through a real cupsd: plain text, no ESC/POS, and the CUPS job id in the printed ack', async (t) => {
  const cups = await startTestCups(t);
  const paper = cups.addQueue('bureau');
  const server = await startTestServer(t);
  const acks: AckMessage[] = [];
  const watcher = await connectClient(t, server, 'debug', { clientId: 'test-cups-acks' });
  watcher.on('message', (_topic, payload) => {
    const ack = parseAckMessage(payload);
    if (ack.ok) acks.push(ack.value);
  });
  await watcher.subscribeAsync(topics.acks('printer-1'), { qos: 1 });
  await startTestAgent(t, server, {
    mqttUrl: server.tcpUrl,
    printer: 'cups:bureau',
    cupsServer: cups.socket,
    columns: 42,
    timeZone: 'UTC',
  });
  await waitFor('printer online', async () => (await server.printers.get('printer-1'))?.state === 'online');

  const job = (await postJson(server.baseUrl, '/print', { content: 'Réunion à 14 h — salle «Été»\x1b@\x1dV0 fin' }))
    .json as PrintJob;
  await waitFor(
    'printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'printed',
  );
  const printed = await waitFor('printed ack', () => acks.find((a) => a.id === job.id && a.status === 'printed'));
  assert.match(printed.printerJob ?? '', /^bureau-\d+$/);

  const text = await waitFor('CUPS wrote the job', async () => {
    const { readFile } = await import('node:fs/promises');
    const content = await readFile(paper, 'utf8').catch(() => '');
    return content.includes('fin') ? content : null;
  });
  const lines = text.split('\n');
  assert.equal(lines[0], '-'.repeat(42));
  assert.equal(lines[1], 'MESSAGE À IMPRIMER');
  assert.equal(lines[3], 'Réunion à 14 h - salle «Été»@V0 fin', 'UTF-8 text; control characters removed');
  assert.doesNotMatch(text, /[\x00-\x09\x0b-\x1f]/, 'no ESC/POS, no control character');

  // The lp contract, seen from the transport: an unknown queue is unavailable before anything is sent...
  await assert.rejects(
    new CupsPrinter('nowhere', 5000, cups.socket).open(),
    (err: unknown) => err instanceof PrinterUnavailableError && /no usable queue "nowhere"/.test(err.message),
  );
  // ...and so is a CUPS that is not running.
  await cups.stop();
  await assert.rejects(
    new CupsPrinter('bureau', 5000, cups.socket).open(),
    (err: unknown) => err instanceof PrinterUnavailableError && /bureau/.test(err.message),
  );
});

/**
 * No USB hardware exists where the tests run, so this stands in for escpos-usb's adapter: the device
 * can be unplugged (the lookup fails, a write fails) and plugged back in.
 */
function fakeUsb(): {
  Adapter: UsbAdapterClass;
  plugged: boolean;
  openError: string | null;
  opened: number;
  closed: number;
  written: Buffer[];
} {
  const state = {
    plugged: true,
    openError: null as string | null,
    opened: 0,
    closed: 0,
    written: [] as Buffer[],
    Adapter: null as unknown as UsbAdapterClass,
  };
  class FakeAdapter implements Adapter {
    private readonly device: boolean;
    constructor() {
      if (!state.plugged) throw new Error('Can not find printer');
      this.device = true;
    }
    open(cb?: (error?: Error | null) => void) {
      if (state.openError) throw new Error(state.openError);
      state.opened++;
      cb?.(null);
    }
    write(data: Buffer, cb?: (error?: Error | null) => void) {
      if (!state.plugged || !this.device) return cb?.(new Error('LIBUSB_TRANSFER_NO_DEVICE'));
      state.written.push(data);
      cb?.(null);
    }
    close(cb?: (error?: Error | null) => void) {
      state.closed++;
      cb?.(null);
    }
  }
  state.Adapter = FakeAdapter;
  return state;
}

test('usb: reopened after an unplug, and LIBUSB_ERROR_ACCESS / BUSY / a missing module explained in plain words', async () => {
  const usb = fakeUsb();
  const printer = new UsbPrinter({ vid: 0x04b8, pid: 0x0e15 }, 1000, () => usb.Adapter);
  const first = await printer.open();
  await first.write(Buffer.from('one'));
  usb.plugged = false; // unplugged mid-job
  await assert.rejects(first.write(Buffer.from('two')), /NO_DEVICE/);
  await first.close();
  await assert.rejects(
    printer.open(),
    (err: unknown) =>
      err instanceof PrinterUnavailableError &&
      /no USB printer found for usb:04b8:0e15: is it plugged in/.test(err.message),
  );
  usb.plugged = true; // plugged back in: a fresh lookup finds it
  const again = await printer.open();
  await again.write(Buffer.from('three'));
  await again.close();
  assert.deepEqual(usb.written.map(String), ['one', 'three']);
  assert.equal(usb.opened, 2);

  usb.openError = 'LIBUSB_ERROR_ACCESS';
  await assert.rejects(
    printer.open(),
    /LIBUSB_ERROR_ACCESS\): install agent\/deploy\/99-printhop\.rules in \/etc\/udev\/rules\.d/,
  );
  assert.equal(usb.closed, 3, 'a failed open releases the adapter');
  usb.openError = 'LIBUSB_ERROR_BUSY';
  await assert.rejects(
    printer.open(),
    /held by another driver or program \(LIBUSB_ERROR_BUSY\).*PRINTER=\/dev\/usb\/lp0/,
  );
  const missing = new UsbPrinter(null, 1000, () => {
    throw new Error("Cannot find module 'escpos-usb'");
  });
  await assert.rejects(missing.open(), /USB support is not installed .*PRINTER=\/dev\/usb\/lp0/);
  assert.match(explain('usb', new Error('LIBUSB_ERROR_NO_DEVICE')), /unplugged or switched off/);
});

test('a device path that is missing or refused is explained in plain words', async () => {
  await assert.rejects(
    new DevicePrinter('/nonexistent/usb/lp0', 'device', 1000).open(),
    /no printer at \/nonexistent\/usb\/lp0: is it plugged in and switched on\? \(ENOENT\)/,
  );
});
