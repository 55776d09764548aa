/**
 * Who may do what on the broker. An agent (user name = its printer id) may subscribe only to its own
 * jobs and publish only its own acks and status (its Last Will included); the debug account may watch
 * `printers/#` and publish nothing unless configured to; the server account may publish jobs and read
 * everything under `printers/`. Everything else is refused and logged, without the password.
 */
import type { AedesOptions, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import type { Logger } from '../../config/logger';
import { agentClientId } from '../../protocol/accounts';
import { parseTopic } from '../../protocol/topics';
import { type Account, type MqttAccounts, usernameOf } from './tokens';

export interface AccessPolicy {
  /** The debug account may publish jobs by hand. */
  debugCanPublish: boolean;
}

const AGENT_CLIENT_PREFIX = agentClientId('');

export function mayPublish(account: Account, topic: string, retain: boolean, policy: AccessPolicy): boolean {
  const parsed = parseTopic(topic);
  if (!parsed) return false;
  switch (account.kind) {
    case 'printer':
      if (parsed.printerId !== account.printerId) return false;
      // A retained ack would be replayed to every new subscriber as if it were new.
      return parsed.kind === 'status' || (parsed.kind === 'acks' && !retain);
    case 'server':
      return parsed.kind === 'jobs' && !retain;
    case 'debug':
      return policy.debugCanPublish && parsed.kind === 'jobs' && !retain;
  }
}

export function maySubscribe(account: Account, filter: string): boolean {
  if (account.kind === 'printer') return parseTopic(filter)?.kind === 'jobs' && parseTopic(filter)?.printerId === account.printerId;
  // `printers/...` only: never `#`, `+/...` or `$SYS/...`.
  return filter === 'printers/#' || filter.startsWith('printers/');
}

/** A persistent session belongs to the account that made it; another account taking its client id would inherit its queued jobs. */
export function mayUseClientId(account: Account, clientId: string, owner: string | undefined): boolean {
  if (clientId.startsWith(AGENT_CLIENT_PREFIX)) return account.kind === 'printer' && clientId === agentClientId(account.printerId);
  return owner === undefined || owner === usernameOf(account);
}

type Hooks = Required<Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'>>;

interface ClientWithAccount extends Client {
  printhopAccount?: Account;
}

/** The account a connected client logged in with (set by `authenticate`). */
export function accountOf(client: Client): Account | undefined {
  return (client as ClientWithAccount).printhopAccount;
}

/** An error aedes turns into CONNACK 5, "not authorized". */
function notAuthorized(): AuthenticateError {
  return Object.assign(new Error('not authorized'), { returnCode: 5 }) as AuthenticateError;
}

const shorten = (s: string | undefined, max = 64) => (s === undefined ? undefined : s.length > max ? `${s.slice(0, max)}…` : s);

function addressOf(client: Client): string | undefined {
  const c = client as unknown as { conn?: { remoteAddress?: string }; req?: { socket?: { remoteAddress?: string } } };
  return c.conn?.remoteAddress ?? c.req?.socket?.remoteAddress;
}

export function createAccessHooks(accounts: MqttAccounts, policy: AccessPolicy, log: Logger): Hooks {
  const accessLog = log.child({ module: 'access' });
  const sessionOwners = new Map<string, string>();

  return {
    authenticate(client, username, password, callback) {
      const c = client as ClientWithAccount;
      const verdict = accounts.verify(username, password);
      const who = { clientId: shorten(client.id), username: shorten(username), address: addressOf(client) };
      if (!verdict.ok) {
        accessLog.warn({ ...who, reason: verdict.reason }, 'mqtt connection refused');
        return callback(notAuthorized(), false);
      }
      if (!mayUseClientId(verdict.account, client.id, sessionOwners.get(client.id))) {
        accessLog.warn({ ...who, reason: 'client id belongs to another account' }, 'mqtt connection refused');
        return callback(notAuthorized(), false);
      }
      if (!client.clean) sessionOwners.set(client.id, usernameOf(verdict.account));
      c.printhopAccount = verdict.account;
      accessLog.debug(who, 'mqtt client authenticated');
      callback(null, true);
    },

    authorizePublish(client, packet: PublishPacket, callback) {
      // The server's own publications (aedes.publish) have no client.
      if (!client) return callback(null);
      const account = (client as ClientWithAccount).printhopAccount;
      if (account && mayPublish(account, packet.topic, packet.retain, policy)) return callback(null);
      accessLog.warn({ clientId: shorten(client.id), username: account ? usernameOf(account) : undefined, topic: shorten(packet.topic, 200), retain: packet.retain }, 'mqtt publish refused');
      callback(new Error(`not allowed to publish on ${shorten(packet.topic, 200)}`));
    },

    authorizeSubscribe(client, subscription: Subscription, callback) {
      const account = (client as ClientWithAccount).printhopAccount;
      if (account && maySubscribe(account, subscription.topic)) return callback(null, subscription);
      accessLog.warn({ clientId: shorten(client.id), username: account ? usernameOf(account) : undefined, topic: shorten(subscription.topic, 200) }, 'mqtt subscription refused');
      // SUBACK 0x80 for this filter; the connection stays open.
      callback(null, null as unknown as Subscription);
    },
  };
}
