/**
 * In Chromium, keyboard only: a webhook added on the admin page (its secret shown once, in a live region; gone
 * after a reload), a receiver that first answers 500 then 200, the failed attempt in the delivery log, "retry
 * now", the successful attempt; then the webhook removed. The signatures are checked with svix's verifier
 * (Standard Webhooks), with the secret the page showed.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { Webhook } from 'svix';
import { logInWithKeyboard } from '../support/admin-page';
import { CHROMIUM_PATH, launchChromium, openPage } from '../support/browser';
import { defer, postJson, startTestServer, waitFor } from '../support/harness';
import { testWebhookConfig } from '../support/webhook-config';

const ADMIN = 'admin-password-for-webhooks-page';

/** Reloads the admin page until `text` is in the table named `name`. */
async function reloadUntil(page: Page, baseUrl: string, name: RegExp, text: RegExp, what: string): Promise<void> {
  await waitFor(what, async () => {
    await page.goto(`${baseUrl}/admin`);
    return text.test(await page.getByRole('table', { name }).innerText());
  });
}

test(
  'in Chromium, keyboard only: add a webhook (secret once), see its failed attempt, retry it now, see it delivered, remove it',
  { skip: fs.existsSync(CHROMIUM_PATH) ? false : 'chromium is not installed' },
  async (t) => {
    const hits: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
    const answers = [500];
    const receiver = http.createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        hits.push({ headers: req.headers, body });
        res.writeHead(answers.shift() ?? 200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    defer(t, () => new Promise<void>((resolve) => receiver.close(() => resolve())));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const server = await startTestServer(t, {
      mqttPort: -1,
      adminPassword: ADMIN,
      // The automatic retry is a minute away: the success comes from "retry now".
      webhooks: testWebhookConfig(),
    });

    const browser = await launchChromium();
    defer(t, () => browser.close());
    const { page, problems } = await openPage(t, browser, server.baseUrl, '/admin');
    await logInWithKeyboard(page, ADMIN);
    assert.equal(await page.getByRole('heading', { name: 'Webhooks', level: 2 }).count(), 1);

    // Added with the keyboard: the URL field by its label, one event type ticked with Space, sent with Enter.
    await page.getByLabel(/Adresse du récepteur/).focus();
    await page.keyboard.type(receiverUrl);
    await page.getByRole('group', { name: 'Événements envoyés' }).getByLabel('job.created').focus();
    await page.keyboard.press('Space');
    await page.getByRole('button', { name: 'Ajouter le webhook' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForSelector('#issued-webhook-secret');
    const secret = (await page.locator('#issued-webhook-secret').innerText()).trim();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    assert.equal(
      await page
        .locator('#issued-webhook-secret')
        .evaluate((el) => el.closest('[aria-live]')?.getAttribute('aria-live')),
      'polite',
      'announced by screen readers',
    );
    const webhooks = page.getByRole('table', { name: /Webhooks actifs/ });
    assert.match(await webhooks.innerText(), new RegExp(`${receiverUrl.replace(/[./]/g, '\\$&')}\\s+job\\.created`));

    // Reloaded: listed, the secret never shown again.
    await page.goto(`${server.baseUrl}/admin`);
    assert.ok(!(await page.content()).includes(secret), 'shown once');
    assert.equal(await page.locator('#issued-webhook-secret').count(), 0);

    // A job: the receiver answers 500; the delivery log shows the failed attempt and when it is tried next.
    const job = (await postJson(server.baseUrl, '/print', { content: 'Pour le webhook' })).json as { id: number };
    await reloadUntil(page, server.baseUrl, /Tentatives d’envoi/, /HTTP 500/, 'the failed attempt on the page');
    const attempts = page.getByRole('table', { name: /Tentatives d’envoi/ });
    const failed = (await attempts.getByRole('row').nth(1).innerText()).split('\t');
    assert.equal(failed[2], '1', 'its first attempt');
    assert.equal(failed[3], 'HTTP 500');
    assert.match(failed[4]!, /^\d+ ms$/);
    assert.equal(failed[5], 'nouvel essai prévu');
    assert.match(failed[6]!, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/);
    const deliveries = page.getByRole('table', { name: /Livraisons/ });
    assert.match(await deliveries.innerText(), new RegExp(`job\\.created \\(tâche ${job.id}\\)\\s+en attente`));

    // Retry now, with the keyboard: the button reached by its accessible name.
    const deliveryId = (await deliveries.getByRole('row').nth(1).getByRole('rowheader').innerText()).trim();
    await page.getByRole('button', { name: `Réessayer maintenant la livraison ${deliveryId}` }).focus();
    await page.keyboard.press('Enter');
    await page.getByText(/nouvel essai lancé/).waitFor();
    await reloadUntil(page, server.baseUrl, /Tentatives d’envoi/, /HTTP 200/, 'the successful attempt on the page');
    const delivered = (await attempts.getByRole('row').nth(1).innerText()).split('\t');
    assert.deepEqual([delivered[1], delivered[2], delivered[3], delivered[5]], [deliveryId, '2', 'HTTP 200', 'livrée']);
    assert.match(await deliveries.innerText(), /livrée/);
    assert.equal(
      await page.getByRole('button', { name: `Réessayer maintenant la livraison ${deliveryId}` }).count(),
      0,
      'nothing to retry once delivered',
    );

    // Both requests: the same event, signed with the secret the page showed (svix's verifier).
    assert.equal(hits.length, 2);
    for (const hit of hits) {
      const payload = new Webhook(secret).verify(hit.body, {
        'webhook-id': String(hit.headers['webhook-id']),
        'webhook-timestamp': String(hit.headers['webhook-timestamp']),
        'webhook-signature': String(hit.headers['webhook-signature']),
      }) as { type: string; data: { id: number } };
      assert.equal(payload.type, 'job.created');
      assert.equal(payload.data.id, job.id);
    }
    assert.throws(() =>
      new Webhook(secret).verify(hits[0]!.body.replace('Pour', 'Contre'), {
        'webhook-id': String(hits[0]!.headers['webhook-id']),
        'webhook-timestamp': String(hits[0]!.headers['webhook-timestamp']),
        'webhook-signature': String(hits[0]!.headers['webhook-signature']),
      }),
    );

    // Removed with the keyboard.
    const endpointId = (await webhooks.getByRole('row').nth(1).getByRole('rowheader').innerText()).trim();
    await page.getByRole('button', { name: `Supprimer le webhook ${endpointId}` }).focus();
    await page.keyboard.press('Enter');
    await page.getByText(`Webhook ${endpointId} supprimé`).waitFor();
    assert.match(await page.getByRole('table', { name: /Webhooks actifs/ }).innerText(), /Aucun webhook\./);
    assert.deepEqual(problems, []);
  },
);
