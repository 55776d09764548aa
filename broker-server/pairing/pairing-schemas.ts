/** What the admin API sends and answers about pairings, as zod schemas (GET /openapi.json describes them). */
import { z } from 'zod';
import { PRINTER_ID_PATTERN } from '../../protocol/topics';

const time = z.iso.datetime({ offset: true });

export const PendingPairing = z
  .object({
    code: z
      .string()
      .regex(/^\d{6}$/)
      .meta({ description: 'The code the agent printed (shown as 482-913)' }),
    machine: z.string().meta({ description: 'The agent’s machine name' }),
    platform: z.string(),
    printer: z.string().meta({ description: 'The kind of printer the agent prints on' }),
    agentVersion: z.string(),
    requestedAt: time,
    expiresAt: time,
  })
  .meta({ id: 'PendingPairing' });

export const PairingApproval = z
  .object({
    code: z.string().meta({ description: 'The 6 digits the printer printed: `482913` or `482-913`' }),
    printerId: z
      .string()
      .regex(PRINTER_ID_PATTERN)
      .meta({ description: 'A new printer id, or an existing one (its token is rotated: its old agent is cut off)' }),
  })
  .meta({ id: 'PairingApproval' });

export const ApprovedPairing = z
  .object({
    code: z.string().regex(/^\d{6}$/),
    printerId: z.string().regex(PRINTER_ID_PATTERN),
    replaced: z.boolean().meta({ description: 'The printer existed: its old agent was cut off' }),
    machine: z.string(),
  })
  .meta({ id: 'ApprovedPairing' });
