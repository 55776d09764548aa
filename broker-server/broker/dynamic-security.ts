/**
 * Mosquitto's dynamic security plugin, driven by the server over `$CONTROL/dynamic-security/v1`: the printer
 * registry's changes become Mosquitto accounts at once, with no file to regenerate and no reload. Each
 * printer gets a client (user name = printer id) and a role of its own whose ACLs let it read only its jobs
 * and write only its acks and status. The server's account needs the `admin` role that
 * `mosquitto_ctrl dynsec init` gives (deploy/mosquitto/README in docs/operations.md).
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../runtime/logger';
import { topics } from '../../protocol/topics';
import type { BrokerAccountControl } from './account-control';
import type { MessageBus } from './message-bus';

export const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1';
export const DYNSEC_RESPONSE_TOPIC = `${DYNSEC_TOPIC}/response`;
/** The role the server adds to its own account: publish jobs, read everything under printers/. */
export const SERVER_ROLE = 'printhop-server';
export const printerRole = (printerId: string) => `printhop-printer-${printerId}`;

type Command = Record<string, unknown> & { command: string };
interface Response {
  command: string;
  error?: string;
  correlationData?: string;
  data?: unknown;
}

export class DynsecError extends Error {
  constructor(
    readonly command: string,
    readonly reason: string,
  ) {
    super(`Mosquitto's dynamic security refused ${command}: ${reason}`);
    this.name = 'DynsecError';
  }
}

const ALREADY_EXISTS = /already exists/i;
const NOT_FOUND = /not found/i;

