/**
 * The rules of the `windows:` transport and of `printhop-agent.env`, with an in-memory spooler behind
 * the Spooler interface (the real winspool.drv is exercised under Wine in windows-agent.test.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { createTransport, PrinterUnavailableError } from '../../../agent/printers';
import { WindowsPrinter } from '../../../agent/printers/windows-printer';
import {
  PRINTER_ATTRIBUTE_WORK_OFFLINE,
  PRINTER_STATUS,
  type Spooler,
  SpoolerError,
  type SpoolerPrinter,
  spoolerStatus,
} from '../../../agent/printers/winspool';
import { WAITING_CONDITIONS } from '../../../agent/printers/status';
import { listSystemPrinters } from '../../../agent/system-printers';
import { agentDefaults, ConfigError, loadAgentConfig } from '../../../config';
import { parseEnvFile, withEnvFile } from '../../../config/env-file';
import { tempDir } from '../../support/basics';

function fakeSpooler(printers: SpoolerPrinter[], fallback: string | null = printers[0]?.name ?? null) {
  const state = {
    documents: [] as Array<{ printer: string; name: string; bytes: Buffer }>,
    writeError: null as number | null,
    closed: 0,
    opened: 0,
  };
  const spooler: Spooler = {
    defaultPrinter: () => fallback,
    listPrinters: () => printers,
    open(name) {
      const printer = printers.find((p) => p.name === name);
      if (!printer) return Promise.reject(new SpoolerError('OpenPrinterW', 1801));
      state.opened++;
      return Promise.resolve({
        info: () => printer,
        printRaw(documentName, bytes) {
          if (state.writeError !== null) return Promise.reject(new SpoolerError('WritePrinter', state.writeError));
          state.documents.push({ printer: name, name: documentName, bytes });
          return Promise.resolve(state.documents.length);
        },
        close: () => void state.closed++,
      });
    },
  };
  return { spooler, state };
}

const printer = (name: string, status = 0, attributes = 0): SpoolerPrinter => ({
  name,
  port: 'USB001',
  driver: 'Generic / Text Only',
  status,
  attributes,
  jobs: 0,
});

test('PRINTER=windows:NAME (spaces allowed) and windows: (the default printer) are accepted; control characters are not', () => {
  assert.equal(
    loadAgentConfig({ PRINTER: 'windows:EPSON TM-T20II Receipt' }).printer,
    'windows:EPSON TM-T20II Receipt',
  );
  assert.equal(loadAgentConfig({ PRINTER: 'windows:' }).printer, 'windows:');
  assert.equal(loadAgentConfig({ PRINTER: 'windows:\\\\shop-pc\\Receipts' }).printer, 'windows:\\\\shop-pc\\Receipts');
  assert.throws(() => loadAgentConfig({ PRINTER: 'windows:bad\nname' }), /PRINTER=.*windows:PRINTER NAME/);
  assert.equal(createTransport('windows:EPSON TM-T20II Receipt', 1000).description, 'windows:EPSON TM-T20II Receipt');
  assert.equal(createTransport('windows:', 1000).description, 'windows:(default printer)');
  assert.equal(createTransport('windows:', 1000).format, 'escpos');
});

test('windows: sends each receipt as one RAW document named printhop-job-<id>, to the named or the default printer', async () => {
  const { spooler, state } = fakeSpooler([printer('Bar'), printer('EPSON TM-T20II Receipt')], 'Bar');
  const named = new WindowsPrinter('EPSON TM-T20II Receipt', 1000, () => spooler);
  const connection = await named.open();
  assert.deepEqual(await connection.write(Buffer.from([0x1b, 0x40, 0x41]), { id: 42 }), { reference: '1' });
  await connection.close();
  const byDefault = await new WindowsPrinter('', 1000, () => spooler).open();
  await byDefault.write(Buffer.from('x'), { id: 43 });
  await byDefault.close();
  assert.deepEqual(
    state.documents.map((d) => [d.printer, d.name, d.bytes.toString('hex')]),
    [
      ['EPSON TM-T20II Receipt', 'printhop-job-42', '1b4041'],
      ['Bar', 'printhop-job-43', '78'],
    ],
  );
  assert.equal(state.closed, 2);
});

test('windows: a printer that cannot be opened is unavailable (the job waits); a write error fails the write (the job is interrupted)', async () => {
  const { spooler, state } = fakeSpooler([printer('Bar')], null);
  await assert.rejects(
    new WindowsPrinter('Kitchen', 1000, () => spooler).open(),
    (err: unknown) =>
      err instanceof PrinterUnavailableError && /"Kitchen".*ERROR_INVALID_PRINTER_NAME.*\(1801\)/.test(err.message),
  );
  await assert.rejects(
    new WindowsPrinter('', 1000, () => spooler).open(),
    (err: unknown) => err instanceof PrinterUnavailableError && /no default printer/.test(err.message),
  );
  const noSpooler = new WindowsPrinter('Bar', 1000, () => {
    throw new Error('the windows: transport runs on Windows only');
  });
  await assert.rejects(
    noSpooler.open(),
    (err: unknown) => err instanceof PrinterUnavailableError && /Windows only/.test(err.message),
  );
  assert.equal((await noSpooler.queryStatus()).condition, 'unavailable');

  const connection = await new WindowsPrinter('Bar', 1000, () => spooler).open();
  state.writeError = 31;
  await assert.rejects(
    connection.write(Buffer.from('x'), { id: 7 }),
    (err: unknown) =>
      !(err instanceof PrinterUnavailableError) &&
      /refused the receipt: WritePrinter failed: ERROR_GEN_FAILURE/.test((err as Error).message),
  );
  assert.equal(state.documents.length, 0);
});

test('GetPrinterW status bits read as the same conditions as the other transports; paused, offline and out of paper make jobs wait', async () => {
  const cases: Array<[number, number, string]> = [
    [0, 0, 'ok'],
    [PRINTER_STATUS.PAUSED, 0, 'offline'],
    [PRINTER_STATUS.OFFLINE, 0, 'offline'],
    [0, PRINTER_ATTRIBUTE_WORK_OFFLINE, 'offline'],
    [PRINTER_STATUS.PAPER_OUT, 0, 'paper-out'],
    [PRINTER_STATUS.PAPER_PROBLEM, 0, 'paper-out'],
    [PRINTER_STATUS.DOOR_OPEN | PRINTER_STATUS.PAPER_OUT, 0, 'cover-open'],
    [PRINTER_STATUS.PAPER_JAM, 0, 'offline'],
    [PRINTER_STATUS.ERROR, 0, 'offline'],
    [PRINTER_STATUS.USER_INTERVENTION, 0, 'offline'],
    [0x400 /* PRINTING */ | 0x200 /* BUSY */ | 0x20000 /* TONER_LOW */, 0, 'ok'],
  ];
  for (const [status, attributes, condition] of cases) {
    assert.equal(
      spoolerStatus({ name: 'Bar', status, attributes }).condition,
      condition,
      `status 0x${status.toString(16)} attributes 0x${attributes.toString(16)}`,
    );
  }
  assert.match(spoolerStatus({ name: 'Bar', status: PRINTER_STATUS.PAUSED, attributes: 0 }).detail, /paused.*resume/);
  for (const condition of ['offline', 'paper-out', 'cover-open'] as const) assert.ok(WAITING_CONDITIONS.has(condition));

  const { spooler, state } = fakeSpooler([printer('Bar', PRINTER_STATUS.PAPER_OUT)]);
  const transport = new WindowsPrinter('Bar', 1000, () => spooler);
  assert.equal((await transport.queryStatus()).condition, 'paper-out');
  assert.equal(state.closed, state.opened, 'the status handle is closed');
  assert.deepEqual(
    await new WindowsPrinter('Gone', 1000, () => spooler).queryStatus().then((r) => r.condition),
    'unavailable',
  );
});

