/** pino for both programs: JSON lines, pretty only when a person watches a terminal. */
import pino, { type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

export type { Logger };

export function createLogger(name: string, level: string): Logger {
  if (!process.stdout.isTTY) return pino({ name, level });
  // pino-pretty as a stream in this thread, not a transport pino loads by name in a worker thread: the
  // one-file agent has no node_modules to load it from (and a terminal needs no extra thread).
  return pino({ name, level }, pinoPretty({ translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', sync: true }));
}

/**
 * Any text (an error message, say) with the user name and password of every URL in it masked: Node's fetch
 * puts the whole URL in some of its errors.
 */
export function withoutUrlCredentials(text: string): string {
  return text.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]*@/gi, '$1***@');
}

/** A URL for a log line or a banner: user name and password masked, whatever the scheme. */
export function urlForLog(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = parsed.username ? '***' : '';
    parsed.password = parsed.password ? '***' : '';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
