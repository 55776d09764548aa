import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { getJson, startTestAgent, startTestServer, waitFor } from '../support/harness';

const CHROMIUM = '/usr/bin/chromium';

test('in Chromium, the page works under its Content-Security-Policy with no violation: send a message, see it printed', async (t) => {
  const server = await startTestServer(t);
  await startTestAgent(t, server);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const violations: string[] = [];
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  // Reported by the page itself as well, in case a violation is not logged to the console.
  await page.exposeFunction('reportViolation', (text: string) => violations.push(text));
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) =>
      (window as unknown as { reportViolation(s: string): void }).reportViolation(
        `${e.violatedDirective} ${e.blockedURI}`,
      ),
    );
  });
  const response = await page.goto(server.baseUrl + '/');
  assert.match((await response?.headerValue('content-security-policy')) ?? '', /default-src 'self'/);
  await page.waitForFunction(() => 'htmx' in window);

  await page.fill('#content', 'Envoyé depuis Chromium sous CSP');
  await page.click('button[type=submit]');
  await page.waitForSelector('#result .ok');
  const id = Number(await page.getAttribute('#result .ok', 'data-job-id'));
  assert.equal(await page.inputValue('#content'), '', 'app.js cleared the field (the external script ran)');
  await waitFor(
    'printed',
    async () => (await getJson<PrintJob>(server.baseUrl, `/jobs/${id}`)).json.status === 'printed',
  );
  // The job list refreshes by itself (htmx polling or live updates) to the printed state.
  await page.waitForSelector(`#job-${id}[data-status="printed"]`, { timeout: 10_000 });
  assert.deepEqual(violations, []);
});
