/**
 * One PostgreSQL connection of this instance's own (outside Sequelize's pool), kept open for as long as
 * the instance lives: reconnected a second after it is lost, with `onLost` told first (what was tied to
 * the old connection, LISTEN or advisory locks, went with it).
 */
import pg from 'pg';
import type { Logger } from '../../runtime/logger';

const RECONNECT_MS = 1000;

export class PostgresSession {
  private client: pg.Client | null = null;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly databaseUrl: string,
    private readonly log: Logger,
    private readonly hooks: { setUp?: (client: pg.Client) => Promise<void>; onLost: () => void; lostMessage: string },
  ) {}

  /** The live connection, or null while reconnecting. */
  get current(): pg.Client | null {
    return this.client;
  }

  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = null;
    this.hooks.onLost();
    if (client) await client.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    const lost = (err?: Error) => {
      if (this.client !== client) return;
      this.client = null;
      this.hooks.onLost();
      client.end().catch(() => undefined);
      this.reconnectLater(err);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      await this.hooks.setUp?.(client);
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
  }

  private reconnectLater(err?: Error): void {
    if (this.stopped) return;
    this.log.warn({ err: err?.message }, this.hooks.lostMessage);
    this.reconnectTimer = setTimeout(() => {
      this.connect().catch((e: unknown) => this.reconnectLater(e as Error));
    }, RECONNECT_MS);
  }
}
