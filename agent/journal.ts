/**
 * The agent's durable memory of every job it has seen, so that a job is printed at most once. Jobs are
 * known by their uid (issue 24), never by their number alone: a replaced or restored database numbers
 * new jobs 1, 2, … again, and a job known by its number would be taken for one already printed.
 * An append-only file of JSON lines, each written and fsync'd before the step it records is taken (the
 * lines of one turn of the event loop in one write and one fdatasync).
 * At start-up the file is replayed, then compacted (finished, confirmed, old entries dropped), and
 * compacted again every hour (or every retention period, if shorter) while the agent runs.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../runtime/logger';
import { ensurePrivateDir, PRIVATE_FILE_MODE, tightenExisting } from '../runtime/file-modes';
import type { AckStatus, JobMessage } from '../protocol/messages';

export type JournalState = 'received' | 'printing' | 'printed' | 'failed' | 'interrupted';
export const FINAL_JOURNAL_STATES: ReadonlySet<JournalState> = new Set(['printed', 'failed', 'interrupted']);

/**
 * The key of a line written before job uids (issue 24), which knows its job by number only. Such an entry
 * never answers a job by itself: the print agent adopts it for a job the server sends again with a uid
 * (print-agent.ts), and it goes with the others once final and confirmed for the retention period.
 */
export const legacyKey = (id: number): string => `#${id}`;
export const isLegacyKey = (key: string): boolean => key.startsWith('#');

export interface JournalEntry {
  /** The job's uid, or legacyKey(id) for an entry from before job uids. */
  key: string;
  /** The job's number, for the logs and the acks. */
  id: number;
  state: JournalState;
  /** When the state was reached (ISO). */
  at: string;
  /** Kept until the job is final, so that a job received before a crash can still be printed. */
  job?: JobMessage;
  error?: string;
  /** The last ack status the broker confirmed (PUBACK) for this job. */
  acked?: AckStatus;
}

/** What the print agent needs of its journal: the real one is `Journal` (a file), tests use one in memory. */
export interface JobJournal {
  /** Finished jobs are forgotten this long after their final ack was confirmed. */
  readonly retentionMs: number;
  get(key: string): JournalEntry | undefined;
  /** Every entry, by job number. */
  all(): JournalEntry[];
  /** How many entries it holds. */
  readonly size: number;
  /** Records a new state durably; resolves once it is stored. */
  record(
    key: string,
    id: number,
    state: JournalState,
    extra?: { job?: JobMessage; error?: string },
  ): Promise<JournalEntry>;
  /** Notes that the broker confirmed this ack; may be lost in a crash (one more, harmless, duplicate ack). */
  confirmAck(key: string, status: AckStatus): void;
}

/** The entry a new state makes of the previous one: the job is kept until final, the confirmed ack carried over. */
export function nextEntry(
  previous: JournalEntry | undefined,
  key: string,
  id: number,
  state: JournalState,
  at: string,
  extra: { job?: JobMessage; error?: string } = {},
): JournalEntry {
  const entry: JournalEntry = { key, id, state, at, acked: previous?.acked };
  if (!FINAL_JOURNAL_STATES.has(state)) entry.job = extra.job ?? previous?.job;
  if (extra.error) entry.error = extra.error;
  return entry;
}

/** A line of the file; `uid` is absent from lines written before job uids. */
type Record_ =
  | { uid?: string; id: number; state: JournalState; at: string; job?: JobMessage; error?: string }
  | { uid?: string; id: number; acked: AckStatus };

/** A line's `uid` and `id` for an entry's key. */
const keyFields = (key: string, id: number): { uid?: string; id: number } =>
  isLegacyKey(key) ? { id } : { uid: key, id };

/**
 * A state's line, as JSON.stringify would write `{ uid, id, state, at, job?, error? }`, without building that
 * object and walking it: a fifth of the CPU the journal spent per job (issue 22). `at` is an ISO date and `state`
 * one of five words, which JSON writes as they are; the uid, the job and the error go through JSON.stringify.
 */
export function stateLine(
  key: string,
  id: number,
  state: JournalState,
  at: string,
  extra: { job?: JobMessage; error?: string } = {},
): string {
  return (
    `${keyPart(key, id)},"state":"${state}","at":"${at}"` +
    (extra.job ? `,"job":${JSON.stringify(extra.job)}` : '') +
    (extra.error ? `,"error":${JSON.stringify(extra.error)}` : '') +
    '}\n'
  );
}

