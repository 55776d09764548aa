/**
 * `npm run agent -- --check`: what a person setting up a printer needs to know, in plain words: the
 * printers this machine sees, whether the configured one opens (and how it says it is), and whether
 * the broker answers. Sends no receipt.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import type { AgentConfig } from '../config';
import { createTransport } from './printers';
import { listSystemPrinters, type SystemPrinterPlaces } from './system-printers';
import { urlForLog } from '../runtime/logger';
import { mqttConnectOptions } from '../config/mqtt-url';

export interface CheckPlaces extends SystemPrinterPlaces {
  /** Where usblp puts its devices. */
  devUsb: string;
  /** Linux's list of USB devices and interfaces. */
  sysUsb: string;
}

export const SYSTEM_PLACES: CheckPlaces = { devUsb: '/dev/usb', sysUsb: '/sys/bus/usb/devices' };

export interface UsbPrinterDevice {
  vid: string;
  pid: string;
  name: string;
}

const read = (file: string) => {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
};

/** USB devices with a printer-class (07) interface, from sysfs: no native module needed. */
export function usbPrinterDevices(sysUsb: string): UsbPrinterDevice[] | null {
  let entries: string[];
  try {
    entries = fs.readdirSync(sysUsb);
  } catch {
    return null;
  }
  const found = new Map<string, UsbPrinterDevice>();
  for (const entry of entries) {
    const [device] = entry.split(':');
    if (!entry.includes(':') || !device || read(path.join(sysUsb, entry, 'bInterfaceClass')) !== '07') continue;
    const dir = path.join(sysUsb, device);
    const vid = read(path.join(dir, 'idVendor'));
    const pid = read(path.join(dir, 'idProduct'));
    if (!vid || !pid) continue;
    const name =
      [read(path.join(dir, 'manufacturer')), read(path.join(dir, 'product'))].filter(Boolean).join(' ') || 'unnamed';
    found.set(`${vid}:${pid}:${device}`, { vid, pid, name });
  }
  return [...found.values()];
}

/** The same through libusb (`usb`), where sysfs is missing; null when `usb` is not installed. */
function usbPrinterDevicesFromLibusb(): UsbPrinterDevice[] | null {
  try {
    const usb = createRequire(import.meta.url)('usb') as {
      getDeviceList(): Array<{
        deviceDescriptor: { idVendor: number; idProduct: number };
        configDescriptor?: { interfaces: Array<Array<{ bInterfaceClass: number }>> };
      }>;
    };
    const hex = (n: number) => n.toString(16).padStart(4, '0');
    return usb
      .getDeviceList()
      .filter((d) => d.configDescriptor?.interfaces.some((alts) => alts.some((i) => i.bInterfaceClass === 7)))
      .map((d) => ({
        vid: hex(d.deviceDescriptor.idVendor),
        pid: hex(d.deviceDescriptor.idProduct),
        name: 'USB printer',
      }));
  } catch {
    return null;
  }
}

/** `--check`: what printers this machine sees, whether the configured one opens, whether the broker accepts this agent. */
export async function runCheck(
  config: AgentConfig,
  out: (line: string) => void,
  places: CheckPlaces = SYSTEM_PLACES,
): Promise<boolean> {
  out('Printers this machine sees');
  listPrinters(config, out, places);
  out('');
  out(`Configured printer: PRINTER=${config.printer}`);
  const printerOk = await checkPrinter(config, out);
  out('');
  out(`Broker: MQTT_URL=${urlForLog(config.mqttUrl)}`);
  const brokerOk = await checkBroker(config, out);
  out('');
  out(
    printerOk && brokerOk
      ? 'All good: this agent can print.'
      : 'Fix the PROBLEM lines above, then run this check again.',
  );
  return printerOk && brokerOk;
}

/** The usblp devices (and whether this user may write to them), the USB printers, the system's queues. */
function listPrinters(config: AgentConfig, out: (line: string) => void, places: CheckPlaces): void {
  const user = os.userInfo().username;
  let lp: string[] = [];
  try {
    lp = fs
      .readdirSync(places.devUsb)
      .filter((name) => /^lp\d+$/.test(name))
      .sort();
  } catch {
    /* no /dev/usb at all */
  }
  if (!lp.length && process.platform !== 'win32')
    out(
      `  - no ${places.devUsb}/lp* device: no USB printer is claimed by the kernel's usblp driver (is one plugged in and switched on?)`,
    );
  for (const name of lp) {
    const device = path.join(places.devUsb, name);
    let writable = true;
    try {
      fs.accessSync(device, fs.constants.W_OK);
    } catch {
      writable = false;
    }
    out(
      writable
        ? `  - ${device} (usblp): this user (${user}) may print to it: PRINTER=${device}`
        : `  - ${device} (usblp): this user (${user}) may not write to it: sudo usermod -aG lp ${user}, then log in again`,
    );
  }
  const usb = usbPrinterDevices(places.sysUsb) ?? usbPrinterDevicesFromLibusb();
  if (usb === null)
    out('  - USB devices cannot be listed here (no sysfs, and the optional `usb` module is not installed)');
  else if (!usb.length)
    out('  - no USB printer-class device (some receipt printers use a vendor class: `lsusb` lists every USB device)');
  for (const d of usb ?? [])
    out(
      `  - USB printer ${d.vid}:${d.pid} ${d.name}: PRINTER=usb:${d.vid}:${d.pid} (or ${places.devUsb}/lp0 if usblp claimed it)`,
    );
  listSystemPrinters(out, { cupsServer: config.cupsServer, ...places });
}

/** Opens and closes the configured printer (nothing printed) and asks its status where it can answer. */
async function checkPrinter(config: AgentConfig, out: (line: string) => void): Promise<boolean> {
  const transport = createTransport(config.printer, config.printerTimeoutMs, { cupsServer: config.cupsServer });
  let printerOk = true;
  try {
    const connection = await transport.open();
    await connection.close();
    out(`  OK: ${transport.description} opens (nothing was printed)`);
  } catch (err) {
    printerOk = false;
    out(`  PROBLEM: ${(err as Error).message}`);
  }
  if (transport.queryStatus) {
    const report = await transport.queryStatus();
    const fine = report.condition === 'ok' || report.condition === 'unknown' || report.condition === 'paper-low';
    if (!fine) printerOk = false;
    out(`  ${fine ? 'status' : 'PROBLEM'}: ${report.condition}: ${report.detail}`);
  }
  out(`  paper: ${config.columns} columns, code page ${config.codePage}`);
  return printerOk;
}

/** Connects to the broker with this agent's credentials (under another client id) and leaves. */
async function checkBroker(config: AgentConfig, out: (line: string) => void): Promise<boolean> {
  try {
    const client = await mqtt.connectAsync(
      mqttConnectOptions(config.mqttUrl, {
        // Not the agent's own client id: that would push a running agent off its session.
        clientId: `printhop-check-${config.printerId}-${process.pid}`,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        username: config.mqttUsername || undefined,
        password: config.mqttPassword || undefined,
      }),
    );
    await client.endAsync();
    out('  OK: the broker accepts this agent');
    return true;
  } catch (err) {
    const message = (err as Error).message;
    const hint = /Not authorized|Bad username/i.test(message)
      ? 'check MQTT_USERNAME and MQTT_PASSWORD'
      : 'is the server running, and MQTT_URL right?';
    out(`  PROBLEM: cannot connect: ${message} (${hint})`);
    return false;
  }
}
