/**
 * The agents' acks, read on the server's hot path (two or more per job) without zod: a hand-written check
 * of protocol/messages.ts's `ackMessageSchema`, which stays the definition. A payload the check refuses
 * goes through zod after all, so that what is refused, and the words that say why, are the schema's
 * (test/broker-server/ack-validation.unit.test.ts holds both to the same answers on generated inputs).
 */
import {
  ACK_STATUSES,
  type AckMessage,
  type AckStatus,
  ackMessageSchema,
  MAX_PAYLOAD_BYTES,
  type ParseResult,
} from '../../protocol/messages';
import { parseTopic } from '../../protocol/topics';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STATUSES: ReadonlySet<string> = new Set(ACK_STATUSES);
const MAX_ERROR_LENGTH = 1000;
const MAX_PRINTER_JOB_LENGTH = 128;

/** Characters as zod's `max` counts them: UTF-16 units, or code points (a surrogate pair as one) when over `max`. */
function tooLong(text: string, max: number): boolean {
  if (text.length <= max) return false;
  let count = text.length;
  for (let i = 0; i < text.length - 1; i++)
    if ((text.charCodeAt(i) & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      count--;
      i++;
    }
  return count > max;
}

/** The ack `value` is, as the schema returns it (its own keys only), or null where the schema would refuse it. */
export function checkAck(value: unknown): AckMessage | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const o = value as Record<string, unknown>;
  const { id, uid, status, at, error, printerJob } = o;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) return null;
  if (uid !== undefined && (typeof uid !== 'string' || !UUID.test(uid))) return null;
  if (typeof status !== 'string' || !STATUSES.has(status)) return null;
  if (typeof at !== 'string' || Number.isNaN(Date.parse(at))) return null;
  if (error !== undefined && (typeof error !== 'string' || tooLong(error, MAX_ERROR_LENGTH))) return null;
  if (printerJob !== undefined && (typeof printerJob !== 'string' || tooLong(printerJob, MAX_PRINTER_JOB_LENGTH)))
    return null;
  const ack: AckMessage = { id, status: status as AckStatus, at };
  if (uid !== undefined) ack.uid = uid;
  if (error !== undefined) ack.error = error;
  if (printerJob !== undefined) ack.printerJob = printerJob;
  return ack;
}

/** As protocol/messages.ts's parseAckMessage, and the same answers; zod only for a payload it refuses. */
export function parseAck(payload: Buffer | string): ParseResult<AckMessage> {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > MAX_PAYLOAD_BYTES) return { ok: false, error: `payload of ${size} bytes is over ${MAX_PAYLOAD_BYTES}` };
  let json: unknown;
  try {
    json = JSON.parse(payload.toString());
  } catch {
    return { ok: false, error: 'payload is not JSON' };
  }
  const ack = checkAck(json);
  if (ack) return { ok: true, value: ack };
  const result = ackMessageSchema.safeParse(json);
  if (result.success) return { ok: true, value: result.data }; // not expected: the tests keep both in step
  const issue = result.error.issues[0];
  const where = issue && issue.path.length ? issue.path.join('.') + ': ' : '';
  return { ok: false, error: `invalid payload: ${where}${issue?.message ?? 'unknown error'}` };
}

/** Topics seen, kept to a bound: a topic is parsed once, not once per ack. */
const ackTopics = new Map<string, string | null>();
const ACK_TOPICS_KEPT = 4096;

/** The printer of a `printers/<id>/acks` topic, or null. */
export function printerOfAckTopic(topic: string): string | null {
  let printerId = ackTopics.get(topic);
  if (printerId === undefined) {
    const parsed = parseTopic(topic);
    printerId = parsed?.kind === 'acks' ? parsed.printerId : null;
    if (ackTopics.size >= ACK_TOPICS_KEPT) ackTopics.clear();
    ackTopics.set(topic, printerId);
  }
  return printerId;
}
