/**
 * In Chromium, under the page's Content-Security-Policy: log in to /admin, add a printer with the form,
 * copy the agent command it shows, start that agent, and its first job prints. No restart.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { loadAgentConfig } from '../../config';
import { startAgent } from '../../agent/agent';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import { defer, getJson, postJson, startTestServer, tempDir, testLogger, waitFor } from '../support/harness';

const CHROMIUM = '/usr/bin/chromium';
const ADMIN = 'admin-password-for-the-browser';

test(
  'in Chromium: log in, add a printer on the admin page, its shown command prints the first job',
  { skip: fs.existsSync(CHROMIUM) ? false : 'chromium is not installed' },
  async (t) => {
    const server = await startTestServer(t, { adminPassword: ADMIN });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    defer(t, () => browser.close());
    const context = await browser.newContext();
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
    });

    await page.goto(`${server.baseUrl}/`);
    await page.click('text=Administration des imprimantes');
    await page.fill('#password', 'pas le bon');
    await page.click('#admin-login button[type=submit]');
    assert.match((await page.textContent('.error')) ?? '', /Mot de passe incorrect/);
    await page.fill('#password', ADMIN);
    await page.click('#admin-login button[type=submit]');
    await page.waitForSelector('#admin-add');
    const [cookie] = await context.cookies();
    assert.equal(cookie?.httpOnly, true);
    assert.equal(cookie?.sameSite, 'Strict');

    await page.fill('#printerId', 'comptoir');
    await page.click('#admin-add button[type=submit]');
    await page.waitForSelector('#agent-command');
    const command = (await page.textContent('#agent-command'))!;
    assert.match((await page.textContent('#admin-printers')) ?? '', /comptoir/);

    const settings = Object.fromEntries([...command.matchAll(/([A-Z_]+)=(\S+)/g)].map((m) => [m[1]!, m[2]!]));
    const dir = tempDir(t, 'printhop-agent-');
    const file = path.join(dir, 'paper.prn');
    const agent = await startAgent(
      loadAgentConfig(
        {},
        {
          printerId: settings.PRINTER_ID!,
          mqttUrl: settings.MQTT_URL!,
          mqttUsername: settings.PRINTER_ID!,
          mqttPassword: settings.MQTT_PASSWORD!,
          printer: `file:${file}`,
          dataDir: path.join(dir, 'journal'),
        },
      ),
      testLogger(),
    );
    defer(t, () => agent.stop());
    const job = (
      await postJson(server.baseUrl, '/print', { content: 'Premier ticket du comptoir', printerId: 'comptoir' })
    ).json as { id: number };
    await waitFor(
      'printed',
      async () => (await getJson<{ status: string }>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'printed',
    );
    assert.match(
      decodeEscPos(fs.readFileSync(file))
        .receipts.map((r) => r.text)
        .join('\n'),
      /Premier ticket du comptoir/,
    );

    // The main page lists it, live, with the agent's figures once reported.
    await page.goto(`${server.baseUrl}/`);
    await page.waitForSelector('#printer-comptoir[data-state="online"]');
    assert.deepEqual(violations, []);
  },
);
