/**
 * The Windows executable, for real, under Wine: `npm run build:agents`'s printhop-agent-win-x64.exe
 * (Windows node.exe + the agent + koffi's win32 module) run by Wine against a Printhop server on
 * loopback, with PRINTER=windows:receipts and its settings in printhop-agent.env next to it. Wine's
 * winspool.drv maps the queues of the private cupsd (CUPS_SERVER) to Windows printers, so the
 * agent's RAW documents (OpenPrinterW ... WritePrinter ... EndDocPrinter through koffi) land in a
 * CUPS raw queue whose backend appends the bytes to a file: decoded here, each job once.
 *
 * Measured facts this relies on (Debian 12, Wine 8.0): a prefix needs `wineboot -i` and Windows 10
 * (`winecfg -v win10`: Node 20 refuses Wine's default Windows 7); node.exe dies with EBADF when its
 * stdout is a pipe (so it is a file); Wine's GetPrinterW reports no status for a CUPS queue (a
 * disabled queue holds the jobs in CUPS instead, as a paused Windows queue holds them in the spooler).
 *
 * Skipped where Wine is missing, unless PRINTHOP_REQUIRE_SERVICES=1 (CI), then it fails.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import { buildAgents } from '../../scripts/build-agents';
import { startTestCups, type TestCups } from '../support/cups';
import { makeWinePrefix, wine, wineEnv, wineMissing } from '../support/wine';
import {
  defer,
  getJson,
  mqttCredentials,
  postJson,
  startTestServer,
  tempDir,
  type TestServer,
  waitFor,
} from '../support/harness';

const skip = wineMissing;

const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/** What Wine needs and nothing of this machine's settings, with the test's CUPS for winspool. */
const cupsWineEnv = (prefix: string, cups: TestCups, extra: Record<string, string> = {}): NodeJS.ProcessEnv =>
  wineEnv(prefix, { CUPS_SERVER: cups.socket, ...extra });

interface WineAgent {
  child: ChildProcess;
  exited: Promise<void>;
  log: () => string;
}

