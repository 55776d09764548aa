/**
 * MQTT passwords ("tokens"): one per printer, one for the read-only debug account, one for the server.
 * Tokens come from configuration; the missing ones are generated once and kept in DATA_DIR/mqtt-tokens.json,
 * readable by this user only, so that `npm start`, the server and its agent agree without any setup.
 * Tokens are compared in constant time and are never written to a log.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { inspect } from 'node:util';
import type { ConfiguredTokens } from '../../config';
import { DEBUG_USERNAME, isPrinterAccount, isToken, SERVER_USERNAME, TOKEN_RULE } from '../../protocol/accounts';

export const TOKENS_FILE = 'mqtt-tokens.json';
const FILE_MODE = 0o600;

export type Account = { kind: 'printer'; printerId: string } | { kind: 'debug' } | { kind: 'server' };

export function usernameOf(account: Account): string {
  return account.kind === 'printer' ? account.printerId : account.kind === 'debug' ? DEBUG_USERNAME : SERVER_USERNAME;
}

interface StoredTokens {
  debug?: string;
  server?: string;
  printers: Record<string, string>;
}

/** Every account's token. */
export interface AccountTokens {
  debug: string;
  server: string;
  printers: Record<string, string>;
}

/** 32 characters of base64url: 192 random bits, safe in a shell and a URL without quoting. */
export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

const digest = (secret: Buffer | string) => createHash('sha256').update(secret).digest();

