/**
 * What the HTTP API answers, as zod schemas: GET /openapi.json describes the responses with them, and the
 * tests check every answer they get against that description (test/support/harness.ts).
 */
import { z } from 'zod';
import { JOB_KINDS } from '../../../protocol/messages';
import { JOB_STATUSES } from '../../../protocol/states';
import { PRINTER_ID_PATTERN } from '../../../protocol/topics';

const time = z.iso.datetime({ offset: true }).meta({ description: 'ISO 8601 time (UTC)' });
const printerId = z.string().regex(PRINTER_ID_PATTERN);
const jobId = z.number().int().positive();

export const Job = z
  .object({
    id: jobId,
    uid: z.uuid().meta({
      description:
        'The job’s identity across databases: random, never made again, even by a restored or reinstalled server (`id` may be)',
    }),
    printerId,
    content: z.string(),
    kind: z
      .enum(JOB_KINDS)
      .meta({ description: '`test`: a test print (the agent prints its test receipt, not `content`)' }),
    status: z.enum(JOB_STATUSES).meta({
      description:
        'pending (stored) → sent (published for its printer) → received (the agent holds it) → printed | failed (nothing on paper) | interrupted (maybe partly on paper; never reprinted automatically)',
    }),
    error: z.string().nullable(),
    reprintOf: jobId.nullable().meta({ description: 'The job this one prints again' }),
    createdBy: z
      .string()
      .nullable()
      .meta({ description: '`page`, `anonymous` or `api-key:NAME`; null for jobs from before' }),
    createdAt: time,
    updatedAt: time,
    sentAt: time.nullable(),
    receivedAt: time.nullable(),
    printedAt: time.nullable(),
    finishedAt: time.nullable(),
  })
  .meta({ id: 'Job' });

export const Printer = z
  .object({
    id: printerId,
    state: z.enum(['online', 'offline', 'unknown']),
    condition: z
      .string()
      .nullable()
      .meta({ description: 'What the agent last said of the printer (`ok`, `paper-out`, ...), while online' }),
    detail: z.string().nullable(),
    columns: z.number().int().nullable().meta({ description: 'Characters per line of its paper' }),
    codepage: z.string().nullable(),
    lastSeenAt: time.nullable(),
    configured: z.boolean().meta({ description: 'In the printer registry' }),
    agent: z
      .looseObject({
        version: z.string().optional(),
        host: z.string().optional().meta({ description: 'The machine the agent runs on' }),
        platform: z.string().optional().meta({ description: '`linux-arm64`, `win32-x64`, …' }),
        uptimeS: z.number().optional(),
        journalSize: z.number().optional(),
        lastJob: z.looseObject({ id: jobId, at: z.string(), ms: z.number() }).optional(),
        reportedAt: z.string().optional(),
      })
      .nullable()
      .meta({ description: 'What the agent said of itself in its last status; null for older agents' }),
    session: z
      .object({
        printerId,
        outcome: z.enum(['refused', 'taken-over']),
        holder: z.object({ host: z.string(), instance: z.string() }),
        other: z.object({ host: z.string(), instance: z.string() }),
        at: time,
        attempts: z.number().int().min(0).meta({
          description:
            '`refused`: how many times `other` was refused; `taken-over`: how many times the replaced agent was refused since',
        }),
      })
      .nullable()
      .meta({
        description:
          'A second agent started with this printer’s id and token: `refused` while `holder` is connected, or `taken-over` (started with --takeover: it replaced `holder`, whose unfinished jobs ended interrupted). The last one since the server started; null if none',
      }),
    health: z.enum(['ok', 'degraded']).nullable().meta({
      description:
        'While online: `degraded` when something keeps the agent from moving jobs (`fault` says what); null for older agents and while offline',
    }),
    fault: z
      .looseObject({
        code: z.string().meta({
          description:
            '`disk-full`, `disk-read-only`, `disk-denied`, `journal-error` (its journal cannot be written), `printer-unavailable`, `printer-stalled` (takes no bytes)',
        }),
        detail: z.string().meta({ description: 'In plain words, from the agent' }),
        since: z.string(),
        waiting: z.number().int().optional().meta({ description: 'Jobs it holds up on the agent' }),
      })
      .nullable()
      .meta({ description: 'What keeps the agent from moving jobs; clears by itself when the cause goes' }),
    stalled: z
      .object({
        count: z.number().int(),
        firstJobId: jobId,
        since: time,
      })
      .nullable()
      .meta({
        description:
          'Jobs published again several times without moving (STALL_AFTER_S): how many, the oldest, and since when',
      }),
  })
  .meta({ id: 'Printer' });

/** Every JSON error: `error` says what is wrong; some carry details. */
export const ApiError = z
  .looseObject({
    error: z.string().meta({ description: 'What is wrong, in English' }),
    field: z.string().optional().meta({ description: 'The field, parameter or header at fault' }),
    knownPrinters: z.array(printerId).optional(),
    retryAfterSeconds: z.number().int().optional(),
    lines: z.number().int().optional(),
    maxLines: z.number().int().optional(),
  })
  .meta({ id: 'Error' });

export const WebhookDelivery = z
  .object({
    id: z.number().int().positive(),
    endpointId: z.number().int().positive(),
    eventId: z
      .number()
      .int()
      .positive()
      .meta({ description: 'The id of the change in the event log (GET /jobs/events)' }),
    webhookId: z.string().meta({
      description:
        'The `webhook-id` header: `evt_<eventId>_<8 random hex digits of the job uid, as in the event id>`, the same on every attempt',
    }),
    type: z.enum(['job.created', 'job.sent', 'job.received', 'job.printed', 'job.failed', 'job.interrupted']),
    jobId,
    printerId,
    status: z.enum(['pending', 'delivering', 'delivered', 'failed']),
    attempts: z.number().int().min(0),
    nextAttemptAt: time.nullable().meta({ description: 'When it is tried next (pending), else null' }),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    createdAt: time,
    deliveredAt: time.nullable(),
  })
  .meta({ id: 'WebhookDelivery' });

export const Health = z.object({ ok: z.literal(true) }).meta({ id: 'Health' });

export const Readiness = z
  .object({
    ready: z.boolean(),
    notReady: z.array(z.string()).optional().meta({ description: 'The parts not ready (503 only)' }),
    parts: z.record(z.string(), z.string()).meta({ description: 'Each part: `ready`, or why not' }),
  })
  .meta({ id: 'Readiness' });

export const PrinterAccount = z.object({ printerId, createdAt: time, updatedAt: time }).meta({ id: 'PrinterAccount' });

export const IssuedToken = z
  .object({
    printerId,
    token: z.string().meta({ description: 'The agent’s MQTT password: shown once, never stored in clear' }),
    agentCommand: z.string().meta({ description: 'The command that starts the printer’s agent with it' }),
  })
  .meta({ id: 'IssuedToken' });

export const RemovedPrinter = z
  .object({
    printerId,
    failedJobs: z.array(jobId).meta({ description: 'Unfinished jobs that ended `failed`' }),
  })
  .meta({ id: 'RemovedPrinter' });