/** An ack confirmation's line, as JSON.stringify would write `{ uid, id, acked }`. */
export const ackLine = (key: string, id: number, status: AckStatus): string =>
  `${keyPart(key, id)},"acked":"${status}"}\n`;

/** The opening of a line: `{"uid":…,"id":…` (`{"id":…` for an entry from before job uids). */
const keyPart = (key: string, id: number): string =>
  isLegacyKey(key) ? `{"id":${JSON.stringify(id)}` : `{"uid":${JSON.stringify(key)},"id":${JSON.stringify(id)}`;

/** Entries in job-number order (then by key: numbers repeat across databases). */
export const byJobNumber = (a: JournalEntry, b: JournalEntry): number =>
  a.id - b.id || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

export const JOURNAL_FILE = 'journal.jsonl';
/** Ack confirmations wait at most this long for a write to ride along with. */
const LAZY_FLUSH_MS = 1000;
/**
 * The file is kept this far ahead of its last line in zeros, written once: a line then overwrites bytes the file
 * already has, and its `fdatasync` has no file size to commit (no ext4 journal commit of the inode), which made a
 * sync about a third cheaper here (0.27–0.35 → 0.19–0.21 ms of wall time and 68–78 → 38–42 µs of system CPU,
 * 2,000 syncs of a 100-byte line; issue 22). The zeros are cut off by a clean stop; after a crash, replay reads up
 * to the first zero byte (JSON lines never hold one) and start-up cuts the rest.
 */
export const JOURNAL_PREALLOCATE_BYTES = 256 * 1024;
const ZEROS = Buffer.alloc(JOURNAL_PREALLOCATE_BYTES);
const COMPACT_EVERY_MAX_MS = 60 * 60 * 1000;

export class Journal implements JobJournal {
  readonly name = 'journal';
  private readonly entries = new Map<string, JournalEntry>();
  /** The file, open for appending; written synchronously (see flush). */
  private fd: number | null = null;
  /** Lines waiting for the next write; `waiting` holds the promises of those that must be durable. */
  private pending: string[] = [];
  private waiting: Array<{ resolve: () => void; reject: (err: unknown) => void }> = [];
  /** A flush is due at the end of this turn of the event loop. */
  private scheduled = false;
  private lazyTimer: NodeJS.Timeout | null = null;
  private compactTimer: NodeJS.Timeout | null = null;
  /** While the file is being rewritten, writes wait for it. */
  private compacting: Promise<void> | null = null;
  /** Bytes of the file known to end with a whole line: the next line is written there; a failed write is cut back to it. */
  private goodLength = 0;
  /** The file's size: from goodLength on, zeros written ahead (JOURNAL_PREALLOCATE_BYTES). */
  private fileLength = 0;
  /** A failed write could not be cut back: the next write starts on a new line, so a torn one stays alone. */
  private torn = false;
  readonly path: string;

  constructor(
    dataDir: string,
    readonly retentionMs: number,
    private readonly log: Logger,
  ) {
    this.path = path.join(dataDir, JOURNAL_FILE);
  }

  async start(): Promise<void> {
    // The journal holds message text: its folder 0700, the file 0600 (loosened ones are tightened, with a warning).
    if (ensurePrivateDir(path.dirname(this.path)))
      this.log.warn(
        { dir: path.dirname(this.path) },
        'the journal folder was open to other users; its mode is now 0700',
      );
    if (tightenExisting([this.path]).length)
      this.log.warn({ file: this.path }, 'the journal was readable by other users; its mode is now 0600');
    await this.replay();
    // A full disk at start-up: the journal stays as it is (every line valid), and the agent starts all the same.
    await this.compact().catch((err: unknown) =>
      this.log.warn({ err, file: this.path }, 'journal not compacted at start-up; kept as it is'),
    );
    this.open();
    // An agent that runs for months must not grow its journal for months.
    const every = Math.max(1000, Math.min(this.retentionMs, COMPACT_EVERY_MAX_MS));
    this.compactTimer = setInterval(() => {
      this.compactNow().catch((err: unknown) => this.log.error({ err }, 'journal compaction failed'));
    }, every);
    this.compactTimer.unref();
  }

  /** Drops what compact() drops, while running: writes wait, the file is rewritten, then reopened. */
  async compactNow(): Promise<void> {
    while (this.compacting) await this.compacting;
    // What was recorded before goes first, into the file that is about to be rewritten.
    this.flush();
    this.compacting = (async () => {
      if (this.fd === null) return;
      fs.closeSync(this.fd);
      this.fd = null;
      try {
        await this.compact();
      } finally {
        this.open();
      }
    })().finally(() => {
      this.compacting = null;
    });
    await this.compacting;
    if (this.pending.length) this.flush();
  }

