/**
 * A printer as a file: a device node such as `/dev/usb/lp0` (the kernel's usblp driver, no native
 * module), or `file:PATH`, the virtual printer, which appends the raw bytes as a device would.
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import { type PrinterConnection, type PrinterTransport, PrinterUnavailableError, withTimeout } from './transport';

export class DevicePrinter implements PrinterTransport {
  readonly description: string;

  constructor(
    private readonly file: string,
    private readonly kind: 'device' | 'file',
    private readonly timeoutMs: number,
  ) {
    this.description = kind === 'file' ? `file:${file}` : file;
  }

  async open(): Promise<PrinterConnection> {
    let handle: fsp.FileHandle;
    try {
      if (this.kind === 'file') await fsp.mkdir(path.dirname(this.file), { recursive: true });
      handle = await withTimeout(fsp.open(this.file, this.kind === 'file' ? 'a' : 'w'), this.timeoutMs, `opening ${this.file}`);
    } catch (err) {
      throw new PrinterUnavailableError(explain(this.file, err), { cause: err });
    }
    const { timeoutMs, file } = this;
    return {
      async write(bytes: Buffer) {
        // No fsync, even for the virtual printer: a device has none, and bytes handed to the kernel
        // survive the agent's crash, which is what the file stands for.
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