/** Constant time whatever the lengths: both sides are hashed to 32 bytes first. */
export function sameToken(given: Buffer | string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/** The printer registry as the broker's authentication sees it. */
export interface PrinterVerifier {
  verify(printerId: string, password: Buffer | string): boolean;
  isActive(printerId: string): boolean;
}

/** Known accounts and their tokens. Printing or logging this object shows no token. */
export class MqttAccounts {
  #tokens = new Map<string, string>();
  #generated: readonly string[] = [];
  /** Compared against when the user name is unknown, so that a wrong name costs as much time as a wrong password. */
  readonly #decoy = generateToken();

  /** Holds no account until `load` (the server's start) or `MqttAccounts.of`. */
  constructor(
    /** Where generated tokens are kept. */
    readonly file: string,
  ) {}

  /** Accounts holding exactly these tokens. */
  static of(tokens: AccountTokens, file: string, generated: readonly string[] = []): MqttAccounts {
    const accounts = new MqttAccounts(file);
    accounts.#hold(tokens, generated);
    return accounts;
  }

  /** Accounts whose token was generated at this start. */
  get generated(): readonly string[] {
    return this.#generated;
  }

  #hold(tokens: AccountTokens, generated: readonly string[]): void {
    this.#tokens = new Map([
      [DEBUG_USERNAME, tokens.debug],
      [SERVER_USERNAME, tokens.server],
      ...Object.entries(tokens.printers),
    ]);
    this.#generated = generated;
  }

  /**
   * The accounts for this configuration: configured tokens win; a configured printer, the debug and the
   * server account without one get a token from the file, generated and stored there the first time.
   * Synchronous, so `npm start` can call it before it starts the server and the agent. True when the file's
   * permissions were wider than 0600 and were narrowed.
   */
  load(config: { dataDir: string; printers: readonly string[]; mqttTokens: ConfiguredTokens }): boolean {
    fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const configured = config.mqttTokens;
    for (let attempt = 0; ; attempt++) {
      const { stored, exists, modeFixed } = readStored(this.file);
      const generated = addMissingTokens(stored, configured, config.printers);
      if (generated.length && !writeStored(this.file, stored, exists)) {
        // Another process created the file meanwhile: use its tokens rather than ours.
        if (attempt < 3) continue;
        throw new TokenFileError(this.file, 'could not be created');
      }
      const tokens = {
        debug: configured.debug ?? stored.debug!,
        server: configured.server ?? stored.server!,
        printers: { ...stored.printers, ...configured.printers },
      };
      this.#hold(tokens, generated);
      return modeFixed;
    }
  }

  get printerIds(): string[] {
    return [...this.#tokens.keys()].filter((name) => isPrinterAccount(name)).sort();
  }

  /** Printers are checked against the live registry once it is set (issue 14); the fixed accounts stay here. */
  #registry: PrinterVerifier | null = null;

  usePrinterRegistry(registry: PrinterVerifier): void {
    this.#registry = registry;
  }

  /** The account these credentials open, or why not. */
  verify(
    username: string | undefined,
    password: Buffer | string | undefined,
  ): { ok: true; account: Account } | { ok: false; reason: string } {
    if (!username) return { ok: false, reason: 'no user name' };
    if (this.#registry && username !== DEBUG_USERNAME && username !== SERVER_USERNAME) {
      const matches = this.#registry.verify(username, password ?? '');
      if (!this.#registry.isActive(username)) return { ok: false, reason: 'unknown user' };
      if (password === undefined || password.length === 0) return { ok: false, reason: 'no password' };
      return matches
        ? { ok: true, account: { kind: 'printer', printerId: username } }
        : { ok: false, reason: 'wrong password' };
    }
    const expected = this.#tokens.get(username);
    const matches = sameToken(password ?? '', expected ?? this.#decoy);
    if (!expected) return { ok: false, reason: 'unknown user' };
    if (password === undefined || password.length === 0) return { ok: false, reason: 'no password' };
    if (!matches) return { ok: false, reason: 'wrong password' };
    if (username === DEBUG_USERNAME) return { ok: true, account: { kind: 'debug' } };
    if (username === SERVER_USERNAME) return { ok: true, account: { kind: 'server' } };
    return { ok: true, account: { kind: 'printer', printerId: username } };
  }

  /**
   * After a rotation or removal in the registry: a printer whose token this store holds (the token file's
   * printers, for `npm start`'s agent and the banner) gets the new one, or loses it. Printers added live are
   * not kept here: their token is shown once.
   */
  replacePrinterToken(printerId: string, token: string | null): void {
    if (!this.#tokens.has(printerId) || printerId === DEBUG_USERNAME || printerId === SERVER_USERNAME) return;
    if (token) this.#tokens.set(printerId, token);
    else this.#tokens.delete(printerId);
    const { stored, exists } = readStored(this.file);
    if (!exists || !(printerId in stored.printers)) return;
    if (token) stored.printers[printerId] = token;
    else delete stored.printers[printerId];
    writeStored(this.file, stored, true);
  }

  /** For the start-up banner, `npm start`'s own agent and tests; never for a log line. */
  credentialsFor(account: Account): { username: string; password: string } {
    const username = usernameOf(account);
    const password = this.#tokens.get(username);
    if (!password) throw new Error(`no MQTT account for ${username}: add the printer to PRINTERS or PRINTER_TOKENS`);
    return { username, password };
  }

  toJSON(): unknown {
    return { file: this.file, accounts: [...this.#tokens.keys()] };
  }

  [inspect.custom](): string {
    return `MqttAccounts(${[...this.#tokens.keys()].join(', ')})`;
  }
}

export class TokenFileError extends Error {
  constructor(file: string, problem: string) {
    super(`${file}: ${problem}. Fix the file, or delete it to generate new tokens (agents then need their new token).`);
    this.name = 'TokenFileError';
  }
}

function readStored(file: string): { stored: StoredTokens; exists: boolean; modeFixed: boolean } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      return { stored: { printers: {} }, exists: false, modeFixed: false };
    throw err;
  }
  let modeFixed = false;
  if ((fs.statSync(file).mode & 0o077) !== 0) {
    fs.chmodSync(file, FILE_MODE);
    modeFixed = true;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new TokenFileError(file, 'not valid JSON');
  }
  const record = json as Partial<StoredTokens> | null;
  if (typeof record !== 'object' || record === null || Array.isArray(record))
    throw new TokenFileError(file, 'not a JSON object');
  if (record.debug !== undefined && !isToken(record.debug)) throw new TokenFileError(file, `"debug" ${TOKEN_RULE}`);
  if (record.server !== undefined && !isToken(record.server)) throw new TokenFileError(file, `"server" ${TOKEN_RULE}`);
  const printers = record.printers ?? {};
  if (typeof printers !== 'object' || printers === null || Array.isArray(printers))
    throw new TokenFileError(file, '"printers" must be an object');
  for (const [id, token] of Object.entries(printers)) {
    if (!isPrinterAccount(id)) throw new TokenFileError(file, `"${id}" is not a valid printer id`);
    if (!isToken(token)) throw new TokenFileError(file, `the token of "${id}" ${TOKEN_RULE}`);
  }
  return { stored: { debug: record.debug, server: record.server, printers: { ...printers } }, exists: true, modeFixed };
}

/** Writes the file readable by this user only; creating it never overwrites one another process just created. */
function writeStored(file: string, stored: StoredTokens, exists: boolean): boolean {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const body = {
    _: 'MQTT passwords of Printhop. Keep private. Delete an entry and restart the server to rotate that token.',
    debug: stored.debug,
    server: stored.server,
    printers: stored.printers,
  };
  const fd = fs.openSync(tmp, 'wx', FILE_MODE);
  try {
    fs.writeFileSync(fd, JSON.stringify(body, null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  try {
    if (exists) {
      fs.renameSync(tmp, file);
      return true;
    }
    try {
      fs.linkSync(tmp, file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

export interface LoadedTokens {
  accounts: MqttAccounts;
  /** The file's permissions were wider than 0600 and were narrowed. */
  modeFixed: boolean;
}

/** The accounts for this configuration, loaded now (MqttAccounts.load). */
export function loadTokens(config: {
  dataDir: string;
  printers: readonly string[];
  mqttTokens: ConfiguredTokens;
}): LoadedTokens {
  const accounts = new MqttAccounts(path.join(config.dataDir, TOKENS_FILE));
  const modeFixed = accounts.load(config);
  return { accounts, modeFixed };
}

/** Gives a token to the debug and server accounts and to each printer that has none; the names it gave one to. */
function addMissingTokens(stored: StoredTokens, configured: ConfiguredTokens, printers: readonly string[]): string[] {
  const generated: string[] = [];
  if (!configured.debug && !stored.debug) {
    stored.debug = generateToken();
    generated.push(DEBUG_USERNAME);
  }
  if (!configured.server && !stored.server) {
    stored.server = generateToken();
    generated.push(SERVER_USERNAME);
  }
  for (const id of printers) {
    // Own properties only: a printer named `constructor` or `__proto__` is a name like any other.
    if (!Object.hasOwn(configured.printers, id) && !Object.hasOwn(stored.printers, id)) {
      Object.defineProperty(stored.printers, id, {
        value: generateToken(),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      generated.push(id);
    }
  }
  return generated;
}

/** The accounts a server keeps in `dataDir` (for tools and tests that run beside a server process); configured tokens are not in it. */
export function readTokens(dataDir: string): MqttAccounts {
  const file = path.join(dataDir, TOKENS_FILE);
  const { stored, exists } = readStored(file);
  if (!exists || !stored.debug || !stored.server)
    throw new TokenFileError(file, 'does not exist yet or lacks the debug and server tokens');
  return MqttAccounts.of({ debug: stored.debug, server: stored.server, printers: stored.printers }, file);
}

/**
 * The server's own credentials on an external broker: MQTT_USERNAME/MQTT_PASSWORD when set, else the
 * `printhop-server` account of the token store (the one `npm run mosquitto-files` writes).
 */
export function serverBrokerCredentials(
  config: { mqttUsername: string; mqttPassword: string },
  accounts: MqttAccounts,
): { username: string; password: string } {
  if (config.mqttPassword) return { username: serverBrokerUsername(config), password: config.mqttPassword };
  return accounts.credentialsFor({ kind: 'server' });
}

/** The user name of serverBrokerCredentials, known from the settings alone (before the token file is read). */
export function serverBrokerUsername(config: { mqttUsername: string; mqttPassword: string }): string {
  return config.mqttPassword ? config.mqttUsername || SERVER_USERNAME : SERVER_USERNAME;
}