  /**
   * Opens the file for writing at goodLength (not in append mode: lines overwrite the zeros written ahead), and cuts
   * off what lies beyond it: zeros, or what a crash left of writes that were never synced.
   */
  private open(): void {
    this.fd = fs.openSync(this.path, fs.constants.O_WRONLY | fs.constants.O_CREAT, PRIVATE_FILE_MODE);
    this.fileLength = fs.fstatSync(this.fd).size;
    if (this.fileLength > this.goodLength) this.cutToGoodLength();
    else this.goodLength = this.fileLength;
  }

  /** The file back to its last whole line (no zeros ahead). Throws when it cannot. */
  private cutToGoodLength(): void {
    if (this.fd !== null) fs.ftruncateSync(this.fd, this.goodLength);
    this.fileLength = this.goodLength;
  }

  async stop(): Promise<void> {
    if (this.compactTimer) clearInterval(this.compactTimer);
    this.compactTimer = null;
    await this.compacting;
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    this.lazyTimer = null;
    this.flush();
    if (this.fd !== null) {
      // A clean stop leaves the file as plain JSON lines (a crash leaves the zeros, which start-up cuts).
      try {
        this.cutToGoodLength();
      } catch (err) {
        this.log.warn({ err, file: this.path }, 'the zeros ahead of the journal could not be cut off; read as its end');
      }
      fs.closeSync(this.fd);
    }
    this.fd = null;
  }

  get(key: string): JournalEntry | undefined {
    return this.entries.get(key);
  }

