/** The page's form in a real browser (Debian's Chromium): a send whose answer is lost, sent again, prints once; the next message is a new job. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { launchChromium, openPage } from '../support/browser';
import { getJson, startTestServer } from '../support/harness';

let browser: Browser;
before(async () => {
  browser = await launchChromium();
});
after(() => browser?.close());

test('a form sent again after its answer was lost, and the same request replayed, make one job; the next send is a new job', async (t) => {
  const server = await startTestServer(t, { mqttPort: -1 });
  const { page, problems } = await openPage(t, browser, server.baseUrl);
  const sent: Array<{ body: string; headers: Record<string, string> }> = [];
  let loseNext = true;
  await page.route(`${server.baseUrl}/print`, async (route) => {
    sent.push({ body: route.request().postData() ?? '', headers: route.request().headers() });
    if (loseNext) {
      loseNext = false;
      await route.fetch(); // the server gets it and stores the job...
      await route.abort('connectionreset'); // ...but the answer never reaches the browser
    } else {
      await route.continue();
    }
  });

  await page.locator('#content').fill('Commande 17 : deux cafés');
  await page.getByRole('button', { name: 'Envoyer' }).click();
  await page.waitForFunction(() => !document.querySelector('#print-form button[disabled]'));
  assert.equal(await page.locator('#result .ok').count(), 0, 'no confirmation: the answer was lost');
  await page.getByRole('button', { name: 'Envoyer' }).click(); // the person tries again
  const confirmation = page.locator('#result .ok');
  await confirmation.waitFor();
  const id = Number(/tâche n°(\d+)/.exec((await confirmation.textContent()) ?? '')?.[1]);
  assert.equal(sent.length, 2);
  const key = (body: string) => new URLSearchParams(body).get('idempotencyKey');
  assert.ok(key(sent[0]!.body));
  assert.equal(key(sent[0]!.body), key(sent[1]!.body), 'the retry carries the same key');
  let jobs = (await getJson<PrintJob[]>(server.baseUrl, '/jobs')).json;
  assert.deepEqual(
    jobs.map((j) => j.id),
    [id],
    'printed once',
  );

  // The very same request once more, outside the form (a double submit, a replayed request).
  const replay = await page.request.post(`${server.baseUrl}/print`, {
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'hx-request': 'true' },
    data: sent[1]!.body,
  });
  assert.equal(replay.status(), 201);
  assert.equal(replay.headers()['idempotency-replayed'], 'true');
  assert.match(await replay.text(), new RegExp(`tâche n°${id}`));

  // The answer gave the form a new key: the next message is a new job.
  assert.notEqual(await page.locator('#print-key').inputValue(), key(sent[0]!.body));
  await page.locator('#content').fill('Commande 18');
  await page.getByRole('button', { name: 'Envoyer' }).click();
  await page.locator('#result .ok', { hasText: `tâche n°${id + 1}` }).waitFor();
  assert.notEqual(key(sent[2]!.body), key(sent[0]!.body));
  jobs = (await getJson<PrintJob[]>(server.baseUrl, '/jobs')).json;
  assert.deepEqual(
    jobs.map((j) => j.content),
    ['Commande 18', 'Commande 17 : deux cafés'],
  );
  assert.deepEqual(
    jobs.map((j) => j.createdBy),
    ['page', 'page'],
  );
  // The only problem: htmx reporting the lost answer.
  assert.deepEqual(
    problems.filter((p) => !/Failed to load resource|net::ERR_CONNECTION_RESET|Failed to fetch/.test(p)),
    [],
  );
});
