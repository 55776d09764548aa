/**
 * `npm run api-keys -- create NAME | list | revoke NAME`: manages API keys in the server's database (the
 * same settings as the server: DATA_DIR or DATABASE_URL), while the server runs; no restart needed, since
 * the server reads a key's row on each request. The key is printed once, by `create`; only its hash is kept.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadServerConfig } from '../config';
import { createLogger } from '../runtime/logger';
import { loadOrExit } from '../config';
import { Database } from './store/database';
import { API_KEY_NAME_PATTERN, hashApiKey, newApiKey } from './http/api/api-keys';
import type { ApiKeyStore } from './store/api-key-store';

const USAGE = 'usage: npm run api-keys -- create NAME | list | revoke NAME';

/** Runs one command; returns the exit code. `out` gets what the user reads, `err` the errors. */
export async function apiKeysCommand(
  args: string[],
  store: ApiKeyStore,
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number> {
  const [command, name, ...rest] = args;
  if (rest.length || !command) {
    err(USAGE);
    return 2;
  }
  switch (command) {
    case 'create': {
      if (!name || !API_KEY_NAME_PATTERN.test(name)) {
        err(`a key's name is 1-64 characters of A-Z a-z 0-9 _ . - (got ${JSON.stringify(name ?? '')})`);
        return 2;
      }
      const key = newApiKey();
      if (!(await store.add(name, hashApiKey(key), new Date()))) {
        err(`a key named "${name}" already exists (revoked keys keep their name); choose another name`);
        return 1;
      }
      out(`API key "${name}" created. It is shown only this once: keep it now.`);
      out(key);
      return 0;
    }
    case 'list': {
      if (name) {
        err(USAGE);
        return 2;
      }
      const keys = await store.list();
      if (!keys.length) out('no API keys');
      for (const k of keys)
        out(`${k.name}\tcreated ${k.createdAt}\t${k.revokedAt ? `revoked ${k.revokedAt}` : 'active'}`);
      return 0;
    }
    case 'revoke': {
      if (!name) {
        err(USAGE);
        return 2;
      }
      if (!(await store.revoke(name, new Date()))) {
        err(`no active API key named "${name}" (npm run api-keys -- list shows them)`);
        return 1;
      }
      out(`API key "${name}" revoked; requests with it now get 401.`);
      return 0;
    }
    default:
      err(`unknown command "${command}"; ${USAGE}`);
      return 2;
  }
}

/** Opens the server's database (migrated, like the server does), runs `fn`, closes it. */
export async function withServerDatabase<T>(program: string, fn: (db: Database) => Promise<T>): Promise<T> {
  const config = loadOrExit(program, () => loadServerConfig());
  const db = new Database({ dataDir: config.dataDir, databaseUrl: config.databaseUrl }, createLogger(program, 'warn'));
  await db.start();
  try {
    return await fn(db);
  } finally {
    await db.stop();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const code = await withServerDatabase('printhop api-keys', (db) =>
    apiKeysCommand(
      process.argv.slice(2),
      db.createApiKeyStore(),
      (line) => console.log(line),
      (line) => console.error(line),
    ),
  );
  process.exit(code);
}
