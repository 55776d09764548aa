/**
 * The admin password: ADMIN_PASSWORD, or one generated on first start into DATA_DIR/admin-password
 * (mode 0600, a wider mode is narrowed back), printed with the other credentials at start-up.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const ADMIN_PASSWORD_FILE = 'admin-password';

export interface AdminPassword {
  password: string;
  /** Where a generated password is kept; null when configured. */
  file: string | null;
  generated: boolean;
  modeFixed: boolean;
}

export function loadAdminPassword(dataDir: string, configured: string | null): AdminPassword {
  if (configured) return { password: configured, file: null, generated: false, modeFixed: false };
  const file = path.join(dataDir, ADMIN_PASSWORD_FILE);
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    const password = fs.readFileSync(file, 'utf8').trim();
    let modeFixed = false;
    if ((fs.statSync(file).mode & 0o077) !== 0) {
      fs.chmodSync(file, 0o600);
      modeFixed = true;
    }
    if (password.length >= 12) return { password, file, generated: false, modeFixed };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const password = randomBytes(18).toString('base64url');
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, password + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
  return { password, file, generated: true, modeFixed: false };
}
