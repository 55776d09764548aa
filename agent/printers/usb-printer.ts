/**
 * A USB printer through libusb (`escpos-usb`, with `usb` pinned to 1.9.2). Loaded only when chosen,
 * so that an agent on /dev/usb/lp0 or TCP never needs the native module.
 */
import { createRequire } from 'node:module';
import type { Adapter } from 'escpos';
import { type PrinterConnection, type PrinterTransport, PrinterUnavailableError, withTimeout } from './transport';

type UsbAdapterClass = new (vid?: number, pid?: number) => Adapter;

export class UsbPrinter implements PrinterTransport {
  readonly description: string;

  constructor(
    private readonly ids: { vid: number; pid: number } | null,
    private readonly timeoutMs: number,
  ) {
    this.description = ids ? `usb:${hex(ids.vid)}:${hex(ids.pid)}` : 'usb';
  }

  async open(): Promise<PrinterConnection> {
    let adapter: Adapter;
    try {
      const USB = createRequire(import.meta.url)('escpos-usb') as UsbAdapterClass;
      adapter = this.ids ? new USB(this.ids.vid, this.ids.pid) : new USB();
      await withTimeout(callback((cb) => adapter.open(cb)), this.timeoutMs, `opening ${this.description}`);
    } catch (err) {
      throw new PrinterUnavailableError(explain(this.description, err), { cause: err });
    }
    const { timeoutMs, description } = this;
    return {
      write: (bytes) => withTimeout(callback((cb) => adapter.write(bytes, cb)), timeoutMs, `writing to ${description}`),
      close: () => withTimeout(callback((cb) => adapter.close(cb)), timeoutMs, `closing ${description}`),
    };
  }
}

function callback(run: (cb: (error?: Error | null) => void) => unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    run((error) => (error ? reject(error) : resolve()));
  });
}

const hex = (n: number) => n.toString(16).padStart(4, '0');

function explain(description: string, err: unknown): string {
  const message = (err as Error).message ?? String(err);
  if (/Cannot find module|findByIds is not a function/.test(message)) {
    return `USB support is not installed (escpos-usb with usb@1.9.2): ${message}; or use PRINTER=/dev/usb/lp0`;
  }
  if (/Can not find printer/i.test(message)) return `no USB printer found for ${description}: is it plugged in and switched on?`;
  if (/LIBUSB_ERROR_ACCESS/.test(message)) {
    return `no permission to open ${description} (LIBUSB_ERROR_ACCESS): install agent/deploy/99-printhop.rules in /etc/udev/rules.d and replug the printer`;
  }
  if (/LIBUSB_ERROR_BUSY/.test(message)) {
    return `${description} is held by another driver or program (LIBUSB_ERROR_BUSY): the kernel's usblp driver has it; use PRINTER=/dev/usb/lp0 instead`;
  }
  return `cannot open ${description}: ${message}`;
}
