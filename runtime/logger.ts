/** pino for both programs: JSON lines, pretty only when a person watches a terminal. */
import fs from 'node:fs';
import pino, { type Logger } from 'pino';
import pinoPretty from 'pino-pretty';

export type { Logger };

/** A turn's lines past this many characters are written at once, not held to the end of the turn. */
const TURN_BUFFER_MAX = 64 * 1024;

/**
 * Where the log lines go when no person watches (a file, journald, a pipe): the lines of one turn of the
 * event loop in one write(2) at its end, instead of one write each (issue 22: a job's two lines at `info`
 * were two of the agent's eight system calls a job under load). Written synchronously, as pino's own
 * destination does, and on `exit` too, which node emits for process.exit(), an uncaught exception and an
 * unhandled rejection: what was logged before a crash is written before the process ends. (A SIGKILL or an
 * abort ends the process without `exit`: the lines of the turn under way are lost, as the line being
 * written would be with a write per line.)
 */
export class TurnBufferedDestination {
  private buffered = '';
  private scheduled = false;
  private readonly flushAtEndOfTurn = () => {
    this.scheduled = false;
    this.flushSync();
  };

  constructor(private readonly fd: number) {
    process.on('exit', () => this.flushSync());
  }

  write(line: string): boolean {
    this.buffered += line;
    if (this.buffered.length >= TURN_BUFFER_MAX) this.flushSync();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAtEndOfTurn);
    }
    return true;
  }

  /** Writes what is held, at once. */
  flushSync(): void {
    if (!this.buffered) return;
    const bytes = Buffer.from(this.buffered);
    this.buffered = '';
    for (let done = 0; done < bytes.length;) {
      try {
        done += fs.writeSync(this.fd, bytes, done, bytes.length - done);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // A non-blocking pipe that is full: wait for its reader, as pino's destination does.
        if (code === 'EAGAIN' || code === 'EBUSY') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
        else return; // stdout closed (EPIPE) or gone: nothing more can be logged there
      }
    }
  }

  /** pino's logger.flush(). */
  flush(done?: (err?: Error) => void): void {
    this.flushSync();
    done?.();
  }
}

export function createLogger(name: string, level: string, fd = 1): Logger {
  if (!process.stdout.isTTY || fd !== 1) return pino({ name, level }, new TurnBufferedDestination(fd));
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
