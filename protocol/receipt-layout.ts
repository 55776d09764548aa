/**
 * The receipt as lines of text, shared by the agent (which encodes and prints them) and the page
 * (which previews them), so that what the page shows is what the paper gets.
 */
import { canEncode, type CodePage, CODE_PAGES, type CodePageName, DEFAULT_CODE_PAGE } from './codepages';

export const RECEIPT_TITLE = 'MESSAGE À IMPRIMER';
/** Characters per line in font A: 58 mm paper, 80 mm paper, and 80 mm on printers such as the Epson TM-T88V. */
export const PAPER_PRESETS = { '58mm': 32, '80mm': 48, '80mm-42': 42 } as const;
export const DEFAULT_COLUMNS = PAPER_PRESETS['80mm'];
const TAB_STOP = 4;
/** Longer runs of empty lines are shortened to this: a message of newlines must not unroll a metre of paper. */
export const MAX_BLANK_LINES = 2;

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
  œ: 'oe',
  Œ: 'OE',
  æ: 'ae',
  Æ: 'AE',
  ß: 'ss',
  ẞ: 'SS',
  ł: 'l',
  Ł: 'L',
  đ: 'd',
  Đ: 'D',
  ð: 'd',
  Ð: 'D',
  þ: 'th',
  Þ: 'Th',
  ø: 'o',
  Ø: 'O',
  ı: 'i',
  ħ: 'h',
  '‘': "'",
  '’': "'",
  '‚': "'",
  '‛': "'",
  '′': "'",
  ʼ: "'",
  '`': "'",
  '´': "'",
  '“': '"',
  '”': '"',
  '„': '"',
  '‟': '"',
  '″': '"',
  '«': '"',
  '»': '"',
  '‹': '<',
  '›': '>',
  '–': '-',
  '—': '-',
  '‐': '-',
  '‑': '-',
  '‒': '-',
  '―': '-',
  '−': '-',
  '…': '...',
  '•': '*',
  '·': '.',
  '€': 'EUR',
  '£': 'GBP',
  '¥': 'JPY',
  '¢': 'c',
  '™': 'TM',
  '©': '(c)',
  '®': '(R)',
  '×': 'x',
  '÷': '/',
  '°': 'o',
  '±': '+/-',
  '½': '1/2',
  '¼': '1/4',
  '¾': '3/4',
  '§': 'S',
  '¶': 'P',
  '¡': '!',
  '¿': '?',
  '⁄': '/',
  '→': '->',
  '←': '<-',
  '⇒': '=>',
  '✓': 'v',
  '✔': 'v',
  '✗': 'x',
  '✘': 'x',
  '\u00a0': ' ',
  '\u202f': ' ',
  '\u2007': ' ',
  '\u2009': ' ',
  '\u200a': ' ',
  '\u2002': ' ',
  '\u2003': ' ',
  '\u3000': ' ',
};
const INVISIBLE = /[\u200b-\u200d\u2060\ufeff\u00ad]/g;
const PLAIN_ASCII = /^[\x20-\x7e\n\t]*$/;
const asciiFitsCache = new Map<string, boolean>();

/** True when the code page has every printable ASCII character (all of Printhop's do; checked, not assumed). */
function asciiFits(table: CodePage): boolean {
  let fits = asciiFitsCache.get(table.iconv);
  if (fits === undefined) {
    fits = true;
    for (let code = 0x20; code <= 0x7e; code++) if (!canEncode(table, String.fromCharCode(code))) fits = false;
    asciiFitsCache.set(table.iconv, fits);
  }
  return fits;
}

/**
 * Makes user text safe and printable: NFC, no control characters (ESC, GS, DLE, FS, ... become nothing,
 * so they can never reach the printer as commands), tabs expanded later, every character either in the
 * code page, replaced by a stand-in, or `?`.
 */
export function sanitizeContent(content: string, codePage: CodePageName = DEFAULT_CODE_PAGE): string {
  const table = CODE_PAGES[codePage];
  // Most receipts are printable ASCII (and newlines, tabs): NFC leaves it as it is and every code page has
  // it, so the loop below would copy it character by character (a tenth of the agent's allocations per job).
  if (PLAIN_ASCII.test(content) && asciiFits(table)) return content;
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
    // Every other space (no-break, thin, ideographic...) is a plain space, even where the table has it.
    if (char !== ' ' && /^\s$/u.test(char)) out += ' ';
    else if (canEncode(table, char)) out += char;
    else out += standIn(char, table);
  }
  return out;
}

