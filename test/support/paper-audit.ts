/** What reached the paper, held against what the server says of each job: on paper once, or honestly not. */
import fs from 'node:fs';
import { decodeEscPos } from '../../agent/printers/escpos-decoder';
import type { PrintJob } from '../../broker-server/jobs/job-service';
import { getJson, waitFor } from './harness';

export interface AuditOptions {
  /**
   * Each job's content is unique; this is how the paper's receipts are matched to jobs. Jobs are told apart
   * by uid, so jobs of several databases (the same numbers again) can be audited against one paper.
   */
  jobs: PrintJob[];
  paper: Buffer;
  /** Ids the API answered 201 for: each must be in `jobs`. */
  accepted: number[];
}

export interface AuditResult {
  printed: PrintJob[];
  failed: PrintJob[];
  interrupted: PrintJob[];
  /** Receipt contents on paper in paper order (complete receipts only). */
  paperOrder: string[];
  /** Interrupted jobs with a partial receipt on paper. */
  partial: number;
  problems: string[];
}

/**
 * Every job ends `printed` with exactly one complete receipt on paper and no partial one, or
 * `interrupted` with at most one receipt (whole or partial), or `failed` with a reason and nothing
 * on paper. No receipt on paper belongs to no job; no accepted job is missing.
 */
export function auditPaper(options: AuditOptions): AuditResult {
  const problems: string[] = [];
  const byContent = new Map(options.jobs.map((j) => [j.content, j]));
  const ids = new Set(options.jobs.map((j) => j.id));
  for (const id of options.accepted) if (!ids.has(id)) problems.push(`accepted job ${id} is missing from the API`);
  const decoded = decodeEscPos(options.paper);
  if (decoded.unexpected.length)
    problems.push(`unexpected control bytes on paper: ${decoded.unexpected.slice(0, 5).join(', ')}`);
  const complete = new Map<string, number>();
  const partial = new Map<string, number>();
  const paperOrder: string[] = [];
  for (const receipt of decoded.receipts) {
    const content = receipt.lines[3];
    const job = content === undefined ? undefined : byContent.get(content);
    if (receipt.cut) {
      paperOrder.push(content ?? '');
      if (!job) {
        problems.push(`a complete receipt on paper matches no job: ${JSON.stringify(receipt.text.slice(0, 80))}`);
        continue;
      }
      complete.set(job.uid, (complete.get(job.uid) ?? 0) + 1);
    } else if (job) {
      partial.set(job.uid, (partial.get(job.uid) ?? 0) + 1);
    } else {
      // A receipt cut short before its content line: it can only be an interrupted job's.
      partial.set('', (partial.get('') ?? 0) + 1);
    }
  }
  const result: AuditResult = { printed: [], failed: [], interrupted: [], paperOrder, partial: 0, problems };
  for (const job of options.jobs) {
    const whole = complete.get(job.uid) ?? 0;
    const part = partial.get(job.uid) ?? 0;
    switch (job.status) {
      case 'printed':
        result.printed.push(job);
        if (whole !== 1 || part !== 0)
          problems.push(`job ${job.id} is printed but is on paper ${whole} time(s) whole and ${part} time(s) partly`);
        break;
      case 'interrupted':
        result.interrupted.push(job);
        if (whole + part > 1) problems.push(`job ${job.id} is interrupted but is on paper ${whole + part} times`);
        if (!job.error) problems.push(`job ${job.id} is interrupted without a reason`);
        result.partial += part;
        break;
      case 'failed':
        result.failed.push(job);
        if (whole + part > 0) problems.push(`job ${job.id} is failed but is on paper`);
        if (!job.error) problems.push(`job ${job.id} is failed without a reason`);
        break;
      default:
        problems.push(`job ${job.id} is still ${job.status}`);
    }
  }
  const anonymousPartial = partial.get('') ?? 0;
  result.partial += anonymousPartial;
  if (result.partial > result.interrupted.length)
    problems.push(`${result.partial} partial receipts for ${result.interrupted.length} interrupted jobs`);
  return result;
}

/** Every job the server holds (the API caps a page at 500, more than any scenario posts). */
export async function allJobs(baseUrl: string): Promise<PrintJob[]> {
  const { json } = await getJson<PrintJob[]>(baseUrl, '/jobs?limit=500');
  return [...json].sort((a, b) => a.id - b.id);
}

/** Waits until every job is printed, failed or interrupted. */
export async function allFinal(baseUrl: string, timeoutMs = 120_000): Promise<PrintJob[]> {
  let last: PrintJob[] = [];
  try {
    return await waitFor(
      'every job final',
      async () => {
        last = await allJobs(baseUrl);
        return last.length > 0 && last.every((j) => ['printed', 'failed', 'interrupted'].includes(j.status))
          ? last
          : null;
      },
      timeoutMs,
      250,
    );
  } catch (err) {
    const open = last.filter((j) => !['printed', 'failed', 'interrupted'].includes(j.status));
    throw new Error(
      `${(err as Error).message}; not final: ${open
        .slice(0, 10)
        .map((j) => `${j.id}:${j.status}`)
        .join(' ')}`,
      { cause: err },
    );
  }
}

export function readPaper(file: string): Buffer {
  return fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
}
