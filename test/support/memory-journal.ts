/** The agent's journal in memory, with the real one's entry rules (`nextEntry`); records each step it takes. */
import { byJobNumber, type JobJournal, type JournalEntry, type JournalState, nextEntry } from '../../agent/journal';
import type { AckStatus, JobMessage } from '../../protocol/messages';

export class MemoryJournal implements JobJournal {
  private readonly entries = new Map<string, JournalEntry>();
  /** Lines recorded in the same tick, as the file's group commit puts them under one sync: `id state`. */
  readonly syncs: string[][] = [];
  private batch: string[] | null = null;
  /** While set, every write fails with it, as a full (ENOSPC) or read-only (EROFS) disk makes the file's fail. */
  failWith: NodeJS.ErrnoException | null = null;

  /** `entries`: what a journal file held when the agent stopped. */
  constructor(
    private readonly steps: string[] = [],
    entries: JournalEntry[] = [],
    readonly retentionMs = 30 * 24 * 60 * 60 * 1000,
  ) {
    for (const e of entries) this.entries.set(e.key, { ...e });
  }

  get(key: string): JournalEntry | undefined {
    return this.entries.get(key);
  }

  /** The entry of job number `id` (tests: one database, so numbers are unique). */
  byId(id: number): JournalEntry | undefined {
    return [...this.entries.values()].find((e) => e.id === id);
  }

  get size(): number {
    return this.entries.size;
  }

  all(): JournalEntry[] {
    return [...this.entries.values()].sort(byJobNumber);
  }

  async record(
    key: string,
    id: number,
    state: JournalState,
    extra: { job?: JobMessage; error?: string } = {},
  ): Promise<JournalEntry> {
    const previous = this.entries.get(key);
    const entry = nextEntry(previous, key, id, state, new Date().toISOString(), extra);
    this.entries.set(key, entry); // known at once, durable once the write resolves: as with the file
    if (this.failWith) {
      const err = this.failWith;
      await Promise.resolve();
      // As the file does: a write that failed leaves the entry as it was.
      if (previous) this.entries.set(key, previous);
      else this.entries.delete(key);
      this.steps.push(`journal ${id} ${state} failed`);
      throw err;
    }
    if (!this.batch) {
      const batch: string[] = [];
      this.batch = batch;
      this.syncs.push(batch);
      queueMicrotask(() => (this.batch = null));
    }
    this.batch.push(`${id} ${state}`);
    await Promise.resolve();
    this.steps.push(`journal ${id} ${state}`);
    return entry;
  }

  confirmAck(key: string, status: AckStatus): void {
    const entry = this.entries.get(key);
    if (entry) entry.acked = status;
  }
}
