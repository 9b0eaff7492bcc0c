/**
 * How the SQL commands print: results as psql-style aligned tables, errors with a caret under the
 * position the server reported.
 */
import type { SqlClientError, SqlClientResult } from './sql-client.ts';

const NUMERIC_TYPES = new Set(['integer', 'bigint', 'smallint', 'real', 'double precision', 'numeric']);

/**
 * Formats a result like psql: a header, a ruler, right-aligned numbers, `(N rows)`; a statement
 * without columns prints its command tag (`INSERT 0 3`).
 */
export function formatResultTable(result: SqlClientResult): string {
  if (result.columns.length === 0) return result.command;
  const cells = result.rows.map((r) => r.map((v) => (v === null ? '' : v.replace(/\n/g, '\\n'))));
  const widths = result.columns.map((c, i) =>
    Math.max(width(c.name), ...cells.map((r) => width(r[i] ?? ''))),
  );
  const numeric = result.columns.map((c) => NUMERIC_TYPES.has(c.type.replace(/\(.*$/, '')));
  const header = result.columns.map((c, i) => center(c.name, widths[i]!)).join(' | ');
  const ruler = widths.map((w) => '-'.repeat(w + 2)).join('+');
  const lines = cells.map((r) =>
    r.map((v, i) => (numeric[i] ? v.padStart(widths[i]!) : v.padEnd(widths[i]!))).join(' | '),
  );
  const n = result.rows.length;
  return [
    ` ${header} `,
    ruler,
    ...lines.map((l) => ` ${l}`.trimEnd()),
    `(${n} ${n === 1 ? 'row' : 'rows'})`,
  ].join('\n');
}

function width(s: string): number {
  return [...s].length;
}

function center(s: string, w: number): string {
  const pad = w - width(s);
  const left = Math.floor(pad / 2);
  return `${' '.repeat(left)}${s}${' '.repeat(pad - left)}`;
}

/** Formats a result as JSON lines-friendly JSON: `{columns, rows, rowCount, command}`. */
export function formatResultJson(result: SqlClientResult): string {
  return JSON.stringify({
    columns: result.columns,
    rows: result.rows,
    rowCount: result.rowCount,
    command: result.command,
  });
}

/**
 * Formats an error like psql: `ERROR:  message`, then for a position the statement line it falls
 * on with a caret under the character, then `HINT:`.
 *
 * @example
 * ERROR:  syntax error at line 1, column 8: expected an expression but found 'FROM'
 * LINE 1: SELECT FROM t
 *                ^
 */
export function formatSqlError(err: SqlClientError, sql: string): string {
  const out = [`ERROR:  ${err.message}`];
  if (err.position !== undefined && err.position >= 1) {
    const chars = [...sql];
    const before = chars.slice(0, err.position - 1).join('');
    const lineNo = before.split('\n').length;
    const lineStart = before.lastIndexOf('\n') + 1;
    const column = width(before.slice(lineStart));
    const text = sql.split('\n')[lineNo - 1] ?? '';
    const prefix = `LINE ${lineNo}: `;
    out.push(`${prefix}${text}`, `${' '.repeat(prefix.length + column)}^`);
  }
  if (err.hint) out.push(`HINT:  ${err.hint}`);
  return out.join('\n');
}
