/**
 * Printers managed live on the embedded broker, with real parts (server, Aedes, SQLite, agents, mqtt.js,
 * HTTP): added through the admin API and `npm run printers`, a first job printed with the agent command
 * shown, a rotated token refused at once and its connection closed, a removed printer's unfinished jobs
 * failed, the admin page's login, session, CSRF and lock-out, and the health endpoints.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import mqtt from 'mqtt';
import { loadAgentConfig } from '../../config';
import { startAgent } from '../../agent/agent';
import { decodeEscPos, type DecodeResult } from '../../agent/printers/escpos-decoder';
import { runPrintersCommand } from '../../broker-server/printers-command';
import { REMOVED_PRINTER_ERROR } from '../../broker-server/printers/printer-registry';
import {
  defer,
  getJson,
  postJson,
  startTestAgent,
  startTestServer,
  tempDir,
  testLogger,
  type TestServer,
  waitFor,
} from '../support/harness';

const ADMIN = 'admin-password-for-the-tests';
const bearer = { authorization: `Bearer ${ADMIN}` };

/** The settings an agent command shown by the server carries (`MQTT_URL=… PRINTER_ID=… MQTT_PASSWORD=… npm run agent`). */
function settingsOf(command: string): Record<string, string> {
  const settings: Record<string, string> = {};
  for (const m of command.matchAll(/([A-Z_]+)=('[^']*'|\S+)/g)) settings[m[1]!] = m[2]!.replace(/^'|'$/g, '');
  return settings;
}

/** An agent started from the settings of a shown command, on a file printer. */
async function agentFromCommand(t: TestContext, command: string, dir = tempDir(t, 'printhop-agent-')) {
  const s = settingsOf(command);
  const printerFile = path.join(dir, 'paper.prn');
  const config = loadAgentConfig(
    {},
    {
      printerId: s.PRINTER_ID!,
      mqttUrl: s.MQTT_URL!,
      mqttUsername: s.PRINTER_ID!,
      mqttPassword: s.MQTT_PASSWORD!,
      printer: `file:${printerFile}`,
      dataDir: path.join(dir, 'journal'),
      reconnectMinMs: 100,
      reconnectMaxMs: 500,
    },
  );
  const agent = await startAgent(config, testLogger());
  let stopped = false;
  const stop = async () => {
    if (!stopped) await agent.stop();
    stopped = true;
  };
  defer(t, stop);
  return {
    agent,
    stop,
    dir,
    paperText: () =>
      paperText(decodeEscPos(fs.existsSync(printerFile) ? fs.readFileSync(printerFile) : Buffer.alloc(0))),
  };
}

const paperText = (decoded: DecodeResult) => decoded.receipts.map((r) => r.text).join('\n');

async function jobStatus(server: TestServer, id: number): Promise<{ status: string; error: string | null }> {
  return (await getJson<{ status: string; error: string | null }>(server.baseUrl, `/jobs/${id}`)).json;
}

const mqttConnect = (server: TestServer, username: string, password: string) =>
  mqtt.connectAsync(server.tcpUrl, {
    username,
    password,
    reconnectPeriod: 0,
    connectTimeout: 3000,
    clientId: `probe-${Math.random().toString(36).slice(2)}`,
  });

test('a printer added through the admin API prints its first job with the command shown; a rotated token is refused at once', async (t) => {
  const server = await startTestServer(t, { adminPassword: ADMIN });
  const added = await postJson(server.baseUrl, '/admin/api/printers', { printerId: 'shop-9' }, bearer);
  assert.equal(added.status, 201, JSON.stringify(added.json));
  const issued = added.json as { printerId: string; token: string; agentCommand: string };
  assert.equal(issued.printerId, 'shop-9');
  assert.match(
    issued.agentCommand,
    new RegExp(
      `^MQTT_URL=ws://127\\.0\\.0\\.1:${server.httpPort}/mqtt PRINTER_ID=shop-9 MQTT_PASSWORD=${issued.token} npm run agent$`,
    ),
  );

  const first = await agentFromCommand(t, issued.agentCommand);
  await waitFor('shop-9 online', async () =>
    (await getJson<Array<{ id: string; state: string }>>(server.baseUrl, '/printers')).json.find(
      (p) => p.id === 'shop-9' && p.state === 'online',
    ),
  );
  const job = (await postJson(server.baseUrl, '/print', { content: 'Première tâche de shop-9', printerId: 'shop-9' }))
    .json as { id: number };
  await waitFor('first job printed', async () => (await jobStatus(server, job.id)).status === 'printed');
  assert.ok(first.paperText().includes('Première tâche de shop-9'));
  // The agent's retained status now carries its figures; the printers panel shows them.
  const info = await waitFor('the agent reports its last job', async () => {
    const p = (
      await getJson<
        Array<{
          id: string;
          agent: {
            version?: string;
            uptimeS?: number;
            journalSize?: number;
            lastJob?: { id: number; ms: number };
          } | null;
        }>
      >(server.baseUrl, '/printers')
    ).json.find((x) => x.id === 'shop-9');
    return p?.agent?.lastJob?.id === job.id ? p.agent : null;
  });
  assert.equal(info.version, '0.1.0');
  assert.ok(info.uptimeS! >= 0 && info.journalSize! >= 1 && info.lastJob!.ms >= 0);
  const pageHtml = await fetch(server.baseUrl + '/').then((r) => r.text());
  assert.match(pageHtml, new RegExp(`dernière : n°${job.id} en [0-9  ]+ ms`));
  assert.match(pageHtml, /agent 0\.1\.0/);

  // A watcher logged in with the current token: rotation closes its connection too.
  const watcher = await mqttConnect(server, 'shop-9', issued.token);
  const watcherClosed = new Promise<void>((resolve) => watcher.once('close', () => resolve()));
  defer(t, () => watcher.endAsync(true));

  // Rotation from the command, while the server runs.
  const env = { PORT: String(server.httpPort), HOST: '127.0.0.1', DATA_DIR: server.dataDir, ADMIN_PASSWORD: ADMIN };
  const rotated = await runPrintersCommand(['rotate', 'shop-9'], env);
  assert.equal(rotated.code, 0, rotated.out);
  const newToken = /token \(shown once\): (\S+)/.exec(rotated.out)![1]!;
  assert.notEqual(newToken, issued.token);
  await watcherClosed;
  await assert.rejects(
    mqttConnect(server, 'shop-9', issued.token),
    /Not authorized|not authorized/i,
    'the old token is refused at once',
  );
  const fresh = await mqttConnect(server, 'shop-9', newToken);
  await fresh.endAsync();

  // The agent with the old token is out; a job waits for it, and prints once it restarts with the new token.
  await waitFor('shop-9 offline', async () =>
    (await getJson<Array<{ id: string; state: string }>>(server.baseUrl, '/printers')).json.find(
      (p) => p.id === 'shop-9' && p.state === 'offline',
    ),
  );
  const waiting = (await postJson(server.baseUrl, '/print', { content: 'Après la rotation', printerId: 'shop-9' }))
    .json as { id: number };
  await first.stop();
  const second = await agentFromCommand(
    t,
    `MQTT_URL=${settingsOf(issued.agentCommand).MQTT_URL} PRINTER_ID=shop-9 MQTT_PASSWORD=${newToken}`,
    first.dir,
  );
  await waitFor('job after rotation printed', async () => (await jobStatus(server, waiting.id)).status === 'printed');
  assert.ok(second.paperText().includes('Après la rotation'));

  const list = await runPrintersCommand(['list'], env);
  assert.equal(list.code, 0);
  assert.match(list.out, /^printer-1\t/m);
  assert.match(list.out, /^shop-9\t/m);
});

test('removing a printer: refused with jobs in flight, then forced: its unprinted jobs end failed, its token is refused, the others keep printing', async (t) => {
  const server = await startTestServer(t, { adminPassword: ADMIN, printers: ['printer-1'] });
  const running = await startTestAgent(t, server, { printerId: 'printer-1' });
  const added = (await postJson(server.baseUrl, '/admin/api/printers', { printerId: 'gone' }, bearer)).json as {
    token: string;
  };
  const a = (await postJson(server.baseUrl, '/print', { content: 'jamais imprimée 1', printerId: 'gone' })).json as {
    id: number;
  };
  const b = (await postJson(server.baseUrl, '/print', { content: 'jamais imprimée 2', printerId: 'gone' })).json as {
    id: number;
  };
  const events = new AbortController();
  const stream = await fetch(`${server.baseUrl}/jobs/events`, { signal: events.signal });
  defer(t, () => events.abort());
  const seen: string[] = [];
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream.body!) seen.push(decoder.decode(chunk as Uint8Array));
  })().catch(() => undefined);

  const env = { PORT: String(server.httpPort), HOST: '127.0.0.1', DATA_DIR: server.dataDir, ADMIN_PASSWORD: ADMIN };
  const refused = await runPrintersCommand(['remove', 'gone'], env);
  assert.equal(refused.code, 1);
  assert.match(refused.out, /refused \(409\): printer gone has 2 unfinished job\(s\).*--force/);
  assert.equal((await jobStatus(server, a.id)).status, 'sent', 'nothing done');

  const removed = await runPrintersCommand(['remove', 'gone', '--force'], env);
  assert.equal(removed.code, 0, removed.out);
  assert.match(removed.out, new RegExp(`jobs ${a.id}, ${b.id} ended failed`));
  for (const id of [a.id, b.id])
    assert.deepEqual(await jobStatus(server, id).then((j) => [j.status, j.error]), ['failed', REMOVED_PRINTER_ERROR]);
  await waitFor(
    'failures announced on the event stream',
    () => seen.join('').includes(`"id":${b.id},"printerId":"gone"`) && seen.join('').includes(REMOVED_PRINTER_ERROR),
  );
  await assert.rejects(mqttConnect(server, 'gone', added.token), /not authorized/i);
  assert.equal(
    (await postJson(server.baseUrl, '/print', { content: 'x', printerId: 'gone' })).status,
    422,
    'a removed printer takes no job',
  );
  assert.equal((await postJson(server.baseUrl, '/admin/api/printers/gone/rotate', {}, bearer)).status, 404);

  const after = (await postJson(server.baseUrl, '/print', { content: 'printer-1 imprime toujours' })).json as {
    id: number;
  };
  await waitFor('printer-1 still prints', async () => (await jobStatus(server, after.id)).status === 'printed');
  assert.ok(paperText(running.paper()).includes('printer-1 imprime toujours'));

  // Bad input through the API: clear 4xx, nothing stored.
  const dup = await postJson(server.baseUrl, '/admin/api/printers', { printerId: 'printer-1' }, bearer);
  assert.deepEqual([dup.status, (dup.json as { error: string }).error], [409, 'printer printer-1 already exists']);
  const invalid = await postJson(server.baseUrl, '/admin/api/printers', { printerId: 'a/b' }, bearer);
  assert.equal(invalid.status, 400);
  const wrong = await postJson(
    server.baseUrl,
    '/admin/api/printers',
    { printerId: 'x1' },
    { authorization: 'Bearer nope' },
  );
  assert.equal(wrong.status, 401);
  assert.deepEqual(
    (await getJson<Array<{ printerId: string }>>(server.baseUrl, '/printers')).json.map(
      (p) => (p as unknown as { id: string }).id,
    ),
    ['printer-1'],
  );
});

