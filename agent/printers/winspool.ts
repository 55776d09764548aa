/**
 * The Windows print spooler (winspool.drv) through the FFI library koffi, loaded only when the
 * `windows:` transport is chosen. What the agent needs of it: the printers and their status
 * (EnumPrintersW, GetPrinterW level 2, GetDefaultPrinterW), and a RAW document (OpenPrinterW,
 * StartDocPrinterW with DOC_INFO_1W and data type "RAW", StartPagePrinter, WritePrinter,
 * EndPagePrinter, EndDocPrinter, ClosePrinter): the ESC/POS bytes go to the printer untouched.
 *
 * In the single executable (see scripts/build-agents.ts) koffi's native module is a SEA asset,
 * written to a folder of this user's and loaded from there: nothing is installed on the PC.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { executableAsset, isSingleExecutable } from '../executable';
import type { StatusReport } from './status';

/** One printer as the spooler describes it (PRINTER_INFO_2W). */
export interface SpoolerPrinter {
  name: string;
  port: string;
  driver: string;
  /** PRINTER_STATUS_* bits. */
  status: number;
  /** PRINTER_ATTRIBUTE_* bits. */
  attributes: number;
  /** Documents in its queue. */
  jobs: number;
}

/** What the transport needs of the spooler: the real one below, or a fake in the tests of the rules. */
export interface Spooler {
  /** The user's default printer, or null when there is none. */
  defaultPrinter(): string | null;
  listPrinters(): SpoolerPrinter[];
  /** OpenPrinterW; rejects with a SpoolerError when the printer cannot be opened. */
  open(name: string): Promise<SpoolerDocumentTarget>;
}

export interface SpoolerDocumentTarget {
  /** GetPrinterW level 2 on the open handle. */
  info(): SpoolerPrinter;
  /** One RAW document of `bytes`; resolves with the spooler's job id. Rejects (SpoolerError) on a write error. */
  printRaw(documentName: string, bytes: Buffer): Promise<number>;
  close(): void;
}

/** A winspool call that failed, with its Win32 error code (GetLastError). */
export class SpoolerError extends Error {
  constructor(
    readonly call: string,
    readonly code: number,
  ) {
    super(`${call} failed: ${win32ErrorText(code)}`);
    this.name = 'SpoolerError';
  }
}

const WIN32_ERRORS: Record<number, string> = {
  2: 'ERROR_FILE_NOT_FOUND',
  5: 'ERROR_ACCESS_DENIED: this user may not print to it',
  6: 'ERROR_INVALID_HANDLE',
  21: 'ERROR_NOT_READY: the printer is not ready',
  28: 'ERROR_OUT_OF_PAPER',
  31: 'ERROR_GEN_FAILURE: the device does not work',
  1722: 'RPC_S_SERVER_UNAVAILABLE: the print spooler service is not running',
  1801: 'ERROR_INVALID_PRINTER_NAME: no printer of that name (Settings > Printers & scanners lists them)',
  1804: "ERROR_INVALID_DATATYPE: the printer's print processor does not accept RAW",
  1905: 'ERROR_PRINTER_DELETED',
  1906: 'ERROR_INVALID_PRINTER_STATE',
  3012: 'ERROR_PRINTER_NOT_FOUND',
};
export const win32ErrorText = (code: number) => `${WIN32_ERRORS[code] ?? 'Windows error'} (${code})`;

/** PRINTER_STATUS_* bits of PRINTER_INFO_2W.Status (winspool.h). */
export const PRINTER_STATUS = {
  PAUSED: 0x1,
  ERROR: 0x2,
  PENDING_DELETION: 0x4,
  PAPER_JAM: 0x8,
  PAPER_OUT: 0x10,
  PAPER_PROBLEM: 0x40,
  OFFLINE: 0x80,
  OUTPUT_BIN_FULL: 0x800,
  NOT_AVAILABLE: 0x1000,
  NO_TONER: 0x40000,
  USER_INTERVENTION: 0x100000,
  OUT_OF_MEMORY: 0x200000,
  DOOR_OPEN: 0x400000,
} as const;
/** "Use Printer Offline" ticked in the printer's queue window. */
export const PRINTER_ATTRIBUTE_WORK_OFFLINE = 0x400;

