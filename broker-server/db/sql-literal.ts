/**
 * Values written into SQLite statement text, for the scripts that run many statements in one call
 * (db/sql-client.ts `SqliteSession#execTransaction`: sqlite3_exec binds no parameters). Nothing is quoted:
 * a string becomes the hex of its UTF-8 bytes, `CAST(X'…' AS TEXT)`, so no character of it (a quote, a
 * semicolon, NUL) is ever read as SQL; a number must be a safe integer; null is NULL. No other way of
 * putting a value into SQL text is used.
 */

export type SqlLiteralValue = string | number | null;

export function sqliteLiteral(value: SqlLiteralValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`not a safe integer for SQL text: ${String(value)}`);
    return String(value);
  }
  if (typeof value !== 'string') throw new TypeError(`no SQL literal for a ${typeof value}`);
  return `CAST(X'${Buffer.from(value, 'utf8').toString('hex')}' AS TEXT)`;
}

/** `(a, b, …)`: one row of a VALUES list. */
export const sqliteTuple = (values: readonly SqlLiteralValue[]): string => `(${values.map(sqliteLiteral).join(', ')})`;