export class DynamicSecurity implements BrokerAccountControl {
  readonly name = 'mosquitto dynamic security';
  private readonly log: Logger;
  private readonly pending = new Map<
    string,
    { resolve: (r: Response) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private subscribed = false;

  constructor(
    private readonly bus: MessageBus,
    private readonly options: { serverUsername: string; timeoutMs?: number },
    log: Logger,
  ) {
    this.log = log.child({ module: 'dynsec' });
  }

  /** After the bus: gives the server's account its role and creates the seeded printers that Mosquitto lacks. */
  async start(seed: Record<string, string>): Promise<void> {
    await this.ensureSubscribed();
    await this.run(
      {
        command: 'createRole',
        rolename: SERVER_ROLE,
        acls: [
          { acltype: 'publishClientSend', topic: topics.allJobs, priority: 0, allow: true },
          { acltype: 'subscribePattern', topic: topics.all, priority: 0, allow: true },
          { acltype: 'publishClientReceive', topic: topics.all, priority: 0, allow: true },
        ],
      },
      { tolerate: ALREADY_EXISTS },
    );
    if (!(await this.serverHasRole())) {
      // Mosquitto disconnects a client whose roles change (so that they apply at once): the server's link
      // drops, and the answer with it. mqtt.js reconnects and subscribes again; the role is then checked.
      await this.run(
        { command: 'addClientRole', username: this.options.serverUsername, rolename: SERVER_ROLE },
        { tolerate: ALREADY_EXISTS },
      ).catch(() => undefined);
      const deadline = Date.now() + (this.options.timeoutMs ?? 5000) * 2;
      while (!(await this.serverHasRole().catch(() => false))) {
        if (Date.now() > deadline)
          throw new DynsecError(
            'addClientRole',
            `the server account ${this.options.serverUsername} could not be given the ${SERVER_ROLE} role`,
          );
        await new Promise((r) => setTimeout(r, 200));
      }
      this.log.info({ username: this.options.serverUsername, rolename: SERVER_ROLE }, 'server account given its role');
    }
    for (const [printerId, token] of Object.entries(seed))
      await this.createPrinter(printerId, token, { tolerate: ALREADY_EXISTS });
  }

  async addPrinter(printerId: string, token: string): Promise<void> {
    await this.createPrinter(printerId, token);
  }

  /** Mosquitto does not close a client's connection when its password changes: disabling it does. */
  async setToken(printerId: string, token: string): Promise<void> {
    await this.run({ command: 'setClientPassword', username: printerId, password: token });
    await this.run({ command: 'disableClient', username: printerId });
    await this.run({ command: 'enableClient', username: printerId });
  }

  /** Deleting the client closes its connection. */
  async removePrinter(printerId: string): Promise<void> {
    await this.run({ command: 'deleteClient', username: printerId }, { tolerate: NOT_FOUND });
    await this.run({ command: 'deleteRole', rolename: printerRole(printerId) }, { tolerate: NOT_FOUND });
  }

  private async serverHasRole(): Promise<boolean> {
    const response = await this.run({ command: 'getClient', username: this.options.serverUsername });
    const roles =
      (response.data as { client?: { roles?: Array<{ rolename: string }> } } | undefined)?.client?.roles ?? [];
    return roles.some((r) => r.rolename === SERVER_ROLE);
  }

  /** The client names Mosquitto knows (for tests and diagnostics). */
  async listClients(): Promise<string[]> {
    const response = await this.run({ command: 'listClients', verbose: false, count: -1, offset: 0 });
    return ((response.data as { clients?: string[] } | undefined)?.clients ?? []).slice().sort();
  }

  stop(): void {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error('stopped'));
    }
    this.pending.clear();
  }

  private async createPrinter(printerId: string, token: string, options: { tolerate?: RegExp } = {}): Promise<void> {
    await this.run(
      {
        command: 'createRole',
        rolename: printerRole(printerId),
        acls: [
          { acltype: 'subscribePattern', topic: topics.jobs(printerId), priority: 0, allow: true },
          { acltype: 'publishClientSend', topic: topics.acks(printerId), priority: 0, allow: true },
          { acltype: 'publishClientSend', topic: topics.status(printerId), priority: 0, allow: true },
        ],
      },
      { tolerate: ALREADY_EXISTS },
    );
    await this.run(
      { command: 'createClient', username: printerId, password: token, roles: [{ rolename: printerRole(printerId) }] },
      options,
    );
  }

  private async ensureSubscribed(): Promise<void> {
    if (this.subscribed) return;
    await this.bus.subscribe(DYNSEC_RESPONSE_TOPIC, async (_topic, payload) => this.onResponse(payload));
    this.subscribed = true;
  }

  private onResponse(payload: Buffer): void {
    let parsed: { responses?: Response[] };
    try {
      parsed = JSON.parse(payload.toString()) as { responses?: Response[] };
    } catch {
      this.log.warn('unreadable dynamic security response ignored');
      return;
    }
    for (const response of parsed.responses ?? []) {
      const id = response.correlationData;
      const waiting = id ? this.pending.get(id) : undefined;
      if (!waiting || !id) continue;
      this.pending.delete(id);
      clearTimeout(waiting.timer);
      waiting.resolve(response);
    }
  }

  private async run(command: Command, options: { tolerate?: RegExp } = {}): Promise<Response> {
    await this.ensureSubscribed();
    const correlationData = randomBytes(8).toString('hex');
    const answer = new Promise<Response>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationData);
        reject(
          new DynsecError(
            command.command,
            'no answer (is the plugin loaded, and does the server account have the admin role?)',
          ),
        );
      }, this.options.timeoutMs ?? 5000);
      this.pending.set(correlationData, { resolve, reject, timer });
    });
    await this.bus.publish(DYNSEC_TOPIC, JSON.stringify({ commands: [{ ...command, correlationData }] }), { qos: 1 });
    const response = await answer;
    if (response.error) {
      if (options.tolerate?.test(response.error)) return response;
      // The password never goes to the log; only the command and the user or role name.
      this.log.warn(
        { command: command.command, username: command.username, rolename: command.rolename, error: response.error },
        'dynamic security command refused',
      );
      throw new DynsecError(command.command, response.error);
    }
    this.log.debug(
      { command: command.command, username: command.username, rolename: command.rolename },
      'dynamic security command applied',
    );
    return response;
  }
}