function standIn(char: string, table: CodePage): string {
  // A combining mark NFC could not merge (q̃) stays off the paper rather than printing as ?.
  if (/^\p{M}$/u.test(char)) return '';
  const fits = (s: string) => [...s].every((c) => canEncode(table, c));
  const listed = TRANSLITERATIONS[char];
  if (listed !== undefined && fits(listed)) return listed;
  // Accented letters the table lacks keep their base letter (ő → o); compatibility forms
  // (ﬁ, ², full-width Ａ, ①) their plain reading.
  for (const form of ['NFD', 'NFKD'] as const) {
    const plain = char.normalize(form).replace(/\p{M}/gu, '');
    if (!plain || plain === char) continue;
    const parts = [...plain].map((c) => (canEncode(table, c) ? c : TRANSLITERATIONS[c]));
    if (parts.every((part) => part !== undefined && fits(part))) return parts.join('');
  }
  if (listed !== undefined) return [...listed].map((c) => (canEncode(table, c) ? c : '?')).join('');
  return '?';
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
  // A line that fits as it is (no tab to expand; UTF-16 length ≥ characters): no array of characters.
  if (line.length <= columns && !line.includes('\t')) return [line.trimEnd()];
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
  // The process's own zone (no zone given, or the one the TZ variable names) needs no Intl: Date's local fields
  // are that zone's. The first Intl formatter loads ICU's locale data, about 8 MB of an agent's memory, and
  // formatToParts costs some 40 µs a receipt (issue 22); another zone still takes one.
  // eslint-disable-next-line no-restricted-syntax -- the zone node itself runs in (Date's), not a Printhop setting
  if ((timeZone === undefined || timeZone === process.env.TZ) && !Number.isNaN(date.getTime()))
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
  // Building an Intl.DateTimeFormat costs far more than using one: one per zone, kept.
  let format = dateFormats.get(timeZone ?? '');
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    dateFormats.set(timeZone ?? '', format);
  }
  const parts = format.formatToParts(date);
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return `${get('year')}-${pad(get('month'))}-${pad(get('day'))} ${pad(get('hour'))}:${pad(get('minute'))}`;
}

/**
 * User text as lines of at most `columns` characters: wrapped by words, tabs expanded, leading and
 * trailing empty lines dropped and longer runs of empty lines shortened to MAX_BLANK_LINES.
 */
export function layoutBody(content: string, columns: number, codePage: CodePageName = DEFAULT_CODE_PAGE): string[] {
  const lines: string[] = [];
  let blanks = 0;
  for (const line of sanitizeContent(content, codePage)
    .split('\n')
    .flatMap((l) => wrapLine(l, columns))) {
    if (line === '') {
      if (lines.length === 0 || ++blanks > MAX_BLANK_LINES) continue;
    } else blanks = 0;
    lines.push(line);
  }
  while (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  return lines.length ? lines : [''];
}

const titles = new Map<string, string[]>();

/** The title's lines for a paper width and code page (the same for every receipt: made once). */
function titleLines(columns: number, codePage: CodePageName): string[] {
  const key = `${columns}/${codePage}`;
  let lines = titles.get(key);
  if (!lines) titles.set(key, (lines = wrapLine(sanitizeContent(RECEIPT_TITLE, codePage), columns)));
  return lines;
}

/** The receipt's lines, each at most `columns` characters, already in the code page's repertoire. */
export function layoutReceipt(input: ReceiptInput, options: LayoutOptions = {}): string[] {
  const columns = options.columns ?? DEFAULT_COLUMNS;
  const codePage = options.codePage ?? DEFAULT_CODE_PAGE;
  const rule = '-'.repeat(columns);
  const body = layoutBody(input.content, columns, codePage);
  const created = input.createdAt instanceof Date ? input.createdAt : new Date(input.createdAt);
  return [
    rule,
    ...titleLines(columns, codePage),
    '',
    ...body,
    '',
    ...wrapLine(`Date: ${formatReceiptDate(created, options.timeZone)}`, columns),
    rule,
  ];
}

export const TEST_RECEIPT_TITLE = 'PAGE DE TEST PRINTHOP';
/** What a test print shows of the code page: French accents first, then characters most tables lack. */
export const TEST_CHARACTERS = ['àâäçéèêëîïôöùûüÿ', 'ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜ', '€ œ Œ « » ’ — … ½ °'];

export interface TestReceiptInput {
  printerId: string;
  agentVersion: string;
  /** The transport, as the agent describes it (`tcp://…`, `/dev/usb/lp0`). */
  printer: string;
  createdAt: string | Date;
}

/** Two lines numbering every column: tens above, units below; the last digit sits in the last column. */
export function columnRuler(columns: number): string[] {
  let tens = '';
  let units = '';
  for (let column = 1; column <= columns; column++) {
    tens += column % 10 === 0 ? String((column / 10) % 10) : ' ';
    units += String(column % 10);
  }
  return [tens.trimEnd(), units];
}

/** The test print: the printer's settings, the code page's accented characters and the column ruler. */
export function layoutTestReceipt(input: TestReceiptInput, options: LayoutOptions = {}): string[] {
  const columns = options.columns ?? DEFAULT_COLUMNS;
  const codePage = options.codePage ?? DEFAULT_CODE_PAGE;
  const created = input.createdAt instanceof Date ? input.createdAt : new Date(input.createdAt);
  const text = (s: string) => wrapLine(sanitizeContent(s, codePage), columns);
  const rule = '-'.repeat(columns);
  return [
    rule,
    ...text(TEST_RECEIPT_TITLE),
    '',
    ...text(`Imprimante : ${input.printerId}`),
    ...text(`Agent : ${input.agentVersion}`),
    ...text(`Sortie : ${input.printer}`),
    ...text(`Code page : ${codePage} (ESC t ${CODE_PAGES[codePage].escT})`),
    ...text(`Colonnes : ${columns}`),
    ...text(`Date : ${formatReceiptDate(created, options.timeZone)}`),
    '',
    ...text('Caractères :'),
    ...TEST_CHARACTERS.flatMap(text),
    '',
    ...text('Règle :'),
    ...columnRuler(columns),
    rule,
  ];
}