test("--check lists the spooler's printers with the PRINTER line to use", () => {
  const { spooler } = fakeSpooler([printer('Bar'), printer('EPSON TM-T20II Receipt', PRINTER_STATUS.OFFLINE)], 'Bar');
  const lines: string[] = [];
  listSystemPrinters((l) => lines.push(l), { spooler: () => spooler });
  assert.match(lines[0]!, /Windows printer "Bar" \[default\].*PRINTER=windows:Bar$/);
  assert.match(
    lines[1]!,
    /"EPSON TM-T20II Receipt", port USB001.*\(offline: .*\): PRINTER=windows:EPSON TM-T20II Receipt$/,
  );
  const none: string[] = [];
  listSystemPrinters((l) => none.push(l), { spooler: () => fakeSpooler([]).spooler });
  assert.match(none[0]!, /Windows has no printer/);
});

test('printhop-agent.env: KEY=VALUE lines, comments, quotes, BOM and CRLF; the environment wins; errors name lines and keys, never values', (t) => {
  const known = Object.keys(agentDefaults);
  const text =
    '\uFEFF# Printhop agent\r\nPRINTER=windows:EPSON TM-T20II Receipt\r\n\r\n  MQTT_PASSWORD = "s3cret#with=signs "\r\nPAPER_COLUMNS=\'58mm\'\r\n';
  assert.deepEqual(parseEnvFile(text, known), {
    PRINTER: 'windows:EPSON TM-T20II Receipt',
    MQTT_PASSWORD: 's3cret#with=signs ',
    PAPER_COLUMNS: '58mm',
  });

  let problem: unknown;
  try {
    parseEnvFile('MQTT_PASSWORD=hunter2-secret-value\nPRINTR=windows:x\njust words hunter2\n', known);
  } catch (err) {
    problem = err;
  }
  assert.ok(problem instanceof ConfigError);
  assert.deepEqual(problem.problems, [
    'printhop-agent.env line 2: PRINTR is not a setting of the agent (see --help)',
    'printhop-agent.env line 3: not KEY=VALUE',
  ]);
  assert.doesNotMatch(problem.message, /hunter2/);

  const dir = tempDir(t);
  const file = path.join(dir, 'printhop-agent.env');
  assert.deepEqual(
    withEnvFile(file, known, { LOG_LEVEL: 'warn' }),
    { LOG_LEVEL: 'warn' },
    'no file: the environment alone',
  );
  fs.writeFileSync(file, 'PRINTER=windows:Bar\nLOG_LEVEL=debug\nPAPER_COLUMNS=58mm\n');
  const merged = withEnvFile(file, known, { LOG_LEVEL: 'warn', PAPER_COLUMNS: '' });
  assert.deepEqual(
    merged,
    { PRINTER: 'windows:Bar', LOG_LEVEL: 'warn', PAPER_COLUMNS: '58mm' },
    'the environment wins; an empty variable does not',
  );
  const config = loadAgentConfig(merged);
  assert.equal(config.printer, 'windows:Bar');
  assert.equal(config.columns, 32);
});
