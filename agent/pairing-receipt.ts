/**
 * The pairing receipt: what the printer prints while its agent waits for the admin, in French, with the
 * code in large characters (ESC/POS `GS ! 0x11`, double width and height, centred), the server's address
 * and the code's expiry. Laid out like the other receipts (protocol/receipt-layout.ts: wrapped, in the
 * code page's repertoire), turned into bytes next to agent/receipt.ts.
 */
import escpos from 'escpos';
import { CODE_PAGES } from '../protocol/codepages';
import { formatPairingCode } from '../protocol/pairing';
import { formatReceiptDate, sanitizeContent, wrapLine } from '../protocol/receipt-layout';
import type { ReceiptOptions } from './receipt';

export const PAIRING_RECEIPT_TITLE = 'APPAIRAGE PRINTHOP';

export interface PairingReceiptInput {
  code: string;
  /** The server's address, as the agent reached it (`http://host:3000`). */
  server: string;
  expiresAt: string | Date;
  machine: string;
}

const ESC = 0x1b;
const FS = 0x1c;
const GS = 0x1d;

/** The receipt's parts as lines: before the code, the code, after it. */
export function layoutPairingReceipt(
  input: PairingReceiptInput,
  options: ReceiptOptions,
): { before: string[]; code: string; after: string[] } {
  const { columns, codePage } = options;
  const text = (s: string) => wrapLine(sanitizeContent(s, codePage), columns);
  const rule = '-'.repeat(columns);
  const expires = input.expiresAt instanceof Date ? input.expiresAt : new Date(input.expiresAt);
  return {
    before: [
      rule,
      ...text(PAIRING_RECEIPT_TITLE),
      '',
      ...text('Pour relier cette imprimante à Printhop, tapez ce code sur la page d’administration :'),
      '',
    ],
    code: formatPairingCode(input.code),
    after: [
      '',
      ...text(`Page : ${input.server}/admin`),
      ...text(`Valable jusqu’à : ${formatReceiptDate(expires, options.timeZone)}`),
      ...text(`Machine : ${input.machine}`),
      ...text('Passé ce délai, un nouveau code sera imprimé.'),
      rule,
    ],
  };
}

/** The receipt as bytes: ESC/POS, or plain UTF-8 text for a printing system (CUPS) that does its own fonts. */
export function renderPairingReceipt(
  input: PairingReceiptInput,
  options: ReceiptOptions & { format: 'escpos' | 'text' },
): Buffer {
  const { before, code, after } = layoutPairingReceipt(input, options);
  if (options.format === 'text') return Buffer.from([...before, code, ...after].join('\n') + '\n', 'utf8');
  const codePage = CODE_PAGES[options.codePage];
  const chunks: Buffer[] = [];
  const adapter = {
    open: (cb?: (e?: Error | null) => void) => cb?.(null),
    write: (data: Buffer, cb?: (e?: Error | null) => void) => {
      chunks.push(Buffer.from(data));
      cb?.(null);
    },
    close: (cb?: (e?: Error | null) => void) => cb?.(null),
  };
  const printer = new escpos.Printer(adapter, { encoding: codePage.iconv });
  printer
    .hardware('init')
    .print(Buffer.from([FS, 0x2e]))
    .print(Buffer.from([ESC, 0x74, codePage.escT]));
  for (const line of before) printer.text(line);
  printer
    .print(Buffer.from([ESC, 0x61, 1])) // ESC a 1: centred
    .print(Buffer.from([GS, 0x21, 0x11])); // GS ! 0x11: double width and height
  printer.text(code);
  printer.print(Buffer.from([GS, 0x21, 0])).print(Buffer.from([ESC, 0x61, 0]));
  for (const line of after) printer.text(line);
  printer.cut(false, 4);
  printer.flush();
  return Buffer.concat(chunks);
}
