/**
 * Reads ESC/POS bytes back into receipts: the text in the selected code page, the commands, and any
 * byte that is neither text nor a command this agent sends. Used by the tests and the virtual printer.
 */
import { CODE_PAGES, type CodePage, decodeText } from '../../protocol/codepages';

export interface DecodedReceipt {
  /** Code page selected with ESC t, by name (`PC858`), or `ESC t n` when n is not one Printhop knows. */
  codePage: string | null;
  lines: string[];
  text: string;
  cut: boolean;
  commands: string[];
  /** Lines printed in a character size other than normal (`GS ! n`, n ≠ 0): the pairing code. */
  large: string[];
}

export interface DecodeResult {
  receipts: DecodedReceipt[];
  /** Control bytes in the stream that are not a command Printhop emits: a sign of injected commands. */
  unexpected: string[];
}

const byEscT = new Map<number, CodePage>(Object.values(CODE_PAGES).map((c) => [c.escT, c]));
const hex = (b: number) => `0x${b.toString(16).padStart(2, '0')}`;

export function decodeEscPos(bytes: Buffer): DecodeResult {
  const receipts: DecodedReceipt[] = [];
  const unexpected: string[] = [];
  let current: DecodedReceipt | null = null;
  let codePage: CodePage = CODE_PAGES.PC437;
  let text: number[] = [];
  let size = 0;

  const receipt = (): DecodedReceipt => {
    if (!current) {
      current = { codePage: null, lines: [], text: '', cut: false, commands: [], large: [] };
      receipts.push(current);
    }
    return current;
  };
  const flushLine = () => {
    const line = decodeText(codePage, Buffer.from(text));
    receipt().lines.push(line);
    if (size !== 0) receipt().large.push(line);
    text = [];
  };

  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const next = bytes[i + 1];
    if (b === 0x1b && next === 0x40) {
      // ESC @ starts a receipt (printer reset).
      if (text.length) flushLine();
      current = null;
      size = 0;
      receipt().commands.push('ESC @');
      i += 2;
    } else if (b === 0x1c && next === 0x2e) {
      receipt().commands.push('FS .');
      i += 2;
    } else if (b === 0x1b && next === 0x74 && i + 2 < bytes.length) {
      const n = bytes[i + 2]!;
      const page = byEscT.get(n);
      if (page) codePage = page;
      receipt().codePage = page ? page.name : `ESC t ${n}`;
      receipt().commands.push(`ESC t ${n}`);
      i += 3;
    } else if (b === 0x1b && next === 0x61 && i + 2 < bytes.length) {
      // ESC a n: justification (the pairing receipt centres its code).
      receipt().commands.push(`ESC a ${bytes[i + 2]!}`);
      i += 3;
    } else if (b === 0x1d && next === 0x21 && i + 2 < bytes.length) {
      // GS ! n: character size.
      if (text.length) flushLine();
      size = bytes[i + 2]!;
      receipt().commands.push(`GS ! ${size}`);
      i += 3;
    } else if (b === 0x1d && next === 0x56 && i + 2 < bytes.length) {
      const m = bytes[i + 2]!;
      if (text.length) flushLine();
      const r = receipt();
      r.cut = true;
      r.commands.push(`GS V ${m}`);
      i += m === 0x41 || m === 0x42 || m === 65 || m === 66 ? 4 : 3;
    } else if (b === 0x0a) {
      flushLine();
      i += 1;
    } else if (b < 0x20 || b === 0x7f) {
      unexpected.push(`${hex(b)} at ${i}`);
      receipt().commands.push(`unexpected ${hex(b)}`);
      i += 1;
    } else {
      text.push(b);
      i += 1;
    }
  }
  if (text.length) flushLine();
  for (const r of receipts) {
    while (r.lines.length && r.lines[r.lines.length - 1] === '') r.lines.pop();
    r.text = r.lines.join('\n');
  }
  return { receipts, unexpected };
}
