/**
 * Who connects to the broker: an agent as its printer id, plus two fixed accounts. Shared by the server
 * (which enforces it) and the agent (which picks its client id from it).
 */
import { isPrinterId } from './topics';

/** The read-only account for mosquitto_sub. */
export const DEBUG_USERNAME = 'debug';
/** The server itself, when it talks to an external broker (or a test connects as it). */
export const SERVER_USERNAME = 'printhop-server';
export const RESERVED_USERNAMES: readonly string[] = [DEBUG_USERNAME, SERVER_USERNAME];

/** A printer id that can also be an MQTT user name (not one of the fixed accounts). */
export function isPrinterAccount(value: unknown): value is string {
  return isPrinterId(value) && !RESERVED_USERNAMES.includes(value);
}

/** An MQTT password (token): printable ASCII without spaces or commas (PRINTER_TOKENS is `id:token,...`). */
export const TOKEN_PATTERN = /^[\x21-\x2b\x2d-\x7e]{16,256}$/;
export const TOKEN_RULE = 'must be 16-256 printable ASCII characters, without spaces or commas';

export function isToken(value: unknown): value is string {
  return typeof value === 'string' && TOKEN_PATTERN.test(value);
}

/** The agent's stable client id, which carries its persistent session. */
export function agentClientId(printerId: string): string {
  return `printhop-agent-${printerId}`;
}
