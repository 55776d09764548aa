/**
 * Values written into SQLite statement text, for the scripts that run many statements in one call
 * (db/sql-client.ts `SqliteSession#execTransaction`: sqlite3_exec binds no parameters). A value alone is not
 * quoted: a string becomes the hex of its UTF-8 bytes, `CAST(X'…' AS TEXT)`, so no character of it (a quote, a
 * semicolon, NUL) is ever read as SQL; a number must be a safe integer; null is NULL. Rows of values are one
 * JSON document in one quoted string (`sqliteJsonRows`), in which JSON.stringify has escaped every control
 * character and the quote is doubled. No other way of putting a value into SQL text is used.
 */

export type SqlLiteralValue = string | number | null;

/** `value` when it may go into SQL text (null, a safe integer, a string); anything else throws. */
function checked(value: SqlLiteralValue): SqlLiteralValue {
  if (value === null || typeof value === 'string') return value;
  if (typeof value !== 'number') throw new TypeError(`no SQL literal for a ${typeof value}`);
  if (!Number.isSafeInteger(value)) throw new TypeError(`not a safe integer for SQL text: ${String(value)}`);
  return value;
}

export function sqliteLiteral(value: SqlLiteralValue): string {
  const v = checked(value);
  if (v === null) return 'NULL';
  if (typeof v === 'number') return String(v);
  return `CAST(X'${Buffer.from(v, 'utf8').toString('hex')}' AS TEXT)`;
}

/** String.prototype.isWellFormed and toWellFormed: ES2024, in Node 20, not in the project's ES2023 lib. */
type WellFormedString = { isWellFormed(): boolean; toWellFormed(): string };

/**
 * Rows as ONE literal: a JSON array of arrays, in single quotes (quotes doubled), for `json_each` to read,
 * each column `value ->> i`. JSON.stringify writes every control character (NUL included) as an escape, so the
 * only character of SQL meaning inside the quotes is the quote, doubled. A string with a lone surrogate half
 * goes as its well-formed form (U+FFFD), as `sqliteLiteral`'s UTF-8 does. Values: as `sqliteLiteral`'s. One
 * string token to parse, where a VALUES list of `sqliteLiteral`s gives SQLite an expression per value to parse
 * and plan.
 */
export function sqliteJsonRows(rows: ReadonlyArray<readonly SqlLiteralValue[]>): string {
  const values = rows.map((row) =>
    row.map((value) => {
      const v = checked(value);
      if (typeof v !== 'string') return v;
      const text = v as unknown as WellFormedString;
      return text.isWellFormed() ? v : text.toWellFormed();
    }),
  );
  return `'${JSON.stringify(values).replaceAll("'", "''")}'`;
}
