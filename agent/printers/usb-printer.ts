/**
 * A USB printer through libusb (`escpos-usb`, with `usb` pinned to 1.9.2). Loaded only when chosen,
 * so that an agent on /dev/usb/lp0 or TCP never needs the native module.
 */
import { createRequire } from 'node:module';
import type { Adapter } from 'escpos';
import { type PrinterConnection, type PrinterTransport, PrinterUnavailableError, withTimeout } from './transport';

export type UsbAdapterClass = new (vid?: number, pid?: number) => Adapter;

const loadEscposUsb = (): UsbAdapterClass => createRequire(import.meta.url)('escpos-usb') as UsbAdapterClass;

export class UsbPrinter implements PrinterTransport {
  readonly description: string;
  readonly format = 'escpos';

  constructor(
    private readonly ids: { vid: number; pid: number } | null,
    private readonly timeoutMs: number,
    /** escpos-usb's adapter class, loaded on first use; a test without USB hardware passes its own. */
    private readonly loadAdapter: () => UsbAdapterClass = loadEscposUsb,
  ) {
    this.description = ids ? `usb:${hex(ids.vid)}:${hex(ids.pid)}` : 'usb';
  }

  /**
   * Looks the device up again on every open (a new adapter each time), so a printer unplugged and
   * plugged back in, which comes back as a new libusb device, is found again.
   */
  async open(): Promise<PrinterConnection> {
    let adapter: Adapter | null = null;
    try {
      const USB = this.loadAdapter();
      adapter = this.ids ? new USB(this.ids.vid, this.ids.pid) : new USB();
      const opening = adapter;
      await withTimeout(
        callback((cb) => opening.open(cb)),
        this.timeoutMs,
        `opening ${this.description}`,
      );
    } catch (err) {
      // Release what a half-done open claimed (and escpos-usb's detach listener).
      if (adapter) await callback((cb) => adapter!.close(cb)).catch(() => undefined);
      throw new PrinterUnavailableError(explain(this.description, err), { cause: err });
    }
    const opened = adapter;
    const { timeoutMs, description } = this;
    return {
      write: (bytes) =>
        withTimeout(
          callback((cb) => opened.write(bytes, cb)),
          timeoutMs,
          `writing to ${description}`,
        ),
      close: () =>
        withTimeout(
          callback((cb) => opened.close(cb)),
          timeoutMs,
          `closing ${description}`,
        ),
    };
  }
}

function callback(run: (cb: (error?: Error | null) => void) => unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      run((error) => (error ? reject(error) : resolve()));
    } catch (err) {
      reject(err as Error); // escpos-usb throws some libusb errors instead of calling back
    }
  });
}

const hex = (n: number) => n.toString(16).padStart(4, '0');

export function explain(description: string, err: unknown): string {
  const message = (err as Error).message ?? String(err);
  if (/Cannot find module|findByIds is not a function/.test(message)) {
    return `USB support is not installed (escpos-usb with usb@1.9.2): ${message}; or use PRINTER=/dev/usb/lp0`;
  }
  if (/Can not find printer/i.test(message))
    return `no USB printer found for ${description}: is it plugged in and switched on?`;
  if (/LIBUSB_ERROR_ACCESS/.test(message)) {
    return `no permission to open ${description} (LIBUSB_ERROR_ACCESS): install agent/deploy/99-printhop.rules in /etc/udev/rules.d and replug the printer`;
  }
  if (/LIBUSB_ERROR_NO_DEVICE|LIBUSB_ERROR_NOT_FOUND/.test(message))
    return `${description} was unplugged or switched off (${message}): plug it back in; the job waits`;
  if (/LIBUSB_ERROR_BUSY/.test(message)) {
    return `${description} is held by another driver or program (LIBUSB_ERROR_BUSY): the kernel's usblp driver has it; use PRINTER=/dev/usb/lp0 instead`;
  }
  return `cannot open ${description}: ${message}`;
}
