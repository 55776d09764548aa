/**
 * In Chromium, with the keyboard only: an agent pairs (its code printed on a `file:` printer), the admin logs
 * in, finds it in the list of waiting printers, types the code and a printer id into labelled fields and
 * presses Enter; the agent receives its token, comes online and prints a job once. A wrong code is refused
 * with an alert.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { startAgent } from '../../agent/agent';
import { pair, withCredentials } from '../../agent/pairing';
import { PAIRING_RECEIPT_TITLE } from '../../agent/pairing-receipt';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import { createTransport } from '../../agent/printers';
import { loadAgentConfig } from '../../config';
import { logInWithKeyboard } from '../support/admin-page';
import { CHROMIUM_PATH, launchChromium, openPage } from '../support/browser';
import { defer, getJson, postJson, startTestServer, tempDir, testLogger, waitFor } from '../support/harness';
import { readPaper } from '../support/paper-audit';

const ADMIN = 'admin-password-for-pairing';

test(
  'in Chromium, keyboard only: the admin approves the code the printer printed, and the agent prints',
  { skip: fs.existsSync(CHROMIUM_PATH) ? false : 'chromium is not installed' },
  async (t) => {
    const server = await startTestServer(t, { adminPassword: ADMIN });
    const dir = tempDir(t, 'printhop-pairing-browser-');
    const paper = path.join(dir, 'paper.prn');
    const config = loadAgentConfig(
      {},
      {
        printhopUrl: server.baseUrl,
        printer: `file:${paper}`,
        dataDir: path.join(dir, 'agent'),
        reconnectMinMs: 100,
        reconnectMaxMs: 1000,
      },
    );
    const log = testLogger();
    const stopPairing = new AbortController();
    defer(t, () => stopPairing.abort());
    const paired = pair(config, { transport: createTransport(config.printer, 5000), log, signal: stopPairing.signal });
    paired.catch(() => undefined); // awaited below; a failed test aborts it
    const receipt = await waitFor('the pairing receipt', () =>
      decodeEscPos(readPaper(paper)).receipts.find((r) => r.cut && r.lines.includes(PAIRING_RECEIPT_TITLE)),
    );
    const printedCode = receipt.large[0]!.trim();

    const browser = await launchChromium();
    defer(t, () => browser.close());
    const { page, problems } = await openPage(t, browser, server.baseUrl, '/admin');

    // Log in: the password field found by its label, sent with Enter.
    await logInWithKeyboard(page, ADMIN);

    // The waiting printer is listed with its code, machine and printer kind, in a table with a caption and headers.
    const table = page.getByRole('table', { name: /en attente d’appairage/ });
    const row = table.getByRole('row').filter({ hasText: printedCode });
    assert.equal(await row.count(), 1, await table.innerText());
    const rowText = await row.innerText();
    assert.ok(rowText.includes(os.hostname().slice(0, 64)) && rowText.includes('file'), rowText);
    assert.equal(await table.locator('th[scope=col]').count(), 6);

    // Keyboard only: Tab from the code field reaches the printer id; Enter submits.
    const codeField = page.getByLabel('Code imprimé (6 chiffres)');
    const idField = page.getByLabel('Identifiant de l’imprimante (nouveau ou existant)');
    const typeAndSend = async (code: string, printerId: string) => {
      await codeField.focus();
      await page.keyboard.press('Control+A');
      await page.keyboard.type(code);
      await page.keyboard.press('Tab');
      assert.equal(await idField.evaluate((el) => el === document.activeElement), true, 'Tab reaches the printer id');
      await page.keyboard.press('Control+A');
      await page.keyboard.type(printerId);
      await page.keyboard.press('Enter');
      await page.waitForLoadState('domcontentloaded');
    };

    const wrong = String((Number(printedCode.replace('-', '')) + 1) % 1_000_000).padStart(6, '0');
    await typeAndSend(`${wrong.slice(0, 3)}-${wrong.slice(3)}`, 'comptoir');
    assert.match(await page.getByRole('alert').innerText(), /Aucune imprimante n’attend/);
    assert.ok(!server.registry.isActive('comptoir'));

    await typeAndSend(printedCode, 'comptoir');
    assert.match(await page.getByRole('status').innerText(), /Code accepté.*comptoir/);
    assert.match(await page.locator('#admin-printers').innerText(), /comptoir/);
    assert.equal(
      await page
        .getByRole('table', { name: /en attente d’appairage/ })
        .getByText(printedCode)
        .count(),
      0,
    );

    const credentials = await paired;
    assert.equal(credentials.printerId, 'comptoir');
    const agent = await startAgent(withCredentials(config, credentials), log);
    defer(t, () => agent.stop());
    await waitFor('comptoir online', async () => (await server.printers.get('comptoir'))?.state === 'online');
    const job = (await postJson(server.baseUrl, '/print', { content: 'Ticket du comptoir', printerId: 'comptoir' }))
      .json as { id: number };
    await waitFor(
      'printed',
      async () => (await getJson<{ status: string }>(server.baseUrl, `/jobs/${job.id}`)).json.status === 'printed',
    );
    const contents = decodeEscPos(readPaper(paper)).receipts.map((r) => r.lines[3]);
    assert.equal(contents.filter((c) => c === 'Ticket du comptoir').length, 1);
    // The one error Chromium reports is the status of the page that refused the wrong code.
    assert.deepEqual(
      problems.filter((p) => !p.includes('status of 404')),
      [],
    );
    assert.equal(problems.length, 1, problems.join('\n'));
  },
);
