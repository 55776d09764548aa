/** Picks the transport named by the PRINTER setting. */
import path from 'node:path';
import { CupsPrinter } from './cups-printer';
import { DevicePrinter } from './device-printer';
import { TcpPrinter } from './tcp-printer';
import type { PrinterTransport } from './transport';
import { UsbPrinter } from './usb-printer';
import { WindowsPrinter } from './windows-printer';

export type { PrinterConnection, PrinterTransport } from './transport';
export { PrinterUnavailableError } from './transport';

export function createTransport(
  spec: string,
  timeoutMs: number,
  options: { cupsServer?: string } = {},
): PrinterTransport {
  if (spec.startsWith('cups-raw:'))
    return new CupsPrinter(spec.slice('cups-raw:'.length), timeoutMs, options.cupsServer, true);
  if (spec.startsWith('windows:')) return new WindowsPrinter(spec.slice('windows:'.length), timeoutMs);
  if (spec.startsWith('cups:')) return new CupsPrinter(spec.slice('cups:'.length), timeoutMs, options.cupsServer);
  if (spec === 'usb') return new UsbPrinter(null, timeoutMs);
  const usb = /^usb:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(spec);
  if (usb) return new UsbPrinter({ vid: parseInt(usb[1]!, 16), pid: parseInt(usb[2]!, 16) }, timeoutMs);
  if (spec.startsWith('tcp://')) {
    const url = new URL(spec);
    return new TcpPrinter(url.hostname, url.port ? Number(url.port) : 9100, timeoutMs);
  }
  if (spec.startsWith('file:')) return new DevicePrinter(path.resolve(spec.slice('file:'.length)), 'file', timeoutMs);
  return new DevicePrinter(spec, 'device', timeoutMs);
}
