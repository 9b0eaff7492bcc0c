/**
 * Splits a simple-query string into its statements at top-level semicolons, skipping quoted
 * strings, quoted identifiers, dollar-quoted strings and comments, so each statement can be run
 * (and answered) on its own as PostgreSQL does.
 */

/** One statement of a query string, and where it starts in it. */
export interface StatementText {
  readonly text: string;
  readonly offset: number;
}

function skipQuoted(sql: string, i: number, quote: string, backslash: boolean): number {
  let j = i + 1;
  while (j < sql.length) {
    const c = sql[j]!;
    if (backslash && c === '\\') j += 2;
    else if (c === quote) {
      if (sql[j + 1] === quote) j += 2;
      else return j + 1;
    } else j++;
  }
  return j;
}

function skipBlockComment(sql: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < sql.length) {
    if (sql.startsWith('/*', j)) {
      depth++;
      j += 2;
    } else if (sql.startsWith('*/', j)) {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else j++;
  }
  return j;
}

function skipDollar(sql: string, i: number): number {
  const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 64));
  if (m === null) return i + 1;
  const end = sql.indexOf(m[0], i + m[0].length);
  return end < 0 ? sql.length : end + m[0].length;
}

/** The end of the token starting at `i` when it is a string, identifier or comment; else i + 1. */
function skipToken(sql: string, i: number): number {
  const c = sql[i]!;
  if (c === "'") {
    const escaped = i > 0 && (sql[i - 1] === 'E' || sql[i - 1] === 'e') && !/\w/.test(sql[i - 2] ?? '');
    return skipQuoted(sql, i, "'", escaped);
  }
  if (c === '"') return skipQuoted(sql, i, '"', false);
  if (c === '-' && sql[i + 1] === '-') {
    const nl = sql.indexOf('\n', i);
    return nl < 0 ? sql.length : nl + 1;
  }
  if (c === '/' && sql[i + 1] === '*') return skipBlockComment(sql, i);
  if (c === '$' && !/\w/.test(sql[i - 1] ?? '')) return skipDollar(sql, i);
  return i + 1;
}

/** True when a statement holds only whitespace and comments. */
export function isBlank(sql: string): boolean {
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    if (/\s/.test(c)) i++;
    else if ((c === '-' && sql[i + 1] === '-') || (c === '/' && sql[i + 1] === '*')) i = skipToken(sql, i);
    else return false;
  }
  return true;
}

/**
 * The non-blank statements of a query string, each with its trailing `;` cut off.
 *
 * @example
 * splitStatements("SELECT 'a;b'; SELECT 2") // [{ text: "SELECT 'a;b'", offset: 0 }, { text: ' SELECT 2', offset: 13 }]
 */
export function splitStatements(sql: string): StatementText[] {
  const out: StatementText[] = [];
  let start = 0;
  let i = 0;
  while (i < sql.length) {
    if (sql[i] === ';') {
      const text = sql.slice(start, i);
      if (!isBlank(text)) out.push({ text, offset: start });
      start = i + 1;
      i++;
    } else i = skipToken(sql, i);
  }
  const rest = sql.slice(start);
  if (!isBlank(rest)) out.push({ text: rest, offset: start });
  return out;
}

/** The first keyword of a statement, upper-cased (`BEGIN`, `SELECT`…), skipping comments. */
export function firstKeyword(sql: string): string {
  let i = 0;
  while (i < sql.length && (/[\s(]/.test(sql[i]!) || sql.startsWith('--', i) || sql.startsWith('/*', i))) {
    i = /[\s(]/.test(sql[i]!) ? i + 1 : skipToken(sql, i);
  }
  return (/^[A-Za-z_]+/.exec(sql.slice(i))?.[0] ?? '').toUpperCase();
}