function cookieFrom(res: Response): string {
  const set = res.headers.get('set-cookie') ?? '';
  return set.split(';')[0]!;
}

async function form(
  server: TestServer,
  route: string,
  fields: Record<string, string>,
  cookie = '',
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; res: Response }> {
  const res = await fetch(server.baseUrl + route, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}), ...headers },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: res.status, text: await res.text(), res };
}

const csrfOf = (page: string) => /name="csrf" value="([^"]+)"/.exec(page)![1]!;

test('the admin page: login, HttpOnly SameSite=Strict cookie, CSRF on every form, clear refusals, lock-out, expiry', async (t) => {
  const server = await startTestServer(t, {
    adminPassword: ADMIN,
    trustProxy: 'loopback',
    admin: { sessionMs: 3_600_000, lockoutAttempts: 3, lockoutMs: 900_000 },
  });
  const loginPage = await fetch(`${server.baseUrl}/admin`).then((r) => r.text());
  assert.match(loginPage, /Connexion administrateur/);

  const wrong = await form(server, '/admin/login', { password: 'pas le bon' });
  assert.equal(wrong.status, 401);
  assert.match(wrong.text, /Mot de passe incorrect/);

  const ok = await form(server, '/admin/login', { password: ADMIN }, '', { 'x-forwarded-proto': 'https' });
  assert.equal(ok.status, 303);
  const setCookie = ok.res.headers.get('set-cookie')!;
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  assert.match(setCookie, /Secure/, 'behind TLS (X-Forwarded-Proto from a trusted proxy)');
  assert.match(setCookie, /Path=\/admin/);
  const plain = await form(server, '/admin/login', { password: ADMIN });
  assert.doesNotMatch(plain.res.headers.get('set-cookie')!, /Secure/, 'no Secure over plain HTTP');
  const cookie = cookieFrom(plain.res);

  const page = await fetch(`${server.baseUrl}/admin`, { headers: { cookie } }).then((r) => r.text());
  assert.match(page, /Registre des imprimantes/);
  assert.match(page, /id="admin-printer-printer-1"/);
  const csrf = csrfOf(page);

  const missing = await form(server, '/admin/printers', { printerId: 'kiosk' }, cookie);
  assert.equal(missing.status, 403);
  assert.match(missing.text, /jeton de sécurité absent ou invalide/);
  const forged = await form(server, '/admin/printers', { printerId: 'kiosk', csrf: 'forged' }, cookie);
  assert.equal(forged.status, 403);
  const noSession = await form(server, '/admin/printers', { printerId: 'kiosk', csrf });
  assert.equal(noSession.status, 401);
  assert.equal(
    (await getJson<unknown[]>(server.baseUrl, '/printers')).json.length,
    1,
    'nothing added by refused forms',
  );

  const added = await form(server, '/admin/printers', { printerId: 'kiosk', csrf }, cookie);
  assert.equal(added.status, 201);
  assert.match(added.text, /Imprimante kiosk ajoutée/);
  assert.match(
    added.text,
    /<pre id="agent-command" class="command">MQTT_URL=ws:\/\/127\.0\.0\.1:\d+\/mqtt PRINTER_ID=kiosk MQTT_PASSWORD=[A-Za-z0-9_-]{32} npm run agent<\/pre>/,
  );
  const again = await form(server, '/admin/printers', { printerId: 'kiosk', csrf }, cookie);
  assert.equal(again.status, 409);
  assert.match(again.text, /L’imprimante kiosk existe déjà/);
  const invalid = await form(server, '/admin/printers', { printerId: 'a b', csrf }, cookie);
  assert.equal(invalid.status, 400);
  assert.match(invalid.text, /Identifiant invalide/);

  await postJson(server.baseUrl, '/print', { content: 'en attente', printerId: 'kiosk' });
  const confirm = await form(server, '/admin/printers/kiosk/remove', { csrf }, cookie);
  assert.equal(confirm.status, 409);
  assert.match(confirm.text, /1 tâche\(s\) non imprimée\(s\)/);
  assert.match(confirm.text, /Supprimer quand même/);
  const removed = await form(server, '/admin/printers/kiosk/remove', { csrf, force: 'true' }, cookie);
  assert.equal(removed.status, 200);
  assert.match(removed.text, /Imprimante kiosk supprimée.*1 tâche\(s\) non imprimée\(s\) passent en échec/);

  const out = await form(server, '/admin/logout', { csrf }, cookie);
  assert.equal(out.status, 303);
  assert.equal(
    (await form(server, '/admin/printers', { printerId: 'k2', csrf }, cookie)).status,
    401,
    'the session ended with the logout',
  );

  // Lock-out: 3 wrong passwords, then even the right one waits.
  for (let i = 0; i < 3; i++) await form(server, '/admin/login', { password: 'non' });
  const locked = await form(server, '/admin/login', { password: ADMIN });
  assert.equal(locked.status, 429);
  assert.match(locked.text, /Trop d’essais manqués/);
  assert.ok(Number(locked.res.headers.get('retry-after')) > 0);
  const api = await fetch(`${server.baseUrl}/admin/api/printers`, { headers: bearer });
  assert.equal(api.status, 429, 'the admin API is locked for that address too');
});

