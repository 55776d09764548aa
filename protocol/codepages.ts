/** Printer code pages Printhop can select with ESC t, and how text is encoded for each. */
import iconv from 'iconv-lite';

export interface CodePage {
  name: string;
  /** The `n` of ESC t n on Epson-compatible printers. */
  escT: number;
  /** iconv-lite's name for the table. */
  iconv: string;
}

export const CODE_PAGES = {
  PC437: { name: 'PC437', escT: 0, iconv: 'cp437' },
  PC850: { name: 'PC850', escT: 2, iconv: 'cp850' },
  PC860: { name: 'PC860', escT: 3, iconv: 'cp860' },
  PC863: { name: 'PC863', escT: 4, iconv: 'cp863' },
  WPC1252: { name: 'WPC1252', escT: 16, iconv: 'windows-1252' },
  PC858: { name: 'PC858', escT: 19, iconv: 'cp858' },
} as const satisfies Record<string, CodePage>;

export type CodePageName = keyof typeof CODE_PAGES;
export const CODE_PAGE_NAMES = Object.keys(CODE_PAGES) as CodePageName[];
export const DEFAULT_CODE_PAGE: CodePageName = 'PC858';

export function isCodePageName(value: unknown): value is CodePageName {
  return typeof value === 'string' && value in CODE_PAGES;
}

/**
 * A code page's two tables: every UTF-16 unit to its byte (`?` where it has none), and each byte to its
 * character. Made once per code page from iconv-lite's own table, in its order (of two bytes for one
 * character the later one wins), so that encoding with it gives iconv-lite's bytes, one lookup a character
 * instead of an encoder per call (test/agent/receipt.unit.test.ts compares all 65,536 units).
 */
interface Tables {
  encode: Uint8Array;
  decode: string;
}
const QUESTION_MARK = 0x3f;
const tables = new Map<string, Tables>(); // one per code page, at most CODE_PAGE_NAMES.length

function tablesOf(codePage: CodePage): Tables {
  let found = tables.get(codePage.iconv);
  if (!found) {
    const bytes = Buffer.alloc(256);
    for (let b = 0; b < 256; b++) bytes[b] = b;
    const decode = iconv.decode(bytes, codePage.iconv);
    if (decode.length !== 256) throw new Error(`${codePage.name} is not a single-byte code page`);
    const encode = new Uint8Array(65536).fill(QUESTION_MARK);
    for (let b = 0; b < 256; b++) encode[decode.charCodeAt(b)] = b;
    tables.set(codePage.iconv, (found = { encode, decode }));
  }
  return found;
}

/** True when `char` (one code point) has its own byte in the code page. */
export function canEncode(codePage: CodePage, char: string): boolean {
  const { encode, decode } = tablesOf(codePage);
  // A character outside the BMP is two units, each `?`: never its own byte (as iconv-lite encodes it).
  return char.length === 1 && decode[encode[char.charCodeAt(0)]!] === char;
}

/** The number of bytes encodeInto writes for `text`: one per UTF-16 unit, as iconv-lite's single-byte encoder. */
export const encodedLength = (text: string): number => text.length;

/** Writes `text` in the code page into `target` at `offset`, as iconv.encode would; returns the offset after it. */
export function encodeInto(codePage: CodePage, text: string, target: Uint8Array, offset: number): number {
  const { encode } = tablesOf(codePage);
  for (let i = 0; i < text.length; i++) target[offset++] = encode[text.charCodeAt(i)]!;
  return offset;
}

export function decodeText(codePage: CodePage, bytes: Buffer): string {
  return iconv.decode(bytes, codePage.iconv);
}
