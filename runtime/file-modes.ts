/**
 * Private files for both programs: data folders 0700, data files 0600 (the SQLite database and its
 * -wal/-shm, the agent's journal, the virtual printer's output, keys). Modes are set explicitly with
 * chmod, whatever the umask, and loosened ones found at start-up are tightened (the caller warns).
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Creates `dir` (and missing parents) if needed; makes it 0700. True if an existing folder was open to others. */
export function ensurePrivateDir(dir: string): boolean {
  let existed = true;
  try {
    fs.mkdirSync(dir, { mode: PRIVATE_DIR_MODE });
    existed = false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      fs.mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
      existed = false;
    } else if (code !== 'EEXIST') throw err;
  }
  const mode = fs.statSync(dir).mode & 0o777;
  if (mode === PRIVATE_DIR_MODE) return false;
  fs.chmodSync(dir, PRIVATE_DIR_MODE);
  return existed && (mode & 0o077) !== 0;
}

/** Creates `file` empty if missing, 0600; tightens an existing one. True if it existed open to others. */
export function ensurePrivateFile(file: string, create = true): boolean {
  let existed = true;
  if (create) {
    try {
      fs.closeSync(fs.openSync(file, 'wx', PRIVATE_FILE_MODE));
      existed = false;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  let mode: number;
  try {
    mode = fs.statSync(file).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !create) return false;
    throw err;
  }
  if (mode === PRIVATE_FILE_MODE) return false;
  fs.chmodSync(file, PRIVATE_FILE_MODE);
  return existed && (mode & 0o077) !== 0;
}

/** Tightens the files that exist among `files`; returns those that were open to others. */
export function tightenExisting(files: string[]): string[] {
  return files.filter((file) => ensurePrivateFile(file, false));
}

/**
 * A key kept in `dataDir/name`: made on first use (32 random bytes, base64url, 0600), read back after.
 * `modeFixed`: the file was open to others and is now 0600 (the caller warns). `what` names the key in
 * the error for a file too short to be one.
 */
export function loadKeyFile(dataDir: string, name: string, what: string): { text: string; modeFixed: boolean } {
  const file = path.join(dataDir, name);
  ensurePrivateDir(dataDir);
  try {
    fs.writeFileSync(file, randomBytes(32).toString('base64url') + '\n', { flag: 'wx', mode: PRIVATE_FILE_MODE });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let modeFixed = false;
  if ((fs.statSync(file).mode & 0o077) !== 0) {
    fs.chmodSync(file, PRIVATE_FILE_MODE);
    modeFixed = true;
  }
  const text = fs.readFileSync(file, 'utf8').trim();
  if (text.length < 16) throw new Error(`${file} is too short to be ${what}; delete it and a new one is made`);
  return { text, modeFixed };
}
