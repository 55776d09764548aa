/**
 * Real-time status (DLE EOT n) of Epson-compatible printers: the three questions the agent asks and
 * how their answers read. Printers answer these even while offline, out of paper or with the cover open.
 */
import type { PrinterCondition } from '../../protocol/messages';

/** DLE EOT 1 (printer), 2 (offline cause), 4 (roll paper sensor). */
export const STATUS_QUERIES = [1, 2, 4] as const;
export type StatusQuery = (typeof STATUS_QUERIES)[number];
export const statusRequest = (n: StatusQuery) => Buffer.from([0x10, 0x04, n]);

/** No answer within this time means the printer cannot tell (`unknown`), not that it failed. */
export const STATUS_ANSWER_TIMEOUT_MS = 500;

export interface StatusReport {
  condition: PrinterCondition;
  /** Plain words for a person: what is wrong and what to do. */
  detail: string;
}

/** Bits 0 and 7 are always 0, bits 1 and 4 always 1, in every answer. */
export const isStatusByte = (b: number | undefined): b is number => b !== undefined && (b & 0x93) === 0x12;

export function readStatus(answers: Partial<Record<StatusQuery, number>>): StatusReport {
  const printer = answers[1];
  const cause = answers[2];
  const paper = answers[4];
  if (![printer, cause, paper].some(isStatusByte)) return UNKNOWN;
  if (isStatusByte(cause) && cause & 0x04) return { condition: 'cover-open', detail: 'the cover is open: close it' };
  if ((isStatusByte(paper) && paper & 0x60) || (isStatusByte(cause) && cause & 0x20)) {
    return { condition: 'paper-out', detail: 'out of paper: load a new roll (jobs wait until then)' };
  }
  if ((isStatusByte(printer) && printer & 0x08) || (isStatusByte(cause) && cause & 0x40)) {
    return {
      condition: 'offline',
      detail: 'the printer reports itself offline or in error: check its lights, switch it off and on',
    };
  }
  if (isStatusByte(paper) && paper & 0x0c)
    return { condition: 'paper-low', detail: 'paper is running low: have a new roll ready' };
  return { condition: 'ok', detail: 'ready' };
}

/**
 * Asks DLE EOT 1, 2 and 4 in turn, however the transport reaches the printer: `ask` sends one request and
 * resolves with the last byte of its answer, or undefined when none came within STATUS_ANSWER_TIMEOUT_MS.
 * Silence on the first question is `unknown`; on a later one, the earlier answers tell. `ask` throwing
 * means the printer cannot answer at all: `unknown`.
 */
export async function askStatus(ask: (n: StatusQuery) => Promise<number | undefined>): Promise<StatusReport> {
  const answers: Partial<Record<StatusQuery, number>> = {};
  for (const n of STATUS_QUERIES) {
    let answer: number | undefined;
    try {
      answer = await ask(n);
    } catch {
      return UNKNOWN;
    }
    if (answer === undefined) return answers[1] === undefined ? UNKNOWN : readStatus(answers);
    answers[n] = answer;
  }
  return readStatus(answers);
}

export const UNKNOWN: StatusReport = {
  condition: 'unknown',
  detail: `the printer did not answer a status request within ${STATUS_ANSWER_TIMEOUT_MS} ms`,
};

/** Conditions in which a job waits instead of being sent: it would not reach the paper. */
export const WAITING_CONDITIONS: ReadonlySet<PrinterCondition> = new Set(['paper-out', 'cover-open', 'offline']);

/** The answers a printer in `condition` gives (used by the virtual printer). */
export function statusAnswers(condition: PrinterCondition): Record<StatusQuery, number> {
  const answers = { 1: 0x16, 2: 0x12, 4: 0x12 };
  if (condition === 'paper-out' || condition === 'cover-open' || condition === 'offline') answers[1] |= 0x08;
  if (condition === 'cover-open') answers[2] |= 0x04;
  if (condition === 'paper-out') {
    answers[2] |= 0x20;
    answers[4] |= 0x6c;
  }
  if (condition === 'offline') answers[2] |= 0x40;
  if (condition === 'paper-low') answers[4] |= 0x0c;
  return answers;
}