/**
 * The spooler's status as the agent's printer conditions, most urgent first. Status 0 is `ok`: many
 * USB receipt printers' drivers never report anything else, so this is only as good as the driver.
 */
export function spoolerStatus(printer: Pick<SpoolerPrinter, 'status' | 'attributes' | 'name'>): StatusReport {
  const s = printer.status;
  const S = PRINTER_STATUS;
  if (s & S.DOOR_OPEN)
    return { condition: 'cover-open', detail: `Windows says the cover of ${printer.name} is open: close it` };
  if (s & (S.PAPER_OUT | S.PAPER_PROBLEM))
    return {
      condition: 'paper-out',
      detail: `Windows says ${printer.name} is out of paper: load a new roll (jobs wait until then)`,
    };
  if (s & S.PAUSED)
    return {
      condition: 'offline',
      detail: `the Windows print queue of ${printer.name} is paused: resume it (Printers & scanners > Open queue > Printer > Pause printing); jobs wait until then`,
    };
  if (s & S.OFFLINE || printer.attributes & PRINTER_ATTRIBUTE_WORK_OFFLINE) {
    return {
      condition: 'offline',
      detail: `Windows says ${printer.name} is offline: switch it on, check its cable, untick "Use printer offline"`,
    };
  }
  const problems: Array<[number, string]> = [
    [S.PAPER_JAM, 'a paper jam'],
    [S.ERROR, 'an error'],
    [S.USER_INTERVENTION, 'something to be done at the printer'],
    [S.NOT_AVAILABLE, 'the printer not available'],
    [S.OUTPUT_BIN_FULL, 'the output full'],
    [S.NO_TONER, 'no toner or ink'],
    [S.OUT_OF_MEMORY, 'the printer out of memory'],
    [S.PENDING_DELETION, 'the printer being deleted'],
  ];
  const found = problems.filter(([bit]) => s & bit).map(([, words]) => words);
  if (found.length)
    return {
      condition: 'offline',
      detail: `Windows reports ${found.join(', ')} for ${printer.name}: check its lights, switch it off and on`,
    };
  return { condition: 'ok', detail: 'ready' };
}

// ---------- koffi ----------

/** The part of koffi's API used here (its native module, as loaded in the executable, or the npm package). */
interface Koffi {
  load(library: string): { func(declaration: string): KoffiFunction };
  struct(name: string, fields: Record<string, string>): unknown;
  decode(pointer: unknown, type: unknown, length?: number): unknown;
  address(value: unknown): unknown;
}
/**
 * Called synchronously, on purpose: GetLastError is per thread, so a call on koffi's worker threads
 * (`.async`) would lose its error code. Spooler calls write to a local spool file and return quickly.
 */
type KoffiFunction = (...args: unknown[]) => unknown;

let koffi: Koffi | null = null;

/** The SEA asset with koffi's native module, written out once per version under the user's app data. */
export const KOFFI_ASSET = 'koffi.node';

