/**
 * Who may do what on the broker. An agent (user name = its printer id) may subscribe only to its own
 * jobs and publish only its own acks and status (its Last Will included); the debug account may watch
 * `printers/#` and publish nothing unless configured to; the server account may publish jobs and read
 * everything under `printers/`. Everything else is refused and logged, without the password.
 */
import type { AedesOptions, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import type { Logger } from '../../runtime/logger';
import { agentClientId } from '../../protocol/accounts';
import { parseTopic } from '../../protocol/topics';
import { type Account, type MqttAccounts, usernameOf } from './tokens';
import type { AgentSessions } from './agent-sessions';
import type { AuthThrottle } from './auth-throttle';
import type { ConnectionLimits } from './limits';
import type { PersistentSessions } from './session-limits';

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
  if (account.kind === 'printer')
    return parseTopic(filter)?.kind === 'jobs' && parseTopic(filter)?.printerId === account.printerId;
  // `printers/...` only: never `#`, `+/...` or `$SYS/...`.
  return filter === 'printers/#' || filter.startsWith('printers/');
}

/**
 * A client id belongs to the account that uses it: a persistent session's for good (another account would
 * inherit its queued jobs), a clean session's while it is connected (another account would kick it off).
 */
export function mayUseClientId(account: Account, clientId: string, owner: string | undefined): boolean {
  if (clientId.startsWith(AGENT_CLIENT_PREFIX))
    return account.kind === 'printer' && clientId === agentClientId(account.printerId);
  return owner === undefined || owner === usernameOf(account);
}

type Hooks = Required<Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'>>;

/**
 * Each connection's publish verdicts, by topic and retain flag. An agent publishes on the same two topics
 * (its acks, its status) for as long as it is connected, two or more times a job, and its account is fixed
 * when it connects (a printer removed or given a new token is disconnected), so each topic is checked once
 * per connection instead of parsed again for every packet. Kept to a bound per connection.
 */
export class PublishVerdicts {
  /** By retain flag, then topic: the topic itself is the key (a key made of flag and topic was a new string to hash per packet). */
  private readonly byClient = new WeakMap<object, { plain: Map<string, boolean>; retained: Map<string, boolean> }>();

  constructor(private readonly kept = 64) {}

  verdict(client: object, topic: string, retain: boolean, decide: () => boolean): boolean {
    let verdicts = this.byClient.get(client);
    if (!verdicts) this.byClient.set(client, (verdicts = { plain: new Map(), retained: new Map() }));
    const byTopic = retain ? verdicts.retained : verdicts.plain;
    let allowed = byTopic.get(topic);
    if (allowed === undefined) {
      allowed = decide();
      if (verdicts.plain.size + verdicts.retained.size >= this.kept) {
        verdicts.plain.clear();
        verdicts.retained.clear();
      }
      byTopic.set(topic, allowed);
    }
    return allowed;
  }
}

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

const shorten = (s: string | undefined, max = 64) =>
  s === undefined ? undefined : s.length > max ? `${s.slice(0, max)}…` : s;

function addressOf(client: Client): string | undefined {
  const c = client as unknown as { conn?: { remoteAddress?: string }; req?: { socket?: { remoteAddress?: string } } };
  return c.conn?.remoteAddress ?? c.req?.socket?.remoteAddress;
}

/** An error aedes turns into CONNACK 3, "server unavailable": refused for now, whatever the password. */
function serverUnavailable(): AuthenticateError {
  return Object.assign(new Error('server unavailable'), { returnCode: 3 }) as AuthenticateError;
}

/** An error aedes turns into CONNACK 2, "identifier rejected": another agent holds this printer's session. */
function identifierRejected(): AuthenticateError {
  return Object.assign(new Error('identifier rejected'), { returnCode: 2 }) as AuthenticateError;
}

/** Issue 17's broker protections (auth-throttle.ts, limits.ts), and issue 24's one agent per printer; each is optional. */
export interface AccessProtections {
  throttle?: AuthThrottle;
  connections?: ConnectionLimits;
  sessions?: AgentSessions;
  /** Persistent sessions per account (issue 20, session-limits.ts); it then also keeps their owners. */
  persistent?: PersistentSessions;
}

type WithWill = Client & { will?: { payload?: Buffer }; _will?: { payload?: Buffer } };

/** What the hooks share: the accounts, the policy, the log, the protections, and who owns each persistent session. */
interface AccessContext {
  accounts: MqttAccounts;
  policy: AccessPolicy;
  accessLog: Logger;
  verdicts: PublishVerdicts;
  protections: AccessProtections;
  sessionOwner: (clientId: string) => string | undefined;
  /** Owners of persistent sessions, when no PersistentSessions keeps them. */
  sessionOwners: Map<string, string>;
}

export function createAccessHooks(
  accounts: MqttAccounts,
  policy: AccessPolicy,
  log: Logger,
  protections: AccessProtections = {},
): Hooks {
  const sessionOwners = new Map<string, string>();
  const { persistent } = protections;
  const context: AccessContext = {
    accounts,
    policy,
    accessLog: log.child({ module: 'access' }),
    verdicts: new PublishVerdicts(),
    protections,
    sessionOwner: (clientId) => (persistent ? persistent.ownerOf(clientId) : sessionOwners.get(clientId)),
    sessionOwners,
  };
  return {
    authenticate: (client, username, password, callback) => authenticate(context, client, username, password, callback),
    authorizePublish: (client, packet, callback) => authorizePublish(context, client, packet, callback),
    authorizeSubscribe: (client, subscription, callback) => authorizeSubscribe(context, client, subscription, callback),
  };
}

