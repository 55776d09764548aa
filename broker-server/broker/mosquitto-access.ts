/**
 * The access rules of the embedded broker, written for Mosquitto: a password file (PBKDF2-SHA512,
 * Mosquitto 2's `$7$` format, as `mosquitto_passwd` writes it) and an ACL file. An agent (user name =
 * its printer id) may read only its own jobs and write only its own acks and status; the debug account
 * may only read; the server account publishes jobs and reads acks and status. Anything not granted is
 * refused, anonymous clients included (with `allow_anonymous false`).
 *
 * Inputs are plain data, so that any token store can feed it.
 */
import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { DEBUG_USERNAME } from '../../protocol/accounts';
import { isPrinterId, topics } from '../../protocol/topics';

export interface Credentials {
  username: string;
  password: string;
}

export interface BrokerAccounts {
  /** One account per printer: user name = printer id, password = its token. */
  printers: Array<{ printerId: string; token: string }>;
  /** The server instances' account (the server's MQTT_USERNAME / MQTT_PASSWORD). */
  server: Credentials;
  /** The read-only account for mosquitto_sub; null: none. */
  debug: Credentials | null;
}

/** Mosquitto's default for `mosquitto_passwd` (PW_DEFAULT_ITERATIONS). */
const PBKDF2_ITERATIONS = 101;
const SALT_BYTES = 12;
const HASH_BYTES = 64;
/** A user name that is safe in both files: no `:`, no space, no `#`. */
const USERNAME_PATTERN = /^[A-Za-z0-9_.@-]{1,64}$/;

/** `$7$<iterations>$<salt>$<hash>`, base64: what Mosquitto 2 checks a password against. */
export function hashMosquittoPassword(
  password: string,
  salt: Buffer = randomBytes(SALT_BYTES),
  iterations = PBKDF2_ITERATIONS,
): string {
  const hash = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, HASH_BYTES, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export function checkBrokerAccounts(accounts: BrokerAccounts): string[] {
  const problems: string[] = [];
  const names = new Map<string, string>();
  const claim = (name: string, who: string) => {
    if (names.has(name)) problems.push(`${who} and ${names.get(name)} share the user name "${name}"`);
    names.set(name, who);
  };
  for (const [who, c] of [
    ['the server account', accounts.server],
    ['the debug account', accounts.debug],
  ] as const) {
    if (!c) continue;
    if (!USERNAME_PATTERN.test(c.username))
      problems.push(`${who}: user name "${c.username}" must be 1-64 of A-Z a-z 0-9 _ . @ -`);
    if (!c.password) problems.push(`${who} (${c.username}) has no password`);
    claim(c.username, who);
  }
  for (const p of accounts.printers) {
    if (!isPrinterId(p.printerId)) problems.push(`printer id "${p.printerId}" is not 1-64 of A-Z a-z 0-9 _ -`);
    if (!p.token) problems.push(`printer ${p.printerId} has no token`);
    claim(p.printerId, `printer ${p.printerId}`);
  }
  return problems;
}

export function mosquittoPasswordFile(accounts: BrokerAccounts): string {
  const lines = [
    accounts.server,
    ...(accounts.debug ? [accounts.debug] : []),
    ...accounts.printers.map((p) => ({ username: p.printerId, password: p.token })),
  ].map((c) => `${c.username}:${hashMosquittoPassword(c.password)}`);
  return lines.join('\n') + '\n';
}

export function mosquittoAclFile(accounts: BrokerAccounts): string {
  const out = [
    '# Printhop access rules for Mosquitto (acl_file), written by `npm run mosquitto-files`.',
    '# Regenerate it, and the password file, whenever printers or tokens change, then reload mosquitto (SIGHUP).',
    '# No rule comes before the first `user` line, so a client that is not listed below gets nothing.',
    '',
    '# The server instances: publish jobs, consume acks (through $share/printhop/...) and statuses.',
    `user ${accounts.server.username}`,
    `topic write ${topics.allJobs}`,
    `topic read ${topics.allAcks}`,
    `topic read ${topics.allStatus}`,
  ];
  if (accounts.debug)
    out.push(
      '',
      '# Debugging with mosquitto_sub: read everything, publish nothing.',
      `user ${accounts.debug.username}`,
      `topic read ${topics.all}`,
    );
  for (const p of [...accounts.printers].sort((a, b) => a.printerId.localeCompare(b.printerId))) {
    out.push(
      '',
      `# Agent of ${p.printerId}: its own jobs, acks and status (its Last Will included).`,
      `user ${p.printerId}`,
      `topic read ${topics.jobs(p.printerId)}`,
      `topic write ${topics.acks(p.printerId)}`,
      `topic write ${topics.status(p.printerId)}`,
    );
  }
  return out.join('\n') + '\n';
}

export function mosquittoAccessFiles(accounts: BrokerAccounts): { passwordFile: string; aclFile: string } {
  const problems = checkBrokerAccounts(accounts);
  if (problems.length)
    throw new Error(`cannot write Mosquitto's access files:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return { passwordFile: mosquittoPasswordFile(accounts), aclFile: mosquittoAclFile(accounts) };
}

/** The accounts the server's settings describe: PRINTERS + PRINTER_TOKENS, MQTT_USERNAME/MQTT_PASSWORD, MQTT_DEBUG_PASSWORD. */
export function brokerAccountsFromConfig(config: {
  printers: readonly string[];
  printerTokens: Record<string, string>;
  mqttUsername: string;
  mqttPassword: string;
  mqttDebugPassword: string;
}): { accounts: BrokerAccounts; problems: string[] } {
  const problems: string[] = [];
  const ids = [...new Set([...config.printers, ...Object.keys(config.printerTokens)])].sort();
  const printers: BrokerAccounts['printers'] = [];
  for (const printerId of ids) {
    const token = config.printerTokens[printerId];
    if (token) printers.push({ printerId, token });
    else problems.push(`printer ${printerId} (in PRINTERS) has no token in PRINTER_TOKENS`);
  }
  if (!config.mqttUsername || !config.mqttPassword)
    problems.push('MQTT_USERNAME and MQTT_PASSWORD (the server account) must be set');
  const accounts: BrokerAccounts = {
    printers,
    server: { username: config.mqttUsername, password: config.mqttPassword },
    debug: config.mqttDebugPassword ? { username: DEBUG_USERNAME, password: config.mqttDebugPassword } : null,
  };
  return { accounts, problems: [...problems, ...(problems.length ? [] : checkBrokerAccounts(accounts))] };
}
