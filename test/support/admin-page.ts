/** The admin page in Chromium, as the browser tests drive it: logged in with the keyboard alone. */
import type { Page } from 'playwright-core';

/** Types the admin password into the field found by its label and sends it with Enter; resolves once the page is shown. */
export async function logInWithKeyboard(page: Page, password: string): Promise<void> {
  await page.getByLabel('Mot de passe administrateur').focus();
  await page.keyboard.type(password);
  await page.keyboard.press('Enter');
  await page.waitForSelector('#admin-logout');
}
