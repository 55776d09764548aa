/**
 * The Windows download, for real, under Wine: the .zip the admin page links to, fetched from a server that
 * serves the executable `npm run build:agents` made, unzipped, and run as it comes (its printhop-agent.env
 * holds only the server's address; the printer is a `file:` one, given in the environment, which wins over
 * the file): the pairing code is printed, approved through the admin API, and a job prints once.
 * `--install` / `--uninstall` are not run here: under Wine 8, `schtasks /Create /XML` keeps only part of the
 * task (no boot trigger, principal or command) and the registration hung in one run of two, so the task's
 * XML is checked by windows-task.unit.test.ts and the rest is in the README's list of what only Windows shows.
 *
 * Skipped where Wine is missing, unless PRINTHOP_REQUIRE_SERVICES=1 (CI), then it fails.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { PAIRING_RECEIPT_TITLE } from '../../agent/pairing-receipt';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { buildAgents } from '../../scripts/build-agents';
import { getJson, postJson, startTestServer, tempDir, waitFor } from '../support/harness';
import { readPaper } from '../support/paper-audit';
import { makeWinePrefix, runUnderWine, wineMissing } from '../support/wine';

const ADMIN = 'admin-password-for-windows';
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

test(
  'under Wine: the Windows .zip unpacks to an agent that pairs and prints',
  { skip: wineMissing, timeout: 15 * 60_000 },
  async (t) => {
    const [built] = await buildAgents(['win-x64']);
    const prefix = makeWinePrefix(t);
    const server = await startTestServer(t, { adminPassword: ADMIN });

    const res = await fetch(`${server.baseUrl}/agents/printhop-agent-windows.zip`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/zip');
    const zip = Buffer.from(await res.arrayBuffer());
    assert.equal(Number(res.headers.get('content-length')), zip.length);
    const home = tempDir(t, 'printhop-windows-');
    fs.writeFileSync(path.join(home, 'agent.zip'), zip);
    execFileSync('unzip', ['-q', 'agent.zip'], { cwd: home });
    fs.rmSync(path.join(home, 'agent.zip'));
    assert.deepEqual(fs.readdirSync(home).sort(), ['printhop-agent.env', 'printhop-agent.exe']);
    assert.equal(sha256(fs.readFileSync(path.join(home, 'printhop-agent.exe'))), sha256(fs.readFileSync(built!.file)));
    const env = fs.readFileSync(path.join(home, 'printhop-agent.env'), 'utf8');
    assert.ok(env.includes(`\r\nPRINTHOP_URL=${server.baseUrl}\r\n`), env);

    const exe = path.join(home, 'printhop-agent.exe');
    const agent = runUnderWine(t, exe, [], {
      prefix,
      cwd: home,
      logFile: path.join(home, 'agent-output.log'),
      env: { PRINTER: 'file:paper.prn', LOG_LEVEL: 'info', RECONNECT_MIN_MS: '200', RECONNECT_MAX_MS: '1000' },
    });
    const paper = path.join(home, 'paper.prn');
    const receipt = await waitFor(
      'the pairing receipt',
      () => {
        if (agent.child.exitCode !== null) throw new Error(`the agent exited: ${agent.output().slice(-3000)}`);
        return decodeEscPos(readPaper(paper)).receipts.find((r) => r.cut && r.lines.includes(PAIRING_RECEIPT_TITLE));
      },
      120_000,
      250,
    );
    const code = receipt.large[0]!.trim();
    const approve = await postJson(
      server.baseUrl,
      '/admin/api/pairings',
      { code, printerId: 'caisse-windows' },
      { authorization: `Bearer ${ADMIN}` },
    );
    assert.equal(approve.status, 201, JSON.stringify(approve.json));
    await waitFor(
      'the Windows agent online',
      async () => (await server.printers.get('caisse-windows'))?.state === 'online',
      120_000,
      250,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; its output:\n${agent.output().slice(-3000)}`);
    });
    assert.equal(
      fs.statSync(path.join(home, 'data/agent/credentials.json')).isFile(),
      true,
      'kept next to the executable',
    );
    const job = (await postJson(server.baseUrl, '/print', { content: 'Ticket sous Wine', printerId: 'caisse-windows' }))
      .json as PrintJob;
    await waitFor(
      'printed',
      async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'printed',
      60_000,
      250,
    );
    const contents = decodeEscPos(readPaper(paper)).receipts.map((r) => r.lines[3]);
    assert.equal(contents.filter((c) => c === 'Ticket sous Wine').length, 1);
    agent.child.kill('SIGKILL');
    await agent.exited;
  },
);
