/**
 * The server's own disk (issue 25): a write the database refuses for want of space (SQLITE_FULL, ENOSPC,
 * PostgreSQL's disk_full) or because the disk is read-only starts an episode: `POST /print` answers 503
 * with Retry-After (http/errors.ts), `/readyz` fails so that a load balancer sends callers elsewhere, and it
 * is logged once. It ends with the next write that succeeds, or (SQLite) when a probe write in DATA_DIR goes
 * through again, so it recovers with no request at all.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../runtime/logger';

/** What a refused write means: the disk is full, or cannot be written at all; null for any other error. */
export function storageFault(err: unknown): 'disk-full' | 'read-only' | null {
  for (let e = err as Record<string, unknown> | undefined, depth = 0; e && depth < 5; depth++) {
    const code = typeof e.code === 'string' ? e.code : '';
    const message = typeof e.message === 'string' ? e.message : '';
    if (/^(SQLITE_FULL|ENOSPC|EDQUOT|53100)$/.test(code) || /SQLITE_FULL|database or disk is full|ENOSPC/.test(message))
      return 'disk-full';
    if (/^(SQLITE_READONLY|EROFS)$/.test(code) || /SQLITE_READONLY|EROFS/.test(message)) return 'read-only';
    e = (e.parent ?? e.original ?? e.cause) as Record<string, unknown> | undefined;
  }
  return null;
}

const PROBE_FILE = '.write-probe';
/** The probe writes this much: room for a few commits, not just one byte. */
const PROBE_BYTES = 64 * 1024;

export class StorageHealth {
  readonly name = 'storage health';
  private readonly log: Logger;
  private episode: { fault: 'disk-full' | 'read-only'; since: string; refused: number; lastAt: number } | null = null;
  private probeTimer: NodeJS.Timeout | null = null;
  private probing = false;

  constructor(
    log: Logger,
    private readonly options: {
      /** SQLite's folder: probed while writes fail. Null (PostgreSQL): the next write that succeeds ends it. */
      dataDir: string | null;
      probeMs?: number;
      /** What Retry-After says. */
      retryAfterS?: number;
    },
  ) {
    this.log = log.child({ module: 'storage' });
  }

  get retryAfterS(): number {
    return this.options.retryAfterS ?? 30;
  }

  /** Called with a write's error: true when it is the disk's (the caller answers 503). */
  failed(err: unknown): boolean {
    const fault = storageFault(err);
    if (!fault) return false;
    if (this.episode) {
      this.episode.refused++;
      this.episode.lastAt = Date.now();
      return true;
    }
    this.episode = { fault, since: new Date().toISOString(), refused: 1, lastAt: Date.now() };
    this.log.error(
      { err, fault, dataDir: this.options.dataDir ?? undefined },
      'the server cannot store jobs (its disk is full or read-only): POST /print answers 503 and /readyz fails until it can',
    );
    if (this.options.dataDir) {
      this.probeTimer = setInterval(() => void this.probe(), this.options.probeMs ?? 2000);
      this.probeTimer.unref();
    }
    return true;
  }

  /** A write went through: the episode, if any, is over. */
  succeeded(): void {
    if (!this.episode) return;
    const { since, refused, fault } = this.episode;
    this.episode = null;
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
    this.log.info({ since, refused, fault }, 'the server can store jobs again');
  }

  /**
   * For /readyz: why writes fail, or null. Without a folder to probe (PostgreSQL), only for Retry-After after
   * the last refusal: a load balancer then sends traffic again, and the next write says whether space is back.
   */
  problem(): string | null {
    if (!this.episode) return null;
    if (!this.options.dataDir && Date.now() - this.episode.lastAt > this.retryAfterS * 1000) return null;
    return this.episode.fault === 'disk-full'
      ? `cannot store jobs: the disk is full (since ${this.episode.since})`
      : `cannot store jobs: the disk is read-only (since ${this.episode.since})`;
  }

  /** Writes and removes a small file in the database's folder; if it goes through, so would the database. */
  private async probe(): Promise<void> {
    if (this.probing || !this.options.dataDir) return;
    this.probing = true;
    const file = path.join(this.options.dataDir, PROBE_FILE);
    try {
      const handle = await fsp.open(file, 'w', 0o600);
      try {
        await handle.writeFile(Buffer.alloc(PROBE_BYTES));
        await handle.datasync();
      } finally {
        await handle.close();
      }
      this.succeeded();
    } catch {
      // Still full.
    } finally {
      await fsp.rm(file, { force: true }).catch(() => undefined);
      this.probing = false;
    }
  }

  stop(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = null;
  }
}
