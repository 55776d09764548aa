/**
 * In Chromium, keyboard only: the admin page's fleet table shows each printer's state, paper, agent version,
 * platform, last seen time and pending jobs; API keys are created (shown once, and working), listed and
 * revoked (then refused) from the page, every form carrying the session's CSRF token.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { logInWithKeyboard } from '../support/admin-page';
import { CHROMIUM_PATH, launchChromium, openPage } from '../support/browser';
import { defer, startPrinting, waitFor } from '../support/harness';

const ADMIN = 'admin-password-for-the-fleet';

test(
  'in Chromium, keyboard only: the fleet table, and API keys created, used and revoked from the admin page',
  { skip: fs.existsSync(CHROMIUM_PATH) ? false : 'chromium is not installed' },
  async (t) => {
    const { server, addAgent } = await startPrinting(t, { adminPassword: ADMIN, printers: ['printer-1', 'bar'] });
    await addAgent({ printerId: 'printer-1' });
    await waitFor('printer-1 online', async () => (await server.printers.get('printer-1'))?.state === 'online');
    // Two jobs for `bar`, whose agent is not there: pending.
    for (const content of ['Un', 'Deux'])
      assert.equal(
        (
          await fetch(`${server.baseUrl}/print`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ content, printerId: 'bar' }),
          })
        ).status,
        201,
      );

    const browser = await launchChromium();
    defer(t, () => browser.close());
    const { page, problems } = await openPage(t, browser, server.baseUrl, '/admin');
    await logInWithKeyboard(page, ADMIN);

    const fleet = page.getByRole('table', { name: /Imprimantes du registre/ });
    const row = async (id: string) =>
      (
        await fleet
          .getByRole('row')
          .filter({ has: page.getByRole('rowheader', { name: id }) })
          .innerText()
      ).split('\t');
    const online = await row('printer-1');
    assert.equal(online[1], 'en ligne');
    assert.equal(online[2], 'ok');
    assert.equal(online[3], '0.1.0');
    assert.equal(online[4], `${process.platform}-${process.arch}`);
    assert.match(online[5]!, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
    assert.equal(online[6], '0');
    const waiting = await row('bar');
    assert.equal(waiting[1], 'agent jamais connecté');
    assert.equal(waiting[6], '2');
    assert.equal(await fleet.locator('th[scope=col]').count(), 8);

    // An API key, created with the keyboard: shown once, and it works.
    await page.getByLabel(/Nom de la nouvelle clé/).focus();
    await page.keyboard.type('caisse');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#issued-api-key');
    const key = (await page.locator('#issued-api-key').innerText()).trim();
    assert.match(key, /^ph_[A-Za-z0-9_-]{43}$/);
    const withKey = (k: string) =>
      fetch(`${server.baseUrl}/jobs?limit=1`, { headers: { authorization: `Bearer ${k}` } }).then((r) => r.status);
    assert.equal(await withKey(key), 200);
    const keys = page.getByRole('table', { name: /Clés API/ });
    assert.match(await keys.innerText(), /caisse[\s\S]*active/);

    // Reloaded: the key is listed, never shown again.
    await page.goto(`${server.baseUrl}/admin`);
    assert.ok(!(await page.content()).includes(key), 'shown once');

    // Revoked with the keyboard: the button is reached by its accessible name.
    await page.getByRole('button', { name: 'Révoquer la clé caisse' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('p.ok[role=status]');
    assert.match(await page.getByRole('status').first().innerText(), /caisse révoquée/);
    assert.match(await page.getByRole('table', { name: /Clés API/ }).innerText(), /révoquée le/);
    assert.equal(await withKey(key), 401);

    // A revoke without the session's CSRF token is refused (as every admin form).
    const forged = await page.evaluate(async () => {
      const res = await fetch('/admin/api-keys/caisse/revoke', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'csrf=forged',
      });
      return res.status;
    });
    assert.equal(forged, 403);
    assert.deepEqual(
      problems.filter((p) => !p.includes('status of 403')),
      [],
    );
  },
);
