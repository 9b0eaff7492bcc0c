/**
 * Rendering and comparison of query results the way sqllogictest expects them (FORMAT.md §5–8):
 * values rendered per type letter, `rowsort`/`valuesort` on the rendered text, MD5 hashes of
 * long results, and the tolerant row-per-line comparison of RisingLight and DuckDB files.
 */
import { createHash } from 'node:crypto';
import type { SltLayout, SltSortMode } from './slt-parser.ts';

const HASH_LINE = /^(\d+) values hashing to ([0-9a-f]{32})$/;

/** Renders one value for a SQLite-origin file, by its column's type letter (FORMAT.md §5). */
export function renderValue(value: unknown, type: string): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'boolean') {
    if (type === 'R') return value ? '1.000' : '0.000';
    return value ? '1' : '0';
  }
  if (type === 'I') return renderInteger(value);
  if (type === 'R') return renderReal(value);
  const text = value instanceof Uint8Array ? `\\x${Buffer.from(value).toString('hex')}` : String(value);
  if (text === '') return '(empty)';
  return text.replace(/[^\x20-\x7e]/g, '@');
}

function renderInteger(value: unknown): string {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return Number.isFinite(value) ? BigInt(Math.trunc(value)).toString() : '0';
  const n = Number.parseFloat(String(value));
  return Number.isFinite(n) ? BigInt(Math.trunc(n)).toString() : '0';
}

function renderReal(value: unknown): string {
  const n =
    typeof value === 'bigint' || typeof value === 'number' ? Number(value) : Number.parseFloat(String(value));
  return (Number.isNaN(n) ? 0 : n).toFixed(3);
}

/** Renders one value for a row-per-line file (FORMAT.md §6). */
export function renderRowValue(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value).toString('hex')}`;
  const text = String(value);
  return text === '' ? '(empty)' : text;
}

/** Renders rows, then sorts them as the sort mode says; returns the flat list of values. */
export function renderResult(
  rows: readonly (readonly unknown[])[],
  types: string,
  layout: SltLayout,
  sort: SltSortMode,
): { rows: string[][]; values: string[] } {
  const rendered = rows.map((row) =>
    row.map((v, i) => (layout === 'row-per-line' ? renderRowValue(v) : renderValue(v, types[i] ?? 'T'))),
  );
  if (sort === 'rowsort') rendered.sort(compareRows);
  const values = rendered.flat();
  if (sort === 'valuesort') values.sort(compareStrings);
  return { rows: rendered, values };
}

function compareStrings(a: string, b: string): number {
  // strcmp on the UTF-8 bytes; rendered SQLite values are ASCII, so code units suffice.
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareRows(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = compareStrings(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

/** MD5 of the values, each followed by `\n` (FORMAT.md §7). */
export function hashValues(values: readonly string[]): string {
  const h = createHash('md5');
  for (const v of values) h.update(`${v}\n`);
  return h.digest('hex');
}

/** The `N values hashing to H` line, when `expected` is one. */
export function parseHashLine(expected: readonly string[]): { count: number; hash: string } | undefined {
  if (expected.length !== 1) return undefined;
  const m = HASH_LINE.exec(expected[0]!.trim());
  return m ? { count: Number(m[1]), hash: m[2]! } : undefined;
}

/** The hash a label stands for: the expected hash line, or the MD5 of the expected values. */
export function expectedHash(expected: readonly string[]): string {
  return parseHashLine(expected)?.hash ?? hashValues(expected);
}

/**
 * Compares a rendered result with the expected lines; returns undefined when they match, else
 * a short description of the difference.
 */
export function compareResult(
  result: { rows: string[][]; values: string[] },
  expected: readonly string[],
  layout: SltLayout,
): string | undefined {
  const hashed = parseHashLine(expected);
  if (hashed) {
    const hash = hashValues(result.values);
    if (hashed.count === result.values.length && hashed.hash === hash) return undefined;
    return `expected ${hashed.count} values hashing to ${hashed.hash}, got ${result.values.length} hashing to ${hash}`;
  }
  const columns = result.rows[0]?.length ?? 1;
  const perRow =
    layout === 'row-per-line' &&
    (columns === 1 || expected.length === result.rows.length || expected.every((l) => l.includes('\t')));
  if (perRow) return compareRowLines(result.rows, expected);
  if (result.values.length === expected.length && result.values.every((v, i) => v === expected[i])) {
    return undefined;
  }
  return `expected ${preview(expected)}, got ${preview(result.values)}`;
}

function compareRowLines(rows: readonly string[][], expected: readonly string[]): string | undefined {
  const got = rows.map((r) => normalize(r.join(' ')));
  const want = expected.map(normalize);
  const ok = got.length === want.length && got.every((g, i) => rowMatches(g, want[i]!));
  return ok ? undefined : `expected rows ${preview(want)}, got ${preview(got)}`;
}

function normalize(line: string): string {
  return line.replace(/\s+/g, ' ').trim();
}

const TRUE = new Set(['true', 't', '1']);
const FALSE = new Set(['false', 'f', '0']);

function rowMatches(got: string, want: string): boolean {
  if (got === want) return true;
  const a = got.split(' ');
  const b = want.split(' ');
  return a.length === b.length && a.every((x, i) => tokenMatches(x, b[i]!));
}

function tokenMatches(a: string, b: string): boolean {
  if (a === b) return true;
  if ((TRUE.has(a) && TRUE.has(b)) || (FALSE.has(a) && FALSE.has(b))) return true;
  const x = Number(a);
  const y = Number(b);
  if (a === '' || b === '' || Number.isNaN(x) || Number.isNaN(y)) return false;
  return x === y || Math.abs(x - y) <= 1e-6 * Math.max(Math.abs(x), Math.abs(y));
}

function preview(values: readonly string[]): string {
  const shown = values.slice(0, 8).map((v) => JSON.stringify(v));
  return `[${shown.join(', ')}${values.length > 8 ? `, … (${values.length})` : ''}]`;
}
