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

const encodableCache = new Map<string, Map<string, boolean>>();

/** True when `char` (one code point) has its own byte in the code page. */
export function canEncode(codePage: CodePage, char: string): boolean {
  let cache = encodableCache.get(codePage.iconv);
  if (!cache) encodableCache.set(codePage.iconv, (cache = new Map()));
  let known = cache.get(char);
  if (known === undefined) {
    const bytes = iconv.encode(char, codePage.iconv);
    known = iconv.decode(bytes, codePage.iconv) === char;
    cache.set(char, known);
  }
  return known;
}

export function decodeText(codePage: CodePage, bytes: Buffer): string {
  return iconv.decode(bytes, codePage.iconv);
}
