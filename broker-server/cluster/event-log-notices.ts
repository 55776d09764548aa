/**
 * What other server instances sharing one PostgreSQL database add to the job event log: each of their
 * commits that changed jobs sends NOTIFY with the newest event id (store/postgres-print-store.ts), heard
 * here with LISTEN. A notice carries nothing else: the log's reader (jobs/job-change-log.ts) reads the
 * changes from the log itself. When the listening connection comes back after a loss, the notices sent
 * meanwhile are gone, so the reader is told "unknown" and looks at the log. On SQLite there is one
 * instance, which hears no one else (nothing of this runs).
 */
import type pg from 'pg';
import type { Logger } from '../../runtime/logger';
import { JOB_EVENTS_CHANNEL } from '../store/postgres-print-store';
import { PostgresSession } from './postgres-session';

/** `lastEventId`: the newest id of the log; null when notices may have been missed. */
export type NoticeListener = (lastEventId: number | null) => void;

export class PostgresEventLogNotices {
  private readonly listeners: NoticeListener[] = [];
  private readonly session: PostgresSession;
  private connections = 0;

  constructor(databaseUrl: string, instanceId: string, log: Logger) {
    this.session = new PostgresSession(databaseUrl, log.child({ module: 'event-log-notices', instance: instanceId }), {
      setUp: (client) => this.listen(client),
      onLost: () => undefined,
      lostMessage:
        "lost the connection that hears other instances' job changes (read again once it is back); reconnecting",
    });
  }

  start(): Promise<void> {
    return this.session.start();
  }

  stop(): Promise<void> {
    return this.session.stop();
  }

  onNotice(listener: NoticeListener): void {
    this.listeners.push(listener);
  }

  private async listen(client: pg.Client): Promise<void> {
    client.on('notification', (message) => {
      if (message.channel !== JOB_EVENTS_CHANNEL) return;
      const id = Number(message.payload);
      if (Number.isSafeInteger(id) && id > 0) this.tell(id);
    });
    await client.query(`LISTEN ${JOB_EVENTS_CHANNEL}`);
    if (this.connections++ > 0) this.tell(null); // back after a loss: what was said meanwhile was not heard
  }

  private tell(lastEventId: number | null): void {
    for (const listener of this.listeners) listener(lastEventId);
  }
}
