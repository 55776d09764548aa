import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { runCheck } from '../../agent/check';
import { loadAgentConfig } from '../../config';
import { agentChildEnv, mqttCredentials, startTestServer, startVirtualPrinter, tempDir } from '../support/harness';

test('--check lists usblp devices and USB printer-class devices, asks the printer and the broker, and says what to fix', async (t) => {
  const server = await startTestServer(t);
  const printer = await startVirtualPrinter(t, 'paper-out');
  // A machine's /dev/usb and /sys/bus/usb/devices as Linux lays them out: one printer-class device, one hub.
  const root = tempDir(t);
  const devUsb = path.join(root, 'dev-usb');
  const sysUsb = path.join(root, 'sys-usb');
  fs.mkdirSync(devUsb);
  fs.writeFileSync(path.join(devUsb, 'lp0'), '');
  const files: Record<string, string> = {
    '1-1.2/idVendor': '04b8',
    '1-1.2/idProduct': '0e15',
    '1-1.2/manufacturer': 'EPSON',
    '1-1.2/product': 'TM-T20II',
    '1-1.2:1.0/bInterfaceClass': '07',
    '1-1/idVendor': '2109',
    '1-1/idProduct': '3431',
    '1-1:1.0/bInterfaceClass': '09',
  };
  for (const [file, value] of Object.entries(files)) {
    fs.mkdirSync(path.join(sysUsb, path.dirname(file)), { recursive: true });
    fs.writeFileSync(path.join(sysUsb, file), value + '\n');
  }
  const credentials = mqttCredentials(server, { printerId: 'printer-1' });
  const config = loadAgentConfig(
    {},
    {
      printer: printer.url,
      mqttUrl: server.tcpUrl,
      mqttUsername: credentials.username ?? '',
      mqttPassword: credentials.password ?? '',
    },
  );
  let out: string[] = [];
  const ok = await runCheck(config, (line) => out.push(line), { devUsb, sysUsb });
  const text = out.join('\n');
  assert.equal(ok, false, text);
  assert.match(
    text,
    new RegExp(`${devUsb}/lp0 \\(usblp\\): this user \\(\\w+\\) may print to it: PRINTER=${devUsb}/lp0`),
  );
  assert.match(text, /USB printer 04b8:0e15 EPSON TM-T20II: PRINTER=usb:04b8:0e15/);
  assert.doesNotMatch(text, /2109:3431/, 'a hub is not a printer');
  assert.match(text, new RegExp(`OK: tcp://127\\.0\\.0\\.1:${printer.port} opens \\(nothing was printed\\)`));
  assert.match(text, /PROBLEM: paper-out: out of paper: load a new roll/);
  assert.match(text, /OK: the broker accepts this agent/);
  assert.match(text, /Fix the PROBLEM lines above/);
  assert.equal(printer.receipts.length, 0);

  printer.setCondition('ok');
  out = [];
  assert.equal(await runCheck(config, (line) => out.push(line), { devUsb, sysUsb }), true, out.join('\n'));
  assert.match(out.join('\n'), /status: ok: ready[\s\S]*All good: this agent can print\./);
});

test('npm run agent -- --check, as a person runs it: a missing printer and an unreachable broker, explained, exit code 1', async (t) => {
  const server = await startTestServer(t);
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadPort = (closed.address() as net.AddressInfo).port;
  await new Promise((resolve) => closed.close(resolve));

  const child = spawn('npm', ['run', '--silent', 'agent', '--', '--check'], {
    env: agentChildEnv(server, 'printer-1', {
      PRINTER: '/nonexistent/usb/lp0',
      MQTT_URL: `mqtt://127.0.0.1:${deadPort}`,
    }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 1, out);
  assert.match(out, /Printers this machine sees/);
  assert.match(out, /PROBLEM: no printer at \/nonexistent\/usb\/lp0: is it plugged in and switched on\? \(ENOENT\)/);
  assert.match(out, /PROBLEM: unavailable: no printer at \/nonexistent\/usb\/lp0/);
  assert.match(out, /PROBLEM: cannot connect: .*ECONNREFUSED.*is the server running, and MQTT_URL right\?/);
});

test('--help lists --check and every setting; --version prints the version', async () => {
  const run = (arg: string) =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'agent/main.ts', arg], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code) => resolve({ code, out }));
    });
  const help = await run('--help');
  assert.equal(help.code, 0);
  for (const word of ['--check', 'PRINTER ', 'CUPS_SERVER', 'PRINTER_STATUS_INTERVAL_MS', 'PAPER_COLUMNS', 'CODEPAGE'])
    assert.ok(help.out.includes(word), word);
  const version = await run('--version');
  assert.equal(version.code, 0);
  assert.match(version.out, /^\d+\.\d+\.\d+\n$/);
});
