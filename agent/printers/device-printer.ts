/**
 * A printer as a file: a device node such as `/dev/usb/lp0` (the kernel's usblp driver, no native
 * module), or `file:PATH`, the virtual printer, which appends the raw bytes as a device would.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { askStatus, STATUS_ANSWER_TIMEOUT_MS, statusRequest } from './status';
import {
  type PrinterConnection,
  type PrinterTransport,
  PrinterUnavailableError,
  type StatusReport,
  withTimeout,
} from './transport';

const POLL_MS = 10;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class DevicePrinter implements PrinterTransport {
  readonly description: string;
  readonly format = 'escpos';
  /** A file has nothing to answer with; a device (usblp) reads back what the printer says. */
  readonly queryStatus?: () => Promise<StatusReport>;
  /** The virtual printer: a file takes one job after another on the same handle. */
  readonly holdsOpen: boolean;

  constructor(
    private readonly file: string,
    private readonly kind: 'device' | 'file',
    private readonly timeoutMs: number,
  ) {
    this.description = kind === 'file' ? `file:${file}` : file;
    if (kind === 'device') this.queryStatus = () => this.askDevice();
    this.holdsOpen = kind === 'file';
  }

  /**
   * On a handle of its own, non-blocking: a blocking read of a printer that never answers would hold a
   * libuv thread forever. usblp allows one open at a time, so this runs only between jobs.
   */
  private async askDevice(): Promise<StatusReport> {
    const { O_RDWR, O_NONBLOCK, O_NOCTTY } = fs.constants;
    let handle: fsp.FileHandle;
    try {
      handle = await withTimeout(
        fsp.open(this.file, O_RDWR | O_NONBLOCK | O_NOCTTY),
        this.timeoutMs,
        `opening ${this.file}`,
      );
    } catch (err) {
      return { condition: 'unavailable', detail: explain(this.file, err) };
    }
    try {
      const buffer = Buffer.alloc(64);
      const readAll = async () => {
        for (;;) {
          try {
            const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
            if (bytesRead === 0) return;
          } catch {
            return; // EAGAIN: nothing (more) to read
          }
        }
      };
      await readAll(); // stale answers from an earlier question
      return await askStatus(async (n) => {
        const deadline = Date.now() + STATUS_ANSWER_TIMEOUT_MS;
        let answer: number | undefined;
        let sent = false;
        while (answer === undefined && Date.now() < deadline) {
          try {
            if (!sent) sent = (await handle.write(statusRequest(n), 0, 3, null)).bytesWritten === 3;
            if (sent) {
              const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
              if (bytesRead > 0) answer = buffer[bytesRead - 1];
            }
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code;
            if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') throw err; // e.g. EINVAL: this device does not read back (unknown)
          }
          if (answer === undefined) await pause(POLL_MS);
        }
        return answer;
      });
    } finally {
      await handle.close().catch(() => undefined);
    }
  }

  async open(): Promise<PrinterConnection> {
    let handle: fsp.FileHandle;
    let regular = false;
    try {
      if (this.kind === 'file') await fsp.mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
      // A `file:` printer's output is the receipts' text: 0600, like every data file (never a device's mode).
      handle = await withTimeout(
        fsp.open(this.file, this.kind === 'file' ? 'a' : 'w', 0o600),
        this.timeoutMs,
        `opening ${this.file}`,
      );
      if (this.kind === 'file') {
        const stat = await handle.stat();
        if ((stat.mode & 0o077) !== 0) await handle.chmod(0o600);
        regular = stat.isFile();
      }
    } catch (err) {
      throw new PrinterUnavailableError(explain(this.file, err), { cause: err });
    }
    const { timeoutMs, file } = this;
    const fd = handle.fd;
    return {
      async write(bytes: Buffer) {
        // No fsync, even for the virtual printer: a device has none, and bytes handed to the kernel
        // survive the agent's crash, which is what the file stands for.
        if (regular) {
          // A regular file never blocks a write: written here, without the thread pool's hand-off there and
          // back nor a timer per job (issue 22). A device node, a FIFO or a pipe can block: those keep both.
          for (let done = 0; done < bytes.length;) done += fs.writeSync(fd, bytes, done, bytes.length - done);
          return;
        }
        await withTimeout(handle.write(bytes), timeoutMs, `writing to ${file}`);
      },
      async close() {
        await handle.close();
      },
    };
  }
}

function explain(file: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT':
      return `no printer at ${file}: is it plugged in and switched on? (ENOENT)`;
    case 'EACCES':
    case 'EPERM':
      return `not allowed to open ${file}: add this user to the "lp" group (sudo usermod -aG lp $USER) and log in again (${code})`;
    case 'EBUSY':
      return `${file} is busy: another program (CUPS?) holds the printer (EBUSY)`;
    case 'ENXIO':
    case 'ENODEV':
      return `the printer behind ${file} is gone: unplugged or switched off? (${code})`;
    default:
      return `cannot open ${file}: ${(err as Error).message}`;
  }
}
