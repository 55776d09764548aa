/**
 * Printers managed live on an external Mosquitto through its dynamic security plugin, with real parts:
 * Debian's Mosquitto started from deploy/mosquitto/printhop-dynsec.conf, the server as its client driving
 * `$CONTROL/dynamic-security/v1`, agents and mqtt.js clients logging in with the tokens the server shows.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test, type TestContext } from 'node:test';
import mqtt from 'mqtt';
import { loadAgentConfig } from '../../../config';
import { startAgent } from '../../../agent/agent';
import { decodeEscPos } from '../../../agent/printers/escpos-decoder';
import { defer, getJson, postJson, startTestServer, tempDir, testLogger, waitFor } from '../../support/harness';
import { cleanupStack, mosquittoBin, startDynsecMosquitto } from '../../support/services';

const ADMIN = 'admin-password-for-the-tests';
const bearer = { authorization: `Bearer ${ADMIN}` };
const SERVER_PASSWORD = 'server-password-for-the-dynsec-test';
const skip =
  !mosquittoBin && process.env.PRINTHOP_REQUIRE_SERVICES !== '1'
    ? 'mosquitto is not installed here (apt-get install mosquitto)'
    : false;

async function agent(t: TestContext, url: string, printerId: string, token: string) {
  const dir = tempDir(t, 'printhop-agent-');
  const file = path.join(dir, 'paper.prn');
  const running = await startAgent(
    loadAgentConfig(
      {},
      {
        printerId,
        mqttUrl: url,
        mqttUsername: printerId,
        mqttPassword: token,
        printer: `file:${file}`,
        dataDir: path.join(dir, 'journal'),
        reconnectMinMs: 100,
        reconnectMaxMs: 500,
      },
    ),
    testLogger(),
  );
  defer(t, () => running.stop());
  return {
    text: () =>
      decodeEscPos(fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0))
        .receipts.map((r) => r.text)
        .join('\n'),
  };
}

const connect = (url: string, username: string, password: string) =>
  mqtt.connectAsync(url, { username, password, reconnectPeriod: 0, connectTimeout: 3000, protocolVersion: 5 });

test(
  "with Mosquitto's dynamic security: add, rotate and remove printers live, no file and no reload",
  { skip },
  async (t) => {
    const stops = cleanupStack(t);
    const broker = await startDynsecMosquitto(t, SERVER_PASSWORD);
    stops(broker.stop);
    const server = await startTestServer(t, {
      mqttUrl: broker.tcpUrl,
      mqttUsername: 'printhop-server',
      mqttPassword: SERVER_PASSWORD,
      mqttPort: -1,
      dynsec: true,
      adminPassword: ADMIN,
      printers: ['printer-1'],
    });
    stops(() => server.stop());
    assert.deepEqual(
      await server.dynsec!.listClients(),
      ['printer-1', 'printhop-server'],
      "PRINTERS' printer created in Mosquitto at start-up",
    );
    assert.deepEqual((await getJson(server.baseUrl, '/readyz')).status, 200);

    // The seeded printer prints with the token of the token file.
    const seeded = await agent(
      t,
      broker.tcpUrl,
      'printer-1',
      server.accounts.credentialsFor({ kind: 'printer', printerId: 'printer-1' }).password,
    );
    const j1 = (await postJson(server.baseUrl, '/print', { content: 'par Mosquitto' })).json as { id: number };
    await waitFor(
      'printer-1 job printed',
      async () => (await getJson<{ status: string }>(server.baseUrl, `/jobs/${j1.id}`)).json.status === 'printed',
    );
    assert.match(seeded.text(), /par Mosquitto/);

    // Added live: its first job prints with the command shown (MQTT_URL is the broker's).
    const added = (await postJson(server.baseUrl, '/admin/api/printers', { printerId: 'shop-2' }, bearer)).json as {
      token: string;
      agentCommand: string;
    };
    assert.match(
      added.agentCommand,
      new RegExp(
        `^MQTT_URL=${broker.tcpUrl.replaceAll('.', '\\.')} PRINTER_ID=shop-2 MQTT_PASSWORD=${added.token} npm run agent$`,
      ),
    );
    assert.deepEqual(await server.dynsec!.listClients(), ['printer-1', 'printhop-server', 'shop-2']);
    const shop = await agent(t, broker.tcpUrl, 'shop-2', added.token);
    const j2 = (await postJson(server.baseUrl, '/print', { content: 'première de shop-2', printerId: 'shop-2' }))
      .json as { id: number };
    await waitFor(
      'shop-2 job printed',
      async () => (await getJson<{ status: string }>(server.baseUrl, `/jobs/${j2.id}`)).json.status === 'printed',
    );
    assert.match(shop.text(), /première de shop-2/);

    // Its role lets it read only its own jobs.
    const probe = await connect(broker.tcpUrl, 'shop-2', added.token);
    await assert.rejects(
      probe.subscribeAsync('printers/printer-1/jobs', { qos: 1 }),
      /Not authorized/,
      "another printer's jobs are not for it",
    );
    const closed = new Promise<void>((resolve) => probe.once('close', () => resolve()));

    // Rotated: the connection is closed, the old token refused, the new one works.
    const rotated = await postJson(server.baseUrl, '/admin/api/printers/shop-2/rotate', {}, bearer);
    assert.equal(rotated.status, 200);
    const newToken = (rotated.json as { token: string }).token;
    await closed;
    probe.end(true);
    await assert.rejects(connect(broker.tcpUrl, 'shop-2', added.token), /Not authorized|Bad User Name or Password/i);
    const fresh = await connect(broker.tcpUrl, 'shop-2', newToken);
    const kicked = new Promise<void>((resolve) => fresh.once('close', () => resolve()));

    // Removed: the account is gone from Mosquitto, its connection closed.
    const removed = await fetch(`${server.baseUrl}/admin/api/printers/shop-2?force=true`, {
      method: 'DELETE',
      headers: bearer,
    });
    assert.equal(removed.status, 200);
    await kicked;
    fresh.end(true);
    await assert.rejects(connect(broker.tcpUrl, 'shop-2', newToken), /Not authorized|Bad User Name or Password/i);
    assert.deepEqual(await server.dynsec!.listClients(), ['printer-1', 'printhop-server']);

    // printer-1 never stopped printing.
    const j3 = (await postJson(server.baseUrl, '/print', { content: 'toujours là' })).json as { id: number };
    await waitFor(
      'printer-1 still prints',
      async () => (await getJson<{ status: string }>(server.baseUrl, `/jobs/${j3.id}`)).json.status === 'printed',
    );
  },
);
