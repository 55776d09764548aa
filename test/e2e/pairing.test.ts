/**
 * Pairing with real programs: a server and an agent started with only PRINTHOP_URL and a `file:` printer.
 * The code is read from the paper (the pairing receipt, decoded), approved through the admin API, and the
 * agent comes online, prints a job once, and starts again without pairing. Expired, reused and wrong codes
 * are refused, and nothing of a pairing opens the broker.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { PAIRING_RECEIPT_TITLE } from '../../agent/pairing-receipt';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { ChildProgram, startServerChild } from '../support/child-programs';
import { getJson, postJson, startTestServer, tempDir, waitFor } from '../support/harness';
import { checkAgainstDocument } from '../support/openapi-check';
import { readPaper } from '../support/paper-audit';

const ADMIN_PASSWORD = 'pairing-test-admin-password';
const AGENT = { machine: 'caisse-1', platform: 'linux-x64', printer: 'file', agentVersion: '0.1.0' };

/** A request with the admin password, its answer checked against /openapi.json. */
async function admin(
  baseUrl: string,
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const res = await fetch(baseUrl + route, {
    method,
    headers: {
      authorization: `Bearer ${ADMIN_PASSWORD}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json: unknown = await res.json();
  checkAgainstDocument({ method, url: res.url, status: res.status, headers: res.headers, body: json });
  return { status: res.status, json };
}

function receiptsOn(file: string) {
  return decodeEscPos(readPaper(file)).receipts;
}

test('an agent with only PRINTHOP_URL prints its code, is approved through the admin API, prints a job once and restarts without pairing', async (t) => {
  const dir = tempDir(t, 'printhop-pairing-');
  const { baseUrl } = await startServerChild(t, {
    DATA_DIR: path.join(dir, 'server'),
    PRINTERS: 'printer-1',
    ADMIN_PASSWORD,
  });

  const paper = path.join(dir, 'paper.prn');
  const agentDir = path.join(dir, 'agent');
  // Only the server's address and the printer (and where its data goes, to keep the test to itself).
  const agentEnv = {
    PRINTHOP_URL: baseUrl,
    PRINTER: `file:${paper}`,
    AGENT_DATA_DIR: agentDir,
    LOG_LEVEL: 'info',
    MQTT_URL: '',
    MQTT_PASSWORD: '',
    PRINTER_ID: '',
  };
  const startAgent = (name: string) => {
    const agent = new ChildProgram(name, 'agent/main.ts', agentEnv);
    t.after(() => agent.kill('SIGKILL'));
    return agent;
  };
  const first = startAgent('agent#1');

  // The code, as the printer printed it.
  const receipt = await waitFor(
    'the pairing receipt on paper',
    () => {
      if (!first.running) throw new Error(`agent exited: ${first.output}`);
      return receiptsOn(paper).find((r) => r.cut && r.lines.includes(PAIRING_RECEIPT_TITLE));
    },
    30_000,
    100,
  );
  assert.deepEqual(decodeEscPos(readPaper(paper)).unexpected, []);
  assert.equal(receipt.large.length, 1, 'one line in large characters');
  const printed = receipt.large[0]!.trim();
  assert.match(printed, /^\d{3}-\d{3}$/);
  assert.ok(receipt.commands.includes('GS ! 17'), 'double width and height');
  assert.ok(receipt.lines.includes(`Page : ${baseUrl}/admin`), receipt.text);
  assert.ok(
    receipt.lines.some((l) => /^Valable jusqu'à : \d{4}-\d{2}-\d{2} \d{2}:\d{2}$/.test(l)),
    receipt.text,
  );
  await waitFor('the code in the log', () => first.output.includes(`pairing code: ${printed}`));
  const code = printed.replace('-', '');

  // The admin sees it waiting, with the agent's machine and printer.
  const { json: pending } = await admin(baseUrl, 'GET', '/admin/api/pairings');
  const listed = (pending as Array<{ code: string; machine: string; printer: string }>).find((p) => p.code === code);
  assert.ok(listed, JSON.stringify(pending));
  assert.equal(listed.printer, 'file');
  assert.equal(listed.machine, os.hostname().slice(0, 64));

  // A wrong code and a malformed one are refused; the right one is approved once.
  const wrong = String((Number(code) + 1) % 1_000_000).padStart(6, '0');
  assert.equal(
    (await admin(baseUrl, 'POST', '/admin/api/pairings', { code: wrong, printerId: 'cuisine' })).status,
    404,
  );
  assert.equal(
    (await admin(baseUrl, 'POST', '/admin/api/pairings', { code: '12-34', printerId: 'cuisine' })).status,
    400,
  );
  const approved = await admin(baseUrl, 'POST', '/admin/api/pairings', { code: printed, printerId: 'cuisine' });
  assert.equal(approved.status, 201, JSON.stringify(approved.json));
  assert.deepEqual(approved.json, { code, printerId: 'cuisine', replaced: false, machine: listed.machine });
  assert.equal((await admin(baseUrl, 'POST', '/admin/api/pairings', { code, printerId: 'bar' })).status, 409);

  // The agent comes online as `cuisine`, with its token kept 0600 for the next start.
  const online = async () => {
    const { json } = await getJson<Array<{ id: string; state: string }>>(baseUrl, '/printers');
    return json.find((p) => p.id === 'cuisine')?.state === 'online';
  };
  await waitFor('cuisine online', online, 30_000, 100);
  const credentials = path.join(agentDir, 'credentials.json');
  assert.equal(fs.statSync(credentials).mode & 0o777, 0o600);
  const saved = JSON.parse(fs.readFileSync(credentials, 'utf8')) as { printerId: string; token: string };
  assert.equal(saved.printerId, 'cuisine');
  assert.ok(!first.output.includes(saved.token), 'the token is never logged');
  assert.ok(!fs.existsSync(path.join(agentDir, 'pairing.json')), 'the pairing under way is forgotten');

  const printOne = async (content: string) => {
    const res = await postJson(baseUrl, '/print', { content, printerId: 'cuisine' });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    const { id } = res.json as PrintJob;
    await waitFor(
      `job ${id} printed`,
      async () => (await getJson<PrintJob>(baseUrl, `/jobs/${id}`)).json.status === 'printed',
      30_000,
      100,
    );
  };
  await printOne('Première commande, après appairage');
  const contents = () => receiptsOn(paper).map((r) => r.lines[3]);
  assert.equal(contents().filter((c) => c === 'Première commande, après appairage').length, 1);
  assert.equal(receiptsOn(paper).length, 2, 'the pairing receipt and the job: nothing more for the pairing');

  // Started again: no new code, online with the saved token.
  await first.kill('SIGTERM');
  await waitFor('cuisine offline', async () => !(await online()), 30_000, 100);
  const second = startAgent('agent#2');
  await waitFor('cuisine online again', online, 30_000, 100);
  await printOne('Deuxième commande');
  assert.equal(receiptsOn(paper).filter((r) => r.lines.includes(PAIRING_RECEIPT_TITLE)).length, 1);
  assert.equal(contents().filter((c) => c === 'Deuxième commande').length, 1);
  assert.equal(receiptsOn(paper).length, 3);
  assert.ok(!second.output.includes('pairing code:'), second.output);
  await second.kill('SIGTERM');
});

test('expired, reused and wrong codes are refused; wrong ones lock the address out; a pairing opens nothing on the broker', async (t) => {
  const server = await startTestServer(t, {
    adminPassword: ADMIN_PASSWORD,
    admin: { sessionMs: 3_600_000, lockoutAttempts: 3, lockoutMs: 900_000 },
    pairing: { enabled: true, codeMs: 1_000, ratePerMinute: 100 },
  });
  const started = await postJson(server.baseUrl, '/pairing', AGENT);
  assert.equal(started.status, 201);
  const { id, code, secret, expiresAt } = started.json as {
    id: string;
    code: string;
    secret: string;
    expiresAt: string;
  };

  // Before approval the secret is no password on the broker, under any name.
  for (const username of [id, 'printer-1', 'cuisine']) {
    await assert.rejects(
      mqtt.connectAsync(server.tcpUrl, { username, password: secret, reconnectPeriod: 0, connectTimeout: 5000 }),
      /Not authorized|Bad username or password/,
    );
  }
  const claim = (s: string) =>
    fetch(`${server.baseUrl}/pairing/${id}/claim`, { method: 'POST', headers: { authorization: `Bearer ${s}` } });
  const pending = await claim(secret);
  assert.equal(pending.status, 200);
  assert.deepEqual(await pending.json(), { status: 'pending', expiresAt });
  assert.equal((await claim('a-wrong-secret')).status, 401);

  // Expired: waiting past its time can only make it more expired.
  await waitFor('the code expired', () => Date.now() > Date.parse(expiresAt) + 50, 5000);
  assert.equal(
    (await admin(server.baseUrl, 'POST', '/admin/api/pairings', { code, printerId: 'cuisine' })).status,
    410,
  );
  assert.equal((await claim(secret)).status, 410);
  assert.ok(!server.registry.isActive('cuisine'));

  // Reused: a fresh code, approved, then approved again.
  const fresh = (await postJson(server.baseUrl, '/pairing', AGENT)).json as { code: string };
  assert.equal(
    (await admin(server.baseUrl, 'POST', '/admin/api/pairings', { code: fresh.code, printerId: 'cuisine' })).status,
    201,
  );
  assert.equal(
    (await admin(server.baseUrl, 'POST', '/admin/api/pairings', { code: fresh.code, printerId: 'cuisine' })).status,
    409,
  );

  // Wrong codes count like wrong passwords: the third locks this address out, right password or not.
  const unused = ['000000', '111111', '222222', '333333'].filter((c) => c !== fresh.code && c !== code);
  assert.equal(
    (await admin(server.baseUrl, 'POST', '/admin/api/pairings', { code: unused[0], printerId: 'x' })).status,
    404,
  );
  assert.equal(
    (await admin(server.baseUrl, 'POST', '/admin/api/pairings', { code: unused[1], printerId: 'x' })).status,
    404,
  );
  const locked = await admin(server.baseUrl, 'POST', '/admin/api/pairings', { code: unused[2], printerId: 'x' });
  assert.equal(locked.status, 429, JSON.stringify(locked.json));
  assert.equal((await admin(server.baseUrl, 'GET', '/admin/api/pairings')).status, 429);
});

test('PAIRING=false: asking for a code and approving one are 404s', async (t) => {
  const server = await startTestServer(t, {
    adminPassword: ADMIN_PASSWORD,
    pairing: { enabled: false, codeMs: 600_000, ratePerMinute: 10 },
  });
  const res = await postJson(server.baseUrl, '/pairing', AGENT);
  assert.equal(res.status, 404);
  assert.match((res.json as { error: string }).error, /PAIRING=false/);
  const approval = await admin(server.baseUrl, 'POST', '/admin/api/pairings', { code: '123456', printerId: 'x' });
  assert.equal(approval.status, 404);
  assert.deepEqual((await admin(server.baseUrl, 'GET', '/admin/api/pairings')).json, []);
});