function loadKoffi(): Koffi {
  if (koffi) return koffi;
  if (isSingleExecutable()) {
    const bytes = executableAsset(KOFFI_ASSET);
    const hash = crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 16);
    // This user's local app data (SYSTEM's too, for a start-up task): writable without admin rights.
    const base = process.platform === 'win32' ? path.join(os.homedir(), 'AppData', 'Local') : os.tmpdir();
    const file = path.join(base, 'printhop', `koffi-${hash}.node`);
    if (!fs.existsSync(file)) {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      const partial = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(partial, bytes);
      fs.renameSync(partial, file);
    }
    const module = { exports: {} as Koffi };
    process.dlopen(module, file);
    koffi = module.exports;
  } else {
    try {
      koffi = createRequire(import.meta.url)('koffi') as Koffi;
    } catch (err) {
      throw new Error(`the windows: transport needs the koffi module (npm install koffi): ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
  return koffi;
}

const PRINTER_ENUM_LOCAL = 0x2;
const PRINTER_ENUM_CONNECTIONS = 0x4;
const ERROR_INSUFFICIENT_BUFFER = 122;

let loaded: Spooler | null = null;

/** winspool.drv through koffi, loaded once. Throws (plainly) where there is no winspool: not Windows, or no koffi. */
export function loadWinspool(): Spooler {
  return (loaded ??= bindWinspool());
}

function bindWinspool(): Spooler {
  if (process.platform !== 'win32')
    throw new Error(
      `the windows: transport runs on Windows only (this is ${process.platform}): use cups-raw:QUEUE, a device or tcp://`,
    );
  const k = loadKoffi();
  const api = bindSpoolerApi(k);
  const { GetDefaultPrinterW, EnumPrintersW, PRINTER_INFO_2W } = api;
  return {
    defaultPrinter() {
      const size = [0];
      GetDefaultPrinterW(null, size);
      if (!size[0]) return null; // ERROR_FILE_NOT_FOUND: no default printer
      const buffer = Buffer.alloc(size[0] * 2);
      if (!GetDefaultPrinterW(buffer, size)) return null;
      return buffer.toString('utf16le').replace(/\0[\s\S]*$/, '');
    },
    listPrinters() {
      const returned = [0];
      const buffer = withBuffer(api, 'EnumPrintersW', (buf, size, needed) =>
        EnumPrintersW(PRINTER_ENUM_LOCAL | PRINTER_ENUM_CONNECTIONS, null, 2, buf, size, needed, returned),
      );
      if (!buffer || !returned[0]) return [];
      const items = k.decode(k.address(buffer), PRINTER_INFO_2W, returned[0]) as Array<Record<string, unknown>>;
      return items.map(toPrinter);
    },
    open: async (name) => openPrinter(k, api, name),
  };
}

/** The structures and functions of winspool.drv (and kernel32's GetLastError) this transport calls. */
function bindSpoolerApi(k: Koffi) {
  const winspool = k.load('winspool.drv');
  const kernel32 = k.load('kernel32.dll');
  const PRINTER_INFO_2W = k.struct('PRINTER_INFO_2W', {
    pServerName: 'str16',
    pPrinterName: 'str16',
    pShareName: 'str16',
    pPortName: 'str16',
    pDriverName: 'str16',
    pComment: 'str16',
    pLocation: 'str16',
    pDevMode: 'void *',
    pSepFile: 'str16',
    pPrintProcessor: 'str16',
    pDatatype: 'str16',
    pParameters: 'str16',
    pSecurityDescriptor: 'void *',
    Attributes: 'uint32',
    Priority: 'uint32',
    DefaultPriority: 'uint32',
    StartTime: 'uint32',
    UntilTime: 'uint32',
    Status: 'uint32',
    cJobs: 'uint32',
    AveragePPM: 'uint32',
  });
  k.struct('DOC_INFO_1W', { pDocName: 'str16', pOutputFile: 'str16', pDatatype: 'str16' });
  const GetLastError = kernel32.func('uint32 __stdcall GetLastError()');
  const OpenPrinterW = winspool.func(
    'int __stdcall OpenPrinterW(str16 pPrinterName, _Out_ void **phPrinter, void *pDefault)',
  );
  const ClosePrinter = winspool.func('int __stdcall ClosePrinter(void *hPrinter)');
  // Buffers are passed as raw memory (void *): the spooler writes into them, strings pointing inside.
  const GetPrinterW = winspool.func(
    'int __stdcall GetPrinterW(void *hPrinter, uint32 Level, void *pPrinter, uint32 cbBuf, _Out_ uint32 *pcbNeeded)',
  );
  const EnumPrintersW = winspool.func(
    'int __stdcall EnumPrintersW(uint32 Flags, str16 Name, uint32 Level, void *pPrinterEnum, uint32 cbBuf, _Out_ uint32 *pcbNeeded, _Out_ uint32 *pcReturned)',
  );
  const GetDefaultPrinterW = winspool.func(
    'int __stdcall GetDefaultPrinterW(void *pszBuffer, _Inout_ uint32 *pcchBuffer)',
  );
  const StartDocPrinterW = winspool.func(
    'uint32 __stdcall StartDocPrinterW(void *hPrinter, uint32 Level, DOC_INFO_1W *pDocInfo)',
  );
  const StartPagePrinter = winspool.func('int __stdcall StartPagePrinter(void *hPrinter)');
  const WritePrinter = winspool.func(
    'int __stdcall WritePrinter(void *hPrinter, void *pBuf, uint32 cbBuf, _Out_ uint32 *pcWritten)',
  );
  const EndPagePrinter = winspool.func('int __stdcall EndPagePrinter(void *hPrinter)');
  const EndDocPrinter = winspool.func('int __stdcall EndDocPrinter(void *hPrinter)');
  return {
    PRINTER_INFO_2W,
    GetLastError,
    OpenPrinterW,
    ClosePrinter,
    GetPrinterW,
    EnumPrintersW,
    GetDefaultPrinterW,
    StartDocPrinterW,
    StartPagePrinter,
    WritePrinter,
    EndPagePrinter,
    EndDocPrinter,
  };
}
type SpoolerApi = ReturnType<typeof bindSpoolerApi>;

function fail(api: SpoolerApi, call: string): never {
  throw new SpoolerError(call, api.GetLastError() as number);
}

function toPrinter(info: Record<string, unknown>): SpoolerPrinter {
  return {
    name: String(info.pPrinterName ?? ''),
    port: String(info.pPortName ?? ''),
    driver: String(info.pDriverName ?? ''),
    status: Number(info.Status),
    attributes: Number(info.Attributes),
    jobs: Number(info.cJobs),
  };
}

/** Calls `call(buffer, size, needed)` until the buffer is large enough (the spooler says how large). */
function withBuffer(
  api: SpoolerApi,
  name: string,
  call: (buffer: Buffer | null, size: number, needed: number[]) => unknown,
): Buffer | null {
  const needed = [0];
  if (call(null, 0, needed)) return null;
  for (let tries = 0; tries < 4; tries++) {
    const code = api.GetLastError() as number;
    if (code !== ERROR_INSUFFICIENT_BUFFER && needed[0] === 0) throw new SpoolerError(name, code);
    const buffer = Buffer.alloc(Math.max(needed[0] ?? 0, 1));
    if (call(buffer, buffer.length, needed)) return buffer;
  }
  return fail(api, name);
}

/** A printer opened by name: its information, a RAW document, and its close. */
function openPrinter(k: Koffi, api: SpoolerApi, name: string): SpoolerDocumentTarget {
  const { OpenPrinterW, GetPrinterW, StartDocPrinterW, StartPagePrinter, WritePrinter, EndPagePrinter } = api;
  const { EndDocPrinter, ClosePrinter, PRINTER_INFO_2W } = api;
  const handle: unknown[] = [null];
  const ok = OpenPrinterW(name, handle, null);
  if (!ok) fail(api, 'OpenPrinterW');
  const printer = handle[0];
  let closed = false;
  return {
    info() {
      const buffer = withBuffer(api, 'GetPrinterW', (buf, size, needed) => GetPrinterW(printer, 2, buf, size, needed));
      if (!buffer) return fail(api, 'GetPrinterW');
      return toPrinter(k.decode(k.address(buffer), PRINTER_INFO_2W) as Record<string, unknown>);
    },
    async printRaw(documentName, bytes) {
      const job = StartDocPrinterW(printer, 1, {
        pDocName: documentName,
        pOutputFile: null,
        pDatatype: 'RAW',
      }) as number;
      if (!job) fail(api, 'StartDocPrinterW');
      try {
        if (!StartPagePrinter(printer)) fail(api, 'StartPagePrinter');
        for (let offset = 0; offset < bytes.length;) {
          const chunk = bytes.subarray(offset);
          const written = [0];
          if (!WritePrinter(printer, chunk, chunk.length, written)) fail(api, 'WritePrinter');
          if (!written[0]) throw new SpoolerError('WritePrinter', 0);
          offset += written[0];
        }
        if (!EndPagePrinter(printer)) fail(api, 'EndPagePrinter');
      } catch (err) {
        EndDocPrinter(printer);
        throw err;
      }
      if (!EndDocPrinter(printer)) fail(api, 'EndDocPrinter');
      return job;
    },
    close() {
      if (closed) return;
      closed = true;
      ClosePrinter(printer);
    },
  };
}