test('an expired admin session is refused with a clear message', async (t) => {
  const server = await startTestServer(t, {
    adminPassword: ADMIN,
    admin: { sessionMs: 300, lockoutAttempts: 5, lockoutMs: 900_000 },
  });
  const login = await form(server, '/admin/login', { password: ADMIN });
  const cookie = cookieFrom(login.res);
  const csrf = csrfOf(await fetch(`${server.baseUrl}/admin`, { headers: { cookie } }).then((r) => r.text()));
  await new Promise((r) => setTimeout(r, 400));
  const expired = await form(server, '/admin/printers', { printerId: 'late', csrf }, cookie);
  assert.equal(expired.status, 401);
  assert.match(expired.text, /Votre session a expiré/);
});

test('the admin password is generated into DATA_DIR with mode 0600 when not configured', async (t) => {
  const server = await startTestServer(t);
  const file = path.join(server.dataDir, 'admin-password');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  const password = fs.readFileSync(file, 'utf8').trim();
  assert.equal(server.admin.password, password);
  const res = await fetch(`${server.baseUrl}/admin/api/printers`, { headers: { authorization: `Bearer ${password}` } });
  assert.equal(res.status, 200);
});

test('health: /healthz answers while alive, /readyz names the part that is not ready; /metrics asks for its token', async (t) => {
  const server = await startTestServer(t, { metricsToken: 'metrics-token-for-tests-0123' });
  assert.deepEqual(await getJson(server.baseUrl, '/healthz'), { status: 200, json: { ok: true } });
  assert.deepEqual(await getJson(server.baseUrl, '/health'), { status: 200, json: { ok: true } });
  assert.deepEqual(await getJson(server.baseUrl, '/readyz'), {
    status: 200,
    json: { ready: true, parts: { database: 'ready', broker: 'ready', storage: 'ready' } },
  });
  assert.equal((await fetch(`${server.baseUrl}/metrics`)).status, 401);
  const metrics = await fetch(`${server.baseUrl}/metrics`, {
    headers: { authorization: 'Bearer metrics-token-for-tests-0123' },
  });
  assert.equal(metrics.status, 200);
  const text = await metrics.text();
  for (const name of [
    'printhop_printer_online{printer="printer-1"} 0',
    'printhop_jobs_unfinished{printer="printer-1"} 0',
    'printhop_live_clients{stream="page"} 0',
    'printhop_broker_clients 0',
    'process_cpu_seconds_total',
    'nodejs_eventloop_lag_seconds',
  ]) {
    assert.ok(text.includes(name), `${name} in /metrics`);
  }
  await server.broker!.stop();
  const notReady = await getJson<{ ready: boolean; notReady: string[]; parts: Record<string, string> }>(
    server.baseUrl,
    '/readyz',
  );
  assert.equal(notReady.status, 503);
  assert.deepEqual(notReady.json.notReady, ['broker']);
  assert.equal(notReady.json.parts.database, 'ready');
  assert.equal((await getJson(server.baseUrl, '/healthz')).status, 200, 'alive all the same');
});