/** The executable under Wine, its output in a file (a pipe kills node.exe under Wine with EBADF). */
function startWineAgent(t: TestContext, exe: string, prefix: string, cups: TestCups, logFile: string): WineAgent {
  const out = fs.openSync(logFile, 'a');
  const child = spawn(wine!, [exe], {
    cwd: path.dirname(exe),
    env: cupsWineEnv(prefix, cups),
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  defer(t, async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, exited, log: () => fs.readFileSync(logFile, 'utf8') };
}

const receiptsOn = (paper: string) => decodeEscPos(fs.existsSync(paper) ? fs.readFileSync(paper) : Buffer.alloc(0));
const jobStatus = async (server: TestServer, id: number) =>
  (await getJson<PrintJob>(server.baseUrl, `/jobs/${id}`)).json.status;

test(
  'the Windows executable under Wine prints through the spooler API (winspool.drv RAW) exactly once, survives a kill, and waits for a paused queue',
  { skip, timeout: 20 * 60_000 },
  async (t) => {
    const started = Date.now();
    const built = await buildAgents(['win-x64']);
    const exeBuilt = built[0]!;
    t.diagnostic(
      `build of ${path.basename(exeBuilt.file)}: ${seconds(started)}, ${(exeBuilt.bytes / 1024 / 1024).toFixed(1)} MB`,
    );

    const cups = await startTestCups(t);
    const paper = cups.addQueue('receipts');
    const prefixStarted = Date.now();
    const prefix = makeWinePrefix(t); // syswow64 rundll32 c0000135 at wineboot is harmless (no 32-bit Wine)
    t.diagnostic(`Wine prefix (wineboot -i, winecfg -v win10): ${seconds(prefixStarted)}`);

    const server = await startTestServer(t);
    const { password } = mqttCredentials(server, { printerId: 'printer-1' });
    const home = tempDir(t, 'printhop-winagent-');
    const exe = path.join(home, 'printhop-agent.exe');
    fs.copyFileSync(exeBuilt.file, exe);
    // Its settings as a Windows user would write them: one file next to the executable, CRLF, a comment.
    fs.writeFileSync(
      path.join(home, 'printhop-agent.env'),
      [
        '# Printhop agent settings',
        `MQTT_URL=${server.tcpUrl}`,
        'PRINTER_ID=printer-1',
        `MQTT_PASSWORD=${password}`,
        'PRINTER=windows:receipts',
        'PAPER_COLUMNS=58mm',
        'TZ=UTC',
        // A Windows path: the journal lives in the prefix's C: drive.
        'AGENT_DATA_DIR=C:\\printhop-test\\journal',
        'RECONNECT_MIN_MS=200',
        'RECONNECT_MAX_MS=1000',
        'LOG_LEVEL=info',
        '',
      ].join('\r\n'),
    );
    const logFile = path.join(home, 'agent.log');
    const online = () =>
      waitFor(
        'the agent online',
        async () => (await server.printers.get('printer-1'))?.state === 'online',
        60_000,
        200,
      ).catch((err: unknown) => {
        throw new Error(
          `${(err as Error).message}; the agent's output:\n${fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-3000) : '(none)'}`,
        );
      });
    const offline = () =>
      waitFor(
        'the agent offline',
        async () => (await server.printers.get('printer-1'))?.state !== 'online',
        60_000,
        200,
      );

    const posted: Array<{ id: number; content: string }> = [];
    const post = async (content: string) => {
      const job = (await postJson(server.baseUrl, '/print', { content })).json as PrintJob;
      posted.push({ id: job.id, content });
      return job.id;
    };

    // --check: the spooler's printers (EnumPrintersW, GetDefaultPrinterW), the configured one opened, its status.
    const checkFile = path.join(home, 'check.log');
    const checkOut = fs.openSync(checkFile, 'w');
    // Not spawnSync: the server it asks runs in this process.
    const checker = spawn(wine!, [exe, '--check'], {
      cwd: home,
      env: cupsWineEnv(prefix, cups),
      stdio: ['ignore', checkOut, checkOut],
      timeout: 120_000,
    });
    fs.closeSync(checkOut);
    const check = await new Promise<{ status: number | null }>((resolve) =>
      checker.once('exit', (status) => resolve({ status })),
    );
    const checkText = fs.readFileSync(checkFile, 'utf8');
    assert.match(
      checkText,
      /Windows printer "receipts" \[default\], port CUPS:receipts.*: PRINTER=windows:receipts/,
      checkText,
    );
    assert.match(checkText, /OK: windows:receipts opens \(nothing was printed\)/, checkText);
    assert.match(checkText, /status: ok: ready/, checkText);
    assert.match(checkText, /OK: the broker accepts this agent/, checkText);
    assert.equal(check.status, 0, checkText);

    let agent = startWineAgent(t, exe, prefix, cups, logFile);
    const agentStarted = Date.now();
    await online();
    t.diagnostic(`agent under Wine online after ${seconds(agentStarted)}`);

    await t.test(
      'receipts with accents on 58 mm paper reach the CUPS queue through the Windows spooler, each once',
      async () => {
        const ids = [
          await post('Crème brûlée à 5 €'),
          await post('Ça coûte 12,50 € TTC'),
          await post('Señor Müller ½ «café»'),
        ];
        for (const id of ids)
          await waitFor(`job ${id} printed`, async () => (await jobStatus(server, id)) === 'printed', 60_000, 200);
        const decoded = await waitFor(
          'three receipts on the paper',
          () => {
            const d = receiptsOn(paper);
            return d.receipts.filter((r) => r.cut).length >= 3 ? d : null;
          },
          30_000,
          200,
        );
        assert.deepEqual(decoded.unexpected, [], 'only commands Printhop sends');
        const receipts = decoded.receipts.filter((r) => r.cut);
        assert.deepEqual(
          receipts.map((r) => r.lines[3]),
          ['Crème brûlée à 5 €', 'Ça coûte 12,50 € TTC', 'Señor Müller ½ «café»'],
        );
        for (const r of receipts) {
          assert.equal(r.codePage, 'PC858');
          assert.ok(
            r.lines.every((line) => line.length <= 32),
            `58 mm: 32 columns (${JSON.stringify(r.lines)})`,
          );
        }
        // The document names the agent gave StartDocPrinterW reached CUPS as the jobs' titles.
        assert.deepEqual(
          fs.readFileSync(`${paper}.titles`, 'utf8').trim().split('\n'),
          ids.map((id) => `printhop-job-${id}`),
        );
        assert.ok(
          fs.existsSync(path.join(prefix, 'drive_c/printhop-test/journal/journal.jsonl')),
          'the journal is at C:\\printhop-test\\journal',
        );
        assert.doesNotMatch(agent.log(), new RegExp(password), 'the MQTT password is never logged');
      },
    );

    await t.test('killed while jobs stream in and started again: nothing lost, nothing printed twice', async () => {
      const before = posted.length;
      const streaming = (async () => {
        for (let i = 1; i <= 8; i++) {
          await post(`Commande n°${i}: thé`);
          await new Promise((r) => setTimeout(r, 150));
        }
      })();
      // Kill it as soon as it has printed one of them: mid-stream.
      await waitFor(
        'the stream reaches the printer',
        async () => {
          const mine = posted.slice(before);
          for (const job of mine) if ((await jobStatus(server, job.id)) === 'printed') return true;
          return false;
        },
        60_000,
        50,
      );
      agent.child.kill('SIGKILL');
      await agent.exited;
      await streaming;
      await offline();
      agent = startWineAgent(t, exe, prefix, cups, logFile);
      await online();
      const mine = posted.slice(before);
      const final = await waitFor(
        'every job printed (or interrupted if the kill caught it mid-print)',
        async () => {
          const statuses = await Promise.all(mine.map((j) => jobStatus(server, j.id)));
          return statuses.every((s) => s === 'printed' || s === 'interrupted') ? statuses : null;
        },
        90_000,
        250,
      );
      const interrupted = final.filter((s) => s === 'interrupted').length;
      assert.ok(interrupted <= 1, `at most the one job being printed at the kill is interrupted (${interrupted})`);
      const expected = mine.filter((_, i) => final[i] === 'printed').map((j) => j.content);
      const printedText = await waitFor(
        'the printed jobs on the paper',
        () => {
          const lines = receiptsOn(paper)
            .receipts.filter((r) => r.cut)
            .map((r) => r.lines[3]!);
          return expected.every((c) => lines.includes(c)) ? lines : null;
        },
        30_000,
        200,
      );
      for (const job of mine) {
        const copies = printedText.filter((l) => l === job.content).length;
        assert.ok(copies <= 1, `${job.content}: printed ${copies} times`);
      }
      t.diagnostic(`kill test: ${mine.length} jobs, ${interrupted} interrupted by the kill`);
    });

    await t.test(
      'a disabled CUPS queue (a paused printer) holds the jobs; enabled, they print, each once',
      async () => {
        const before = receiptsOn(paper).receipts.filter((r) => r.cut).length;
        execFileSync('cupsdisable', ['-h', cups.socket, 'receipts']);
        const ids = [await post('En attente 1: pâtes'), await post('En attente 2: crêpes')];
        for (const id of ids)
          await waitFor(
            `job ${id} handed to the spooler`,
            async () => (await jobStatus(server, id)) === 'printed',
            60_000,
            200,
          );
        const held = await waitFor(
          'CUPS holds both jobs',
          () => {
            const queued = execFileSync('lpstat', ['-h', cups.socket, '-o', 'receipts'], { encoding: 'utf8' })
              .trim()
              .split('\n')
              .filter(Boolean);
            return queued.length >= 2 ? queued : null;
          },
          30_000,
          200,
        );
        assert.equal(held.length, 2);
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal(
          receiptsOn(paper).receipts.filter((r) => r.cut).length,
          before,
          'nothing printed while the queue is disabled',
        );
        execFileSync('cupsenable', ['-h', cups.socket, 'receipts']);
        const lines = await waitFor(
          'both printed once enabled',
          () => {
            const cut = receiptsOn(paper).receipts.filter((r) => r.cut);
            return cut.length >= before + 2 ? cut.map((r) => r.lines[3]!) : null;
          },
          30_000,
          200,
        );
        assert.deepEqual(lines.slice(before), ['En attente 1: pâtes', 'En attente 2: crêpes']);
      },
    );

    // Every job of this test on the paper at most once, whatever happened.
    const all = receiptsOn(paper)
      .receipts.filter((r) => r.cut)
      .map((r) => r.lines[3]);
    assert.equal(new Set(all).size, all.length, `no receipt twice: ${JSON.stringify(all)}`);
    t.diagnostic(`whole Wine test: ${seconds(started)} (the CI time this suite adds)`);
  },
);

test(
  'the Linux x64 executable prints with no Node install: settings from printhop-agent.env, the environment winning',
  {
    timeout: 10 * 60_000,
    skip: process.arch !== 'x64' || process.platform !== 'linux' ? 'runs on Linux x64 only' : false,
  },
  async (t) => {
    const started = Date.now();
    const [built] = await buildAgents(['linux-x64']);
    t.diagnostic(
      `build of ${path.basename(built!.file)}: ${seconds(started)}, ${(built!.bytes / 1024 / 1024).toFixed(1)} MB`,
    );
    const server = await startTestServer(t);
    const { password } = mqttCredentials(server, { printerId: 'printer-1' });
    const home = tempDir(t, 'printhop-linuxagent-');
    const exe = path.join(home, 'printhop-agent');
    fs.copyFileSync(built!.file, exe);
    fs.chmodSync(exe, 0o755);
    fs.writeFileSync(
      path.join(home, 'printhop-agent.env'),
      `MQTT_URL=${server.tcpUrl}\nMQTT_PASSWORD=${password}\nPRINTER=file:paper.prn\nPAPER_COLUMNS=80mm\nTZ=UTC\n`,
    );
    // Started from elsewhere, with no PATH to a node: relative paths are the executable's folder's.
    const log = path.join(home, 'agent.log');
    const out = fs.openSync(log, 'a');
    const child = spawn(exe, [], {
      cwd: tempDir(t),
      env: { PAPER_COLUMNS: '58mm', LOG_LEVEL: 'info' },
      stdio: ['ignore', out, out],
    });
    fs.closeSync(out);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    defer(t, async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    });
    await waitFor(
      'the agent online',
      async () => (await server.printers.get('printer-1'))?.state === 'online',
      30_000,
      100,
    );
    const job = (await postJson(server.baseUrl, '/print', { content: 'Crème brûlée à 5 €' })).json as PrintJob;
    await waitFor('printed', async () => (await jobStatus(server, job.id)) === 'printed', 30_000, 100);
    const receipts = receiptsOn(path.join(home, 'paper.prn')).receipts.filter((r) => r.cut);
    assert.deepEqual(
      receipts.map((r) => r.lines[3]),
      ['Crème brûlée à 5 €'],
    );
    assert.ok(
      receipts[0]!.lines.every((line) => line.length <= 32),
      'PAPER_COLUMNS from the environment (58mm) won over the file (80mm)',
    );
    assert.ok(
      fs.existsSync(path.join(home, 'data/agent/journal.jsonl')),
      "the default AGENT_DATA_DIR is in the executable's folder",
    );
    assert.doesNotMatch(fs.readFileSync(log, 'utf8'), new RegExp(password));
  },
);