  all(): JournalEntry[] {
    return [...this.entries.values()].sort(byJobNumber);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Records a new state durably; resolves once it is on disk. */
  async record(
    key: string,
    id: number,
    state: JournalState,
    extra: { job?: JobMessage; error?: string } = {},
  ): Promise<JournalEntry> {
    const at = new Date().toISOString();
    const previous = this.entries.get(key);
    const entry = nextEntry(previous, key, id, state, at, extra);
    this.entries.set(key, entry);
    try {
      await this.append(stateLine(key, id, state, at, extra));
    } catch (err) {
      // Not on disk, so not known: a job whose `received` failed is taken again, not taken for seen.
      if (this.entries.get(key) === entry) {
        if (previous) this.entries.set(key, previous);
        else this.entries.delete(key);
      }
      throw err;
    }
    return entry;
  }

  /**
   * Records that the broker confirmed an ack, so it is not sent again after a restart. Not waited for
   * on disk: losing it in a crash only means one more, harmless, duplicate ack. The line rides with the
   * next durable write; with none within LAZY_FLUSH_MS, it is written alone, without a sync.
   */
  confirmAck(key: string, status: AckStatus): void {
    const entry = this.entries.get(key);
    if (!entry || entry.acked === status) return;
    entry.acked = status;
    this.pending.push(ackLine(key, entry.id, status));
    this.lazyTimer ??= setTimeout(() => {
      this.lazyTimer = null;
      this.flush();
    }, LAZY_FLUSH_MS);
  }

  /**
   * Group commit: every line recorded in one turn of the event loop goes in one write, under one
   * fdatasync, at the end of that turn. A line's promise resolves only once it is on disk.
   */
  private append(line: string): Promise<void> {
    this.pending.push(line);
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  /**
   * Writes what is pending, synchronously: one write(2) and, when a line must be durable, one
   * fdatasync(2), on this thread. Through libuv's thread pool each of them cost a hand-off there and
   * back and a wake-up of the event loop, more CPU than the system call itself; the agent has nothing
   * else to do meanwhile (what arrives waits in the socket, and goes to disk together in the next write).
   * Never throws: the waiting lines' promises reject instead.
   */
  private flush(): void {
    if (this.compacting) {
      void this.compacting.then(() => this.flush());
      return;
    }
    if (!this.pending.length) return;
    const lines = this.pending.splice(0);
    const waiting = this.waiting.splice(0);
    try {
      const fd = this.fd;
      if (fd === null) throw new Error('journal is not open');
      const bytes = Buffer.from((this.torn ? '\n' : '') + lines.join(''));
      this.write(fd, bytes);
      if (waiting.length) fs.fdatasyncSync(fd);
      this.goodLength += bytes.length;
      this.torn = false;
      for (const w of waiting) w.resolve();
    } catch (err) {
      this.cutBack();
      for (const w of waiting) w.reject(err);
    }
  }

  /**
   * Writes the lines at goodLength: over the zeros written ahead, or, past them, together with the next
   * JOURNAL_PREALLOCATE_BYTES of zeros in the same write. A disk too full for the zeros takes the lines alone.
   * A full disk can take part of a write: the rest is written (and fails) or the part is cut off (cutBack).
   */
  private write(fd: number, bytes: Buffer): void {
    const end = this.goodLength + bytes.length;
    if (end > this.fileLength) {
      try {
        writeAll(fd, Buffer.concat([bytes, ZEROS]), this.goodLength);
        this.fileLength = end + ZEROS.length;
        return;
      } catch {
        this.cutToGoodLength();
      }
    }
    writeAll(fd, bytes, this.goodLength);
    this.fileLength = Math.max(this.fileLength, end);
  }

  /** After a failed write: the file back to its last whole line, so that no torn line joins the next one. */
  private cutBack(): void {
    try {
      this.cutToGoodLength();
      this.torn = false;
    } catch (err) {
      this.torn = true;
      this.log.warn(
        { err, file: this.path },
        'a failed journal write could not be cut back; the next one starts a new line',
      );
    }
  }

  private async replay(): Promise<void> {
    let file: Buffer;
    try {
      file = await fsp.readFile(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    // The lines end at the first zero byte (the zeros written ahead); the file is cut after the last whole line.
    const zero = file.indexOf(0);
    const text = file.toString('utf8', 0, zero === -1 ? file.length : zero);
    this.goodLength = Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1));
    let bad = 0;
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      let record: Record_;
      try {
        record = JSON.parse(line) as Record_;
      } catch {
        bad++; // a line torn by a crash mid-write: the step it would record was never taken
        continue;
      }
      if (typeof record.id !== 'number') continue;
      const key = typeof record.uid === 'string' ? record.uid : legacyKey(record.id);
      if ('acked' in record) {
        const entry = this.entries.get(key);
        if (entry) entry.acked = record.acked;
        continue;
      }
      this.entries.set(key, nextEntry(this.entries.get(key), key, record.id, record.state, record.at, record));
    }
    if (bad) this.log.warn({ lines: bad, file: this.path }, 'journal had unreadable lines (torn by a crash); skipped');
  }

  /**
   * Rewrites the file with one line per entry, dropping finished jobs whose final ack the broker
   * confirmed more than the retention period ago: the server never re-sends a job it holds as final.
   */
  private async compact(): Promise<void> {
    const cutoff = Date.now() - this.retentionMs;
    let dropped = 0;
    for (const [key, entry] of this.entries) {
      // An entry from before job uids is never acked (it has no uid): past the retention period it goes
      // whatever its state, as the server no longer sends a job that old for printing (print-agent.ts).
      const done = FINAL_JOURNAL_STATES.has(entry.state) && entry.acked === entry.state;
      if ((done || isLegacyKey(key)) && Date.parse(entry.at) < cutoff) {
        this.entries.delete(key);
        dropped++;
      }
    }
    const lines = this.all().map((e) => {
      const { acked, key, id, ...rest } = e;
      const fields = keyFields(key, id);
      return JSON.stringify({ ...fields, ...rest }) + '\n' + (acked ? JSON.stringify({ ...fields, acked }) + '\n' : '');
    });
    const tmp = `${this.path}.tmp`;
    const handle = await fsp.open(tmp, 'w', PRIVATE_FILE_MODE);
    try {
      await handle.chmod(PRIVATE_FILE_MODE);
      await handle.writeFile(lines.join(''));
      await handle.datasync();
    } catch (err) {
      // A full disk: the half-written copy goes, so that it holds no space the journal needs.
      await handle.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    } finally {
      await handle.close().catch(() => undefined);
    }
    await fsp.rename(tmp, this.path);
    this.goodLength = Buffer.byteLength(lines.join(''));
    // Windows cannot fsync a directory (EPERM); NTFS journals the rename itself.
    if (process.platform !== 'win32') {
      const dir = fs.openSync(path.dirname(this.path), 'r');
      try {
        fs.fsyncSync(dir);
      } finally {
        fs.closeSync(dir);
      }
    }
    if (dropped) this.log.info({ dropped, kept: this.entries.size }, 'journal compacted');
  }
}

/** One whole buffer at `position`, in as many writes as the system takes. */
function writeAll(fd: number, bytes: Buffer, position: number): void {
  for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
}
