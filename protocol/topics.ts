/** Every MQTT topic string of Printhop is built and parsed here, and nowhere else. */

export const PRINTER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isPrinterId(value: unknown): value is string {
  return typeof value === 'string' && PRINTER_ID_PATTERN.test(value);
}

export type TopicKind = 'jobs' | 'acks' | 'status';

function build(printerId: string, kind: TopicKind): string {
  if (!isPrinterId(printerId)) throw new Error(`invalid printer id: ${JSON.stringify(printerId)}`);
  return `printers/${printerId}/${kind}`;
}

export const topics = {
  jobs: (printerId: string) => build(printerId, 'jobs'),
  acks: (printerId: string) => build(printerId, 'acks'),
  status: (printerId: string) => build(printerId, 'status'),
  /** Wildcard subscriptions used by the server (and, for jobs, in a broker's access rules). */
  allJobs: 'printers/+/jobs',
  allAcks: 'printers/+/acks',
  allStatus: 'printers/+/status',
  all: 'printers/#',
} as const;

/** Splits `printers/<id>/<kind>`; returns null for anything else. */
export function parseTopic(topic: string): { printerId: string; kind: TopicKind } | null {
  const parts = topic.split('/');
  if (parts.length !== 3 || parts[0] !== 'printers') return null;
  const [, printerId, kind] = parts;
  if (!isPrinterId(printerId)) return null;
  if (kind !== 'jobs' && kind !== 'acks' && kind !== 'status') return null;
  return { printerId, kind };
}
