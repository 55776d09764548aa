/** Debian's Chromium driven by playwright-core (no browser is ever downloaded), for the page's tests. */
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { type Browser, type BrowserContextOptions, chromium, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';
export const ARTIFACTS_DIR = path.resolve(import.meta.dirname, '../../test-artifacts');
/** The policy issue 5 puts on the page; the tests apply it so that the page is shown to need nothing more. */
export const STRICT_CSP = "default-src 'self'";

export const DESKTOP = { width: 1280, height: 900 };
export const PHONE = { width: 390, height: 844 };

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

export interface OpenedPage {
  page: Page;
  /** Console errors, uncaught exceptions and CSP violations seen so far. */
  problems: string[];
  /** Dialogs (alert, confirm, ...) that opened; each was dismissed. */
  dialogs: string[];
  /** True while the document loaded by `open` is still the one shown (no reload, no navigation). */
  sameDocument(): Promise<boolean>;
}

/**
 * A fresh browser context on `baseUrl` + `route`, with the strict CSP added to every HTML document
 * (unless the server already sends a policy of its own).
 */
export async function openPage(
  t: TestContext,
  browser: Browser,
  baseUrl: string,
  route = '/',
  options: BrowserContextOptions = {},
): Promise<OpenedPage> {
  const context = await browser.newContext({ viewport: DESKTOP, locale: 'fr-FR', ...options });
  t.after(() => context.close());
  await context.route(
    (url) => url.origin === baseUrl && !url.pathname.startsWith('/events'),
    async (intercepted) => {
      if (intercepted.request().resourceType() !== 'document') return intercepted.continue();
      const response = await intercepted.fetch({ maxRedirects: 0 });
      const headers = response.headers();
      if (!headers['content-security-policy']) headers['content-security-policy'] = STRICT_CSP;
      await intercepted.fulfill({ response, headers });
    },
  );
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const problems: string[] = [];
  const dialogs: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning')
      problems.push(`console ${message.type()}: ${message.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
  await page.goto(baseUrl + route);
  const marker = `loaded-${Math.random()}`;
  if (options.javaScriptEnabled !== false)
    await page.evaluate((m) => ((window as unknown as { printhopTestMarker: string }).printhopTestMarker = m), marker);
  return {
    page,
    problems,
    dialogs,
    sameDocument: () =>
      page.evaluate((m) => (window as unknown as { printhopTestMarker?: string }).printhopTestMarker === m, marker),
  };
}

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const file = path.join(ARTIFACTS_DIR, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
