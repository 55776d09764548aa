/**
 * What server instances sharing one PostgreSQL database tell each other, through that database:
 * - which jobs changed, row by row (NOTIFY, sent by the job writer inside its transaction, so only
 *   committed changes are announced, in commit order), so that every instance's live page shows every
 *   change. The content is left out (a job's content never changes; readers fetch it once);
 * - which instance re-publishes a printer's unfinished jobs: an advisory lock per printer, held on
 *   this instance's own connection for as long as the instance lives. PostgreSQL frees it when that
 *   connection ends, a crash (SIGKILL) included, and another instance then takes the printer over.
 * On SQLite there is one instance, which owns every printer and hears no one else.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from '../../config/logger';
import { isJobStatus } from '../../protocol/states';
import type { JobRow } from './job-writer';

export const JOB_CHANGES_CHANNEL = 'printhop_job_changes';
/** First half of the two-key advisory lock: printer claims, apart from any other use of advisory locks. */
const PRINTER_CLAIM_SPACE = 0x7072_6e70;
/** NOTIFY payloads must stay under 8,000 bytes. */
const MAX_NOTICE_BYTES = 7000;
const RECONNECT_MS = 1000;

export interface Cluster {
  /** This process, in logs and in the notices it sends. */
  readonly instanceId: string;
  /** Other instances may share the database. */
  readonly shared: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** True when this instance re-publishes `printerId`'s jobs: it already holds the printer's claim, or just took it. */
  claimPrinter(printerId: string): Promise<boolean>;
  /** `handler` gets the rows other instances have created or moved, in commit order. */
  onRemoteJobChanges(handler: (rows: JobChange[]) => void): void;
}

/** A job row as announced: everything but the content. Dates are ISO strings once through JSON. */
export type JobChange = Omit<JobRow, 'content'>;

export function newInstanceId(): string {
  return randomBytes(6).toString('hex');
}

/** The notices one batch sends: `{"from": instance, "jobs": [row, …]}`, split to fit NOTIFY. */
export function encodeJobChanges(instanceId: string, rows: JobRow[]): string[] {
  const payloads: string[] = [];
  let chunk: string[] = [];
  let size = 0;
  const flush = () => {
    if (chunk.length) payloads.push(`{"from":${JSON.stringify(instanceId)},"jobs":[${chunk.join(',')}]}`);
    chunk = [];
    size = 0;
  };
  for (const row of rows) {
    const { content: _content, ...change } = row;
    let json = JSON.stringify(change);
    // An agent's error text is the only long field; a notice must never outgrow NOTIFY's limit.
    if (Buffer.byteLength(json) > MAX_NOTICE_BYTES / 2) json = JSON.stringify({ ...change, error: change.error?.slice(0, 200) ?? null });
    const bytes = Buffer.byteLength(json) + 1;
    if (size + bytes > MAX_NOTICE_BYTES - 64) flush();
    chunk.push(json);
    size += bytes;
  }
  flush();
  return payloads;
}

export function decodeJobChanges(payload: string): { from: string; jobs: JobChange[] } | null {
  try {
    const notice = JSON.parse(payload) as { from?: unknown; jobs?: unknown };
    if (typeof notice.from !== 'string' || !Array.isArray(notice.jobs)) return null;
    const jobs = (notice.jobs as Array<Partial<JobChange>>).filter((j): j is JobChange => Number.isInteger(j?.id) && isJobStatus(j?.status) && typeof j?.printer_id === 'string');
    return { from: notice.from, jobs };
  } catch {
    return null;
  }
}

export class SingleInstance implements Cluster {
  readonly instanceId = newInstanceId();
  readonly shared = false;
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  async claimPrinter(): Promise<boolean> {
    return true;
  }
  onRemoteJobChanges(): void {}
}

export class PostgresCluster implements Cluster {
  readonly instanceId = newInstanceId();
  readonly shared = true;
  private client: pg.Client | null = null;
  private readonly claimed = new Set<string>();
  private readonly handlers: Array<(rows: JobChange[]) => void> = [];
  private reconnectTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly log: Logger;

  constructor(
    private readonly databaseUrl: string,
    log: Logger,
  ) {
    this.log = log.child({ module: 'cluster', instance: this.instanceId });
  }

  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = null;
    this.claimed.clear();
    if (client) await client.end().catch(() => undefined);
  }

  async claimPrinter(printerId: string): Promise<boolean> {
    if (this.claimed.has(printerId)) return true;
    const client = this.client;
    if (!client) return false;
    const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [PRINTER_CLAIM_SPACE, printerId]);
    if (!rows[0]?.ok) return false;
    // The client may have been replaced while the query ran: a claim counts only on the live connection.
    if (client !== this.client) return false;
    this.claimed.add(printerId);
    this.log.info({ printerId }, 'this instance now re-publishes the printer\'s jobs');
    return true;
  }

  onRemoteJobChanges(handler: (rows: JobChange[]) => void): void {
    this.handlers.push(handler);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    client.on('notification', (message) => {
      if (message.channel !== JOB_CHANGES_CHANNEL || !message.payload) return;
      const notice = decodeJobChanges(message.payload);
      if (!notice || notice.from === this.instanceId || !notice.jobs.length) return;
      for (const handler of this.handlers) handler(notice.jobs);
    });
    const lost = (err?: Error) => {
      if (this.client !== client) return;
      // Its locks went with the connection: other instances may take the printers now.
      this.client = null;
      this.claimed.clear();
      client.end().catch(() => undefined);
      this.reconnectLater(err);
    };
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      await client.query(`LISTEN ${JOB_CHANGES_CHANNEL}`);
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    this.client = client;
  }

  private reconnectLater(err?: Error): void {
    if (this.stopped) return;
    this.log.warn({ err: err?.message }, 'lost the database link of this instance (printer claims dropped, changes of other instances unheard); reconnecting');
    this.reconnectTimer = setTimeout(() => {
      this.connect().catch((e: unknown) => this.reconnectLater(e as Error));
    }, RECONNECT_MS);
  }
}
