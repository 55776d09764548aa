/**
 * An ordinary (office) printer through CUPS: the receipt's lines as plain UTF-8 text, handed to
 * `lp -d QUEUE`. No ESC/POS: CUPS and the printer's driver do the fonts.
 *
 * `cups-raw:QUEUE` (raw = true): the receipt's ESC/POS bytes as a raw job (`lp -o raw`), for a receipt
 * printer that CUPS owns (macOS, or Linux with the printer set up in CUPS). The document is named
 * `printhop-job-<id>`: never a name with whitespace (Debian's cupsd 2.4.2 crashes on some of those).
 */
import { spawn } from 'node:child_process';
import { type PrinterConnection, type PrinterTransport, PrinterUnavailableError, withTimeout } from './transport';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `lp` answers `request id is QUEUE-123 (1 file(s))`; the CUPS job id is `QUEUE-123`. */
export function parseRequestId(stdout: string): string | undefined {
  return /request id is (\S+)/.exec(stdout)?.[1];
}

export class CupsPrinter implements PrinterTransport {
  readonly description: string;
  readonly format: 'text' | 'escpos';

  constructor(
    private readonly queue: string,
    private readonly timeoutMs: number,
    /** `host`, `host:port` or a socket path; empty: lp's default (CUPS_SERVER, ~/.cups/client.conf, localhost). */
    private readonly server = '',
    private readonly raw = false,
  ) {
    this.description = `${raw ? 'cups-raw' : 'cups'}:${queue}`;
    this.format = raw ? 'escpos' : 'text';
  }

  private run(command: 'lp' | 'lpstat', args: string[], input?: Buffer): Promise<Run> {
    const server = this.server ? ['-h', this.server] : [];
    return new Promise((resolve, reject) => {
      const child = spawn(command, [...server, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr: stderr.trim() }));
      child.stdin.on('error', () => undefined); // lp may exit before reading all of it; its exit code says why
      child.stdin.end(input);
      const timer = setTimeout(() => child.kill('SIGKILL'), this.timeoutMs);
      child.on('close', () => clearTimeout(timer));
    });
  }

  /** Checks that CUPS answers and knows the queue; sends nothing. */
  async open(): Promise<PrinterConnection> {
    let check: Run;
    try {
      check = await withTimeout(
        this.run('lpstat', ['-p', this.queue]),
        this.timeoutMs,
        `asking CUPS about ${this.queue}`,
      );
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      throw new PrinterUnavailableError(
        missing
          ? 'the CUPS client (lpstat, lp) is not installed: sudo apt install cups-client'
          : `cannot ask CUPS about ${this.queue}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (check.code !== 0) {
      const why = check.stderr || check.stdout.trim() || `lpstat exited with ${check.code}`;
      const hint = /not running|connect/i.test(why)
        ? 'is CUPS running? (sudo systemctl start cups)'
        : 'lpstat -p lists the queues';
      throw new PrinterUnavailableError(`CUPS has no usable queue "${this.queue}": ${why} (${hint})`);
    }
    const { queue, timeoutMs, raw } = this;
    return {
      write: async (bytes: Buffer, job?: { id: number }) => {
        const args = raw
          ? ['-d', queue, '-o', 'raw', '-t', job ? `printhop-job-${job.id}` : 'printhop-job']
          : ['-d', queue, '-t', 'Printhop'];
        const result = await withTimeout(this.run('lp', args, bytes), timeoutMs, `handing the job to CUPS (${queue})`);
        if (result.code !== 0) throw new Error(`lp -d ${queue} failed: ${result.stderr || `exit code ${result.code}`}`);
        return { reference: parseRequestId(result.stdout) };
      },
      close: async () => undefined,
    };
  }
}
