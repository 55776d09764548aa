/**
 * What a webhook endpoint can subscribe to: one event type per job status (`job.created` for a new,
 * `pending` job), the `--events` filter of `npm run webhooks -- add`, and the Standard Webhooks payload
 * (`{"type", "timestamp", "data"}`, the job as the API shows it right after that change).
 */
import type { JobStatus } from '../../protocol/states';
import { uidTag } from '../store/job-rules';
import type { PrintJob } from '../store/print-store';

export const WEBHOOK_EVENT_TYPES = [
  'job.created',
  'job.sent',
  'job.received',
  'job.printed',
  'job.failed',
  'job.interrupted',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** Every event type: what an endpoint added without `--events` receives. */
export const ALL_EVENTS = '*';

export function eventTypeOf(status: JobStatus): WebhookEventType {
  return status === 'pending' ? 'job.created' : `job.${status}`;
}

export type EventFilterResult = { ok: true; value: string } | { ok: false; error: string };

/**
 * The stored filter (`*`, or the types comma separated, in the canonical order) from what a user typed:
 * `job.printed,job.failed`, spaces allowed, `*` alone for all.
 */
export function parseEventFilter(text: string | undefined): EventFilterResult {
  if (text === undefined) return { ok: true, value: ALL_EVENTS };
  const names = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 1 && names[0] === ALL_EVENTS) return { ok: true, value: ALL_EVENTS };
  const valid = `valid event types: ${WEBHOOK_EVENT_TYPES.join(', ')} (or * for all)`;
  if (!names.length) return { ok: false, error: `--events needs at least one event type; ${valid}` };
  const unknown = names.filter((n) => !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(n));
  if (unknown.length)
    return { ok: false, error: `unknown event type${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}; ${valid}` };
  const chosen = new Set(names);
  return { ok: true, value: WEBHOOK_EVENT_TYPES.filter((t) => chosen.has(t)).join(',') };
}

/** Whether an endpoint with this stored filter wants events of this type. */
export function wants(filter: string, type: WebhookEventType): boolean {
  return filter === ALL_EVENTS || filter.split(',').includes(type);
}

export { webhookId } from '../store/webhook-store';

/** The tag of a delivery's payload: `uidTag` of `data.uid` (the only `uid` key of the body). */
export function uidTagOf(payload: string): string | null {
  const uid = /"uid":"([0-9a-f-]{36})"/.exec(payload)?.[1];
  return uid ? uidTag(uid) : null;
}

/** The body POSTed for one change of one job (Standard Webhooks' `type`, `timestamp`, `data`). */
export function webhookPayload(job: PrintJob): { type: WebhookEventType; timestamp: string; data: PrintJob } {
  return { type: eventTypeOf(job.status), timestamp: job.updatedAt, data: job };
}