/** CONNECT: the account, the throttle, the client id's owner, the connection and session limits, a takeover. */
function authenticate(
  { accounts, accessLog, protections, sessionOwner, sessionOwners }: AccessContext,
  client: Client,
  username: Parameters<Hooks['authenticate']>[1],
  password: Parameters<Hooks['authenticate']>[2],
  callback: Parameters<Hooks['authenticate']>[3],
): void {
  const { throttle, connections, sessions, persistent } = protections;
  const c = client as ClientWithAccount;
  const address = addressOf(client) ?? 'unknown';
  const who = { clientId: shorten(client.id), username: shorten(username), address: addressOf(client) };
  // Password guessing: an address with too many failures is refused for a while, password unread.
  if (throttle && throttle.blockedFor(address) > 0) return callback(serverUnavailable(), false);
  const verdict = accounts.verify(username, password);
  if (!verdict.ok) {
    if (throttle) throttle.failure(address, shorten(username), verdict.reason);
    else accessLog.warn({ ...who, reason: verdict.reason }, 'mqtt connection refused');
    return callback(notAuthorized(), false);
  }
  throttle?.success(address);
  const name = usernameOf(verdict.account);
  if (!mayUseClientId(verdict.account, client.id, sessionOwner(client.id) ?? connections?.ownerOf(client.id))) {
    accessLog.warn({ ...who, reason: 'client id belongs to another account' }, 'mqtt connection refused');
    return callback(notAuthorized(), false);
  }
  if (connections && !connections.mayConnect(name, client.id)) {
    accessLog.warn(
      { ...who, reason: 'too many connections for this account (MQTT_MAX_CONNECTIONS_PER_ACCOUNT)' },
      'mqtt connection refused',
    );
    return callback(serverUnavailable(), false);
  }
  const reserved = verdict.account.kind === 'printer' && client.id === agentClientId(verdict.account.printerId);
  if (persistent && !client.clean && !persistent.mayOpen(name, client.id, reserved)) {
    accessLog.warn(
      { ...who, reason: 'too many persistent sessions for this account (MQTT_MAX_SESSIONS_PER_ACCOUNT)' },
      'mqtt connection refused',
    );
    return callback(serverUnavailable(), false);
  }
  const accept = () => {
    connections?.admit(name, client);
    if (persistent) {
      if (client.clean) persistent.cleaned(client.id);
      else persistent.opened(name, client);
    } else if (!client.clean) sessionOwners.set(client.id, name);
    c.printhopAccount = verdict.account;
    accessLog.debug(who, 'mqtt client authenticated');
    callback(null, true);
  };
  // A second agent for a printer whose agent is connected: agent-sessions.ts decides (the will, read
  // at CONNECT, says which agent each one is).
  const holder = connections?.liveClient(client.id) as WithWill | undefined;
  if (!sessions || !holder || holder === client || verdict.account.kind !== 'printer') return accept();
  sessions
    .admit(verdict.account.printerId, (client as WithWill)._will, holder.will, () => holder.close())
    .then(
      (admitted) => (admitted ? accept() : callback(identifierRejected(), false)),
      (err: unknown) => {
        accessLog.error({ ...who, err }, 'mqtt connection refused: the takeover could not be applied');
        callback(serverUnavailable(), false);
      },
    );
}

/** PUBLISH from a client: no QoS 2, and only on the topics its account may publish to. */
function authorizePublish(
  { policy, accessLog, verdicts }: AccessContext,
  client: Client | null,
  packet: PublishPacket,
  callback: Parameters<Hooks['authorizePublish']>[2],
): void {
  // The server's own publications (aedes.publish) have no client.
  if (!client) return callback(null);
  const account = (client as ClientWithAccount).printhopAccount;
  // QoS 2 is never used by the protocol, and aedes keeps each one until its PUBREL: refused (connection closed).
  if (packet.qos === 2) {
    accessLog.warn(
      {
        clientId: shorten(client.id),
        username: account ? usernameOf(account) : undefined,
        topic: shorten(packet.topic, 200),
      },
      'mqtt QoS 2 publish refused',
    );
    return callback(new Error('QoS 2 is not accepted by this broker; publish with QoS 0 or 1'));
  }
  if (
    account &&
    verdicts.verdict(client, packet.topic, packet.retain, () =>
      mayPublish(account, packet.topic, packet.retain, policy),
    )
  )
    return callback(null);
  accessLog.warn(
    {
      clientId: shorten(client.id),
      username: account ? usernameOf(account) : undefined,
      topic: shorten(packet.topic, 200),
      retain: packet.retain,
    },
    'mqtt publish refused',
  );
  callback(new Error(`not allowed to publish on ${shorten(packet.topic, 200)}`));
}

/** SUBSCRIBE: a filter its account may read, or SUBACK 0x80 for it (the connection stays open). */
function authorizeSubscribe(
  { accessLog }: AccessContext,
  client: Client,
  subscription: Subscription,
  callback: Parameters<Hooks['authorizeSubscribe']>[2],
): void {
  const account = (client as ClientWithAccount).printhopAccount;
  if (account && maySubscribe(account, subscription.topic)) return callback(null, subscription);
  accessLog.warn(
    {
      clientId: shorten(client.id),
      username: account ? usernameOf(account) : undefined,
      topic: shorten(subscription.topic, 200),
    },
    'mqtt subscription refused',
  );
  // SUBACK 0x80 for this filter; the connection stays open.
  callback(null, null as unknown as Subscription);
}
