/**
 * `--check`'s list of the printers of the system's print queue: the Windows spooler's on Windows,
 * CUPS's elsewhere (macOS, and Linux where CUPS is installed), each with the PRINTER line to use.
 */
import { spawnSync } from 'node:child_process';
import { loadWinspool, type Spooler, spoolerStatus } from './printers/winspool';

export interface SystemPrinterPlaces {
  /** The Windows spooler (a fake in tests); by default, winspool.drv on Windows only. */
  spooler?: () => Spooler;
  /** `lp -h` for the CUPS list; empty: lp's own default. */
  cupsServer?: string;
}

export function listSystemPrinters(out: (line: string) => void, places: SystemPrinterPlaces = {}): void {
  const spooler = places.spooler ?? (process.platform === 'win32' ? loadWinspool : null);
  if (spooler) {
    let found;
    let fallback: string | null;
    try {
      const s = spooler();
      found = s.listPrinters();
      fallback = s.defaultPrinter();
    } catch (err) {
      out(`  - the Windows printers cannot be listed: ${(err as Error).message}`);
      return;
    }
    if (!found.length)
      out(
        '  - Windows has no printer: add the receipt printer in Settings > Printers & scanners (its driver, or "Generic / Text Only")',
      );
    for (const p of found) {
      const status = spoolerStatus(p);
      const state = status.condition === 'ok' ? '' : ` (${status.condition}: ${status.detail})`;
      out(
        `  - Windows printer "${p.name}"${p.name === fallback ? ' [default]' : ''}, port ${p.port || '?'}, driver ${p.driver || '?'}${state}: PRINTER=windows:${p.name}`,
      );
    }
    out(
      '    (a receipt printer gets the ESC/POS bytes RAW, whatever its driver; windows: alone means the default printer)',
    );
    return;
  }
  const server = places.cupsServer ? ['-h', places.cupsServer] : [];
  const result = spawnSync('lpstat', [...server, '-e'], { encoding: 'utf8', timeout: 5000 });
  if (result.error || result.status !== 0) {
    if (process.platform === 'darwin') out('  - CUPS printers cannot be listed (lpstat -e failed)');
    return; // Linux without CUPS: the device lines above say it all
  }
  const queues = result.stdout
    .split('\n')
    .map((q) => q.trim())
    .filter(Boolean);
  if (!queues.length) out('  - CUPS has no print queue');
  for (const q of queues)
    out(
      `  - CUPS queue ${q}: PRINTER=cups-raw:${q} for a receipt printer (ESC/POS as is), cups:${q} for an office printer (plain text)`,
    );
}
