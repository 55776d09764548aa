/**
 * Pairing, as both sides speak it over HTTP: an agent that knows only the server's address asks for a
 * code (`POST /pairing`), prints it, and asks with its pairing secret until the admin has approved the code
 * for a printer id (`POST /pairing/{id}/claim`). The schemas here validate both the server's input and the
 * agent's reading of the answers.
 */
import { z } from 'zod';
import { PRINTER_ID_PATTERN } from './topics';

/** Six digits, shown and printed as `482-913`. */
export const PAIRING_CODE_DIGITS = 6;

/** `482913` → `482-913`. */
export function formatPairingCode(code: string): string {
  return `${code.slice(0, 3)}-${code.slice(3)}`;
}

/** What a person types (`482-913`, `482 913`, ` 482913 `) → `482913`, or null when it is not six digits. */
export function normalizePairingCode(typed: unknown): string | null {
  if (typeof typed !== 'string' || typed.length > 32) return null;
  const digits = typed.replace(/[\s-]/g, '');
  return /^\d{6}$/.test(digits) ? digits : null;
}

const shortText = (max: number, description: string) =>
  z
    .string()
    .max(max)
    // Shown on the admin page and in logs: no control characters.
    .regex(/^[^\p{Cc}]*$/u, 'must not hold control characters')
    .meta({ description });

/** `POST /pairing`: what the agent says of itself, shown to the admin next to the code. */
export const PairingRequest = z
  .object({
    machine: shortText(64, 'The machine’s host name'),
    platform: shortText(32, '`linux-arm64`, `win32-x64`, …'),
    printer: shortText(32, 'The kind of printer: `usb`, `device`, `tcp`, `cups`, `windows`, `file`'),
    agentVersion: shortText(32, 'The agent’s version'),
  })
  .meta({ id: 'PairingRequest' });
export type PairingRequest = z.infer<typeof PairingRequest>;

const time = z.iso.datetime({ offset: true });

/** `201` to `POST /pairing`: the secret is the agent's alone, never shown anywhere else. */
export const PairingStarted = z
  .object({
    id: z.string().meta({ description: 'The pairing, for `POST /pairing/{id}/claim`' }),
    code: z
      .string()
      .regex(/^\d{6}$/)
      .meta({ description: 'What the admin types; printed as `482-913`' }),
    secret: z.string().meta({ description: 'Sent back as `Authorization: Bearer` to claim; keep it private' }),
    expiresAt: time,
    pollMs: z.number().int().positive().meta({ description: 'How often to ask' }),
  })
  .meta({ id: 'PairingStarted' });
export type PairingStarted = z.infer<typeof PairingStarted>;

/** `200` to a claim: still waiting, or approved with the printer's MQTT account (handed out once). */
export const PairingClaim = z
  .discriminatedUnion('status', [
    z.object({ status: z.literal('pending'), expiresAt: time }),
    z.object({
      status: z.literal('approved'),
      printerId: z.string().regex(PRINTER_ID_PATTERN),
      token: z.string().meta({ description: 'The printer’s MQTT password: this answer is the only copy' }),
      mqttUrl: z.string().meta({ description: 'Where the agent connects' }),
    }),
  ])
  .meta({ id: 'PairingClaim' });
export type PairingClaim = z.infer<typeof PairingClaim>;
