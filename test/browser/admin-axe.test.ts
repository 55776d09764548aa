/**
 * Accessibility (issue 23): axe-core, run in Chromium, finds no violation of impact serious or critical on the
 * admin page (logged in, with printers, a pending pairing, an API key just created, a webhook with a failed
 * delivery) nor on the public page.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { logInWithKeyboard } from '../support/admin-page';
import { CHROMIUM_PATH, launchChromium, openPage } from '../support/browser';
import { defer, postJson, startTestServer, waitFor } from '../support/harness';
import { testWebhookConfig } from '../support/webhook-config';

const ADMIN = 'admin-password-for-axe';
const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: Array<{ target: string[] }>;
}

/** axe's violations of impact serious or critical on the page as shown now, each as `rule (impact): targets`. */
async function seriousViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (c: Document, o: object) => Promise<{ violations: unknown[] }> } })
      .axe;
    return (await axe.run(document, { resultTypes: ['violations'] })).violations;
  });
  return (violations as AxeViolation[])
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

test(
  'axe-core in Chromium: no serious or critical violation on the admin page (every section filled) nor on the public page',
  { skip: fs.existsSync(CHROMIUM_PATH) ? false : 'chromium is not installed' },
  async (t) => {
    const receiver = http.createServer((_req, res) => res.writeHead(500).end());
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    defer(t, () => new Promise<void>((resolve) => receiver.close(() => resolve())));
    const server = await startTestServer(t, {
      adminPassword: ADMIN,
      printers: ['printer-1', 'bar'],
      webhooks: testWebhookConfig(),
    });
    const api = (path: string, body: unknown) =>
      fetch(`${server.baseUrl}/admin/api${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    // A pending pairing, a webhook and a failed delivery of it.
    const pairing = await postJson(server.baseUrl, '/pairing', {
      machine: 'caisse-1',
      platform: 'linux-arm64',
      printer: 'usb',
      agentVersion: '0.1.0',
    });
    assert.equal(pairing.status, 201);
    const port = (receiver.address() as AddressInfo).port;
    assert.equal((await api('/webhooks', { url: `http://127.0.0.1:${port}/hook` })).status, 201);
    await postJson(server.baseUrl, '/print', { content: 'Pour axe', printerId: 'bar' });

    const browser = await launchChromium();
    defer(t, () => browser.close());
    // axe is injected as a script: the test's strict CSP would refuse it.
    const { page } = await openPage(t, browser, server.baseUrl, '/admin', { bypassCSP: true });
    await logInWithKeyboard(page, ADMIN);
    // An API key just created: the page with its one-time box.
    await page.getByLabel(/Nom de la nouvelle clé/).fill('caisse');
    await page.getByRole('button', { name: 'Créer la clé' }).click();
    await page.waitForSelector('#issued-api-key');
    await waitFor('the failed attempt listed', async () => {
      if (/HTTP 500/.test(await page.locator('#admin-webhook-attempts').innerText())) return true;
      await page.goto(`${server.baseUrl}/admin`);
      return false;
    });
    for (const id of ['#admin-printers', '#admin-pairings', '#admin-api-keys', '#admin-webhooks'])
      assert.equal(await page.locator(id).count(), 1, id);
    assert.match(await page.locator('#admin-pairings').innerText(), /caisse-1/);
    assert.deepEqual(await seriousViolations(page), [], 'the admin page');

    await page.goto(`${server.baseUrl}/`);
    assert.deepEqual(await seriousViolations(page), [], 'the public page');
  },
);
