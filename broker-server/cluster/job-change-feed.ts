/**
 * Which jobs other server instances sharing one PostgreSQL database changed, row by row: NOTIFY, sent by
 * the PostgreSQL job store inside its transaction (so only committed changes are announced, in commit
 * order), heard here with LISTEN, so that every instance's live page shows every change. The content is
 * left out (a job's content never changes; jobs/remote-job-feed.ts reads it once). On SQLite there is
 * one instance, which hears no one else.
 */
import type pg from 'pg';
import type { Logger } from '../../config/logger';
import { isJobStatus } from '../../protocol/states';
import type { JobRow } from '../store/job-rows';
import { PostgresSession } from './postgres-session';

export const JOB_CHANGES_CHANNEL = 'printhop_job_changes';
/** NOTIFY payloads must stay under 8,000 bytes. */
const MAX_NOTICE_BYTES = 7000;

export interface JobChangeFeed {
  /** Other instances may share the database. */
  readonly shared: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `handler` gets the rows other instances have created or moved, in commit order. */
  onChanges(handler: (rows: JobChange[]) => void): void;
}

/** A job row as announced: everything but the content. Dates are ISO strings once through JSON. */
export type JobChange = Omit<JobRow, 'content'>;

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
    if (Buffer.byteLength(json) > MAX_NOTICE_BYTES / 2)
      json = JSON.stringify({ ...change, error: change.error?.slice(0, 200) ?? null });
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
    const jobs = (notice.jobs as Array<Partial<JobChange>>).filter(
      (j): j is JobChange => Number.isInteger(j?.id) && isJobStatus(j?.status) && typeof j?.printer_id === 'string',
    );
    return { from: notice.from, jobs };
  } catch {
    return null;
  }
}

/** One instance alone on its database: nothing to hear. */
export class NoOtherInstances implements JobChangeFeed {
  readonly shared = false;
  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  onChanges(): void {}
}

export class PostgresJobChangeFeed implements JobChangeFeed {
  readonly shared = true;
  private readonly handlers: Array<(rows: JobChange[]) => void> = [];
  private readonly session: PostgresSession;

  constructor(
    databaseUrl: string,
    private readonly instanceId: string,
    log: Logger,
  ) {
    this.session = new PostgresSession(databaseUrl, log.child({ module: 'job-change-feed', instance: instanceId }), {
      setUp: (client) => this.listen(client),
      onLost: () => undefined,
      lostMessage:
        "lost the connection that hears other instances' job changes (unheard until it is back); reconnecting",
    });
  }

  start(): Promise<void> {
    return this.session.start();
  }

  stop(): Promise<void> {
    return this.session.stop();
  }

  onChanges(handler: (rows: JobChange[]) => void): void {
    this.handlers.push(handler);
  }

  private async listen(client: pg.Client): Promise<void> {
    client.on('notification', (message) => {
      if (message.channel !== JOB_CHANGES_CHANNEL || !message.payload) return;
      const notice = decodeJobChanges(message.payload);
      if (!notice || notice.from === this.instanceId || !notice.jobs.length) return;
      for (const handler of this.handlers) handler(notice.jobs);
    });
    await client.query(`LISTEN ${JOB_CHANGES_CHANNEL}`);
  }
}
