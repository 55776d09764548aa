/**
 * The receipt as lines of text, shared by the agent (which encodes and prints them) and the page
 * (which previews them), so that what the page shows is what the paper gets.
 */
import { canEncode, CODE_PAGES, type CodePageName, DEFAULT_CODE_PAGE } from './codepages';

export const RECEIPT_TITLE = 'MESSAGE À IMPRIMER';
export const PAPER_PRESETS = { '58mm': 32, '80mm': 48 } as const;
export const DEFAULT_COLUMNS = PAPER_PRESETS['80mm'];
const TAB_STOP = 4;

export interface ReceiptInput {
  content: string;
  createdAt: string | Date;
}

export interface LayoutOptions {
  columns?: number;
  codePage?: CodePageName;
  /** IANA zone for the date line; the machine's local zone when absent. */
  timeZone?: string;
}

/** Stand-ins for characters a code page lacks; anything else it lacks becomes `?`. */
const TRANSLITERATIONS: Record<string, string> = {
  'œ': 'oe', 'Œ': 'OE', 'æ': 'ae', 'Æ': 'AE', 'ß': 'ss',
  '‘': "'", '’': "'", '‚': "'", '‛': "'", '′': "'",
  '“': '"', '”': '"', '„': '"', '‟': '"', '″': '"', '«': '"', '»': '"',
  '–': '-', '—': '-', '‐': '-', '‑': '-', '−': '-',
  '…': '...', '•': '*', '·': '.', '€': 'EUR', '™': 'TM', '©': '(c)', '®': '(R)',
  '\u00a0': ' ', '\u202f': ' ', '\u2007': ' ', '\u2009': ' ', '\u200a': ' ', '\u2002': ' ', '\u2003': ' ',
};
const INVISIBLE = /[\u200b-\u200d\u2060\ufeff\u00ad]/g;

/**
 * Makes user text safe and printable: NFC, no control characters (ESC, GS, DLE, FS, ... become nothing,
 * so they can never reach the printer as commands), tabs expanded later, every character either in the
 * code page, replaced by a stand-in, or `?`.
 */
export function sanitizeContent(content: string, codePage: CodePageName = DEFAULT_CODE_PAGE): string {
  const table = CODE_PAGES[codePage];
  const text = content.normalize('NFC').replace(/\r\n?/g, '\n').replace(INVISIBLE, '');
  let out = '';
  for (const char of text) {
    if (char === '\n' || char === '\t') {
      out += char;
      continue;
    }
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) {
      if (code === 0x2028 || code === 0x2029) out += '\n';
      continue;
    }
    if (canEncode(table, char)) out += char;
    else if (TRANSLITERATIONS[char] !== undefined) out += TRANSLITERATIONS[char];
    else {
      // Letters with accents the table lacks keep their base letter (ő → o) rather than turning into ?.
      const base = char.normalize('NFD').replace(/\p{M}/gu, '');
      out += base && base !== char && [...base].every((c) => canEncode(table, c)) ? base : '?';
    }
  }
  return out;
}

function expandTabs(line: string): string {
  let out = '';
  for (const char of line) {
    if (char === '\t') out += ' '.repeat(TAB_STOP - (out.length % TAB_STOP));
    else out += char;
  }
  return out;
}

/** Word wrap by characters: a word is split only when it is longer than a whole line. */
export function wrapLine(line: string, columns: number): string[] {
  const chars = [...expandTabs(line).trimEnd()];
  if (chars.length === 0) return [''];
  const lines: string[] = [];
  let start = 0;
  while (chars.length - start > columns) {
    let cut = -1;
    for (let i = start + columns; i > start; i--) {
      if (chars[i] === ' ') {
        cut = i;
        break;
      }
    }
    if (cut === -1) {
      lines.push(chars.slice(start, start + columns).join(''));
      start += columns;
    } else {
      lines.push(chars.slice(start, cut).join('').trimEnd());
      start = cut;
      while (chars[start] === ' ') start++;
    }
  }
  if (start < chars.length) lines.push(chars.slice(start).join(''));
  return lines;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** `YYYY-MM-DD HH:MM` in the given zone (local time by default). */
const dateFormats = new Map<string, Intl.DateTimeFormat>();

export function formatReceiptDate(date: Date, timeZone?: string): string {
  // Building an Intl.DateTimeFormat costs far more than using one: one per zone, kept.
  let format = dateFormats.get(timeZone ?? '');
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
    });
    dateFormats.set(timeZone ?? '', format);
  }
  const parts = format.formatToParts(date);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return `${get('year')}-${pad(get('month'))}-${pad(get('day'))} ${pad(get('hour'))}:${pad(get('minute'))}`;
}

/** The receipt's lines, each at most `columns` characters, already in the code page's repertoire. */
export function layoutReceipt(input: ReceiptInput, options: LayoutOptions = {}): string[] {
  const columns = options.columns ?? DEFAULT_COLUMNS;
  const codePage = options.codePage ?? DEFAULT_CODE_PAGE;
  const rule = '-'.repeat(columns);
  const body = sanitizeContent(input.content, codePage)
    .split('\n')
    .flatMap((line) => wrapLine(line, columns));
  while (body.length > 1 && body[body.length - 1] === '') body.pop();
  while (body.length > 1 && body[0] === '') body.shift();
  const created = input.createdAt instanceof Date ? input.createdAt : new Date(input.createdAt);
  return [
    rule,
    ...wrapLine(sanitizeContent(RECEIPT_TITLE, codePage), columns),
    '',
    ...body,
    '',
    ...wrapLine(`Date: ${formatReceiptDate(created, options.timeZone)}`, columns),
    rule,
  ];
}
