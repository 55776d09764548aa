import { randomBytes } from 'node:crypto';

/** Names this server process in logs and in the change notices it sends to other instances. */
export function newInstanceId(): string {
  return randomBytes(6).toString('hex');
}
