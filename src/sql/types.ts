import type { SqlTypeName, TypeName } from './ast.ts';
import { Decimal } from './decimal.ts';

/**
 * SQL types and values at run time.
 *
 * | SQL type | runtime value | in results |
 * |---|---|---|
 * | INTEGER | number (int32) | number |
 * | BIGINT | bigint (int64) | bigint |
 * | REAL, DOUBLE PRECISION | number | number |
 * | NUMERIC | {@link Decimal} | string, exact |
 * | TEXT, VARCHAR | string | string |
 * | BOOLEAN | boolean | boolean |
 * | TIMESTAMP | bigint microseconds since 1970 UTC | string `YYYY-MM-DD HH:MM:SS[.ffffff]` |
 * | BYTEA | Uint8Array | Uint8Array |
 *
 * NULL is `null` everywhere. `unknown` is the type of an untyped string literal or NULL before the
 * context decides, as in PostgreSQL.
 */
export type TypeId = SqlTypeName | 'unknown';

/** A column's declared type: a type with its modifiers (VARCHAR length, NUMERIC precision and scale). */
export interface ColumnType {
  readonly name: SqlTypeName;
  readonly precision?: number | undefined;
  readonly scale?: number | undefined;
}

/** A value at run time (see {@link TypeId} for which type holds which). */
export type Value = null | boolean | number | bigint | string | Uint8Array | Decimal;

/** A row: values in column order. */
export type Row = Value[];

/** The declared type of a parsed type name. */
export function columnTypeOf(t: TypeName): ColumnType {
  return { name: t.name, precision: t.precision, scale: t.scale };
}

/** How a type is named in result metadata and messages. */
export function typeLabel(t: TypeId | ColumnType): string {
  const name = typeof t === 'string' ? t : t.name;
  const base = name === 'double' ? 'double precision' : name === 'varchar' ? 'character varying' : name;
  if (typeof t === 'string' || t.precision === undefined) return base;
  return t.scale === undefined ? `${base}(${t.precision})` : `${base}(${t.precision},${t.scale})`;
}

/** Rank of numeric types for implicit promotion (0 for non-numeric types). */
export function numericRank(t: TypeId): number {
  switch (t) {
    case 'integer':
      return 1;
    case 'bigint':
      return 2;
    case 'numeric':
      return 3;
    case 'real':
      return 4;
    case 'double':
      return 5;
    default:
      return 0;
  }
}

/** The type two operands are converted to for comparison or arithmetic, or undefined if none. */
export function commonType(a: TypeId, b: TypeId): TypeId | undefined {
  if (a === b) return a === 'varchar' ? 'text' : a;
  if (a === 'unknown') return b === 'varchar' ? 'text' : b;
  if (b === 'unknown') return a === 'varchar' ? 'text' : a;
  const ra = numericRank(a);
  const rb = numericRank(b);
  if (ra > 0 && rb > 0) return ra >= rb ? a : b;
  if (isTextual(a) && isTextual(b)) return 'text';
  return undefined;
}

export function isTextual(t: TypeId): boolean {
  return t === 'text' || t === 'varchar';
}

export function isNumeric(t: TypeId): boolean {
  return numericRank(t) > 0;
}

/**
 * Compares strings by Unicode code point, which is UTF-8 byte order (the order of keys), not
 * JavaScript's UTF-16 code-unit order.
 */
export function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (U+D800–DFFF) encode code points above U+FFFF: they sort after U+E000–FFFF.
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x < y ? -1 : 1;
  }
  return a.length - b.length < 0 ? -1 : a.length === b.length ? 0 : 1;
}

/** Compares byte strings as unsigned bytes. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** Doubles as PostgreSQL orders them: NaN equals NaN and is greater than every other value. */
function compareFloat(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  if (a === b) return 0;
  const an = Number.isNaN(a);
  const bn = Number.isNaN(b);
  return an && bn ? 0 : an ? 1 : -1;
}

function comparePrimitive(a: number | bigint | boolean, b: number | bigint | boolean): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A comparator of two non-null values of one type. */
export type Comparator = (a: Value, b: Value) => number;

/** The comparator of a type's non-null values. */
export function comparatorFor(t: TypeId): Comparator {
  switch (t) {
    case 'real':
    case 'double':
      return compareFloat as Comparator;
    case 'numeric':
      return (a, b) => (a as Decimal).compare(b as Decimal);
    case 'text':
    case 'varchar':
    case 'unknown':
      return compareText as Comparator;
    case 'bytea':
      return compareBytes as Comparator;
    default:
      return comparePrimitive as Comparator;
  }
}

/** Compares two values of one type for sorting, NULLs last (PostgreSQL's default for ASC). */
export function compareNullsLast(cmp: Comparator, a: Value, b: Value): number {
  if (a === null) return b === null ? 0 : 1;
  if (b === null) return -1;
  return cmp(a, b);
}

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * A Map key for one value: equal SQL values (1.5 and 1.50, -0 and 0, NaN and NaN) give equal keys
 * (Map compares with SameValueZero). Values of one column share a type, so kinds never collide.
 */
export function hashValue(v: Value): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (v instanceof Decimal) return `d${v.normalize().toString()}`;
  return `x${hexOf(v)}`;
}

/** A Map key for a tuple of values (GROUP BY, DISTINCT, hash join, set operations). */
export function hashRow(values: readonly Value[]): unknown {
  if (values.length === 1) return hashValue(values[0]!);
  let key = '';
  for (const v of values) {
    if (v === null) key += '\u0001,';
    else if (typeof v === 'string') key += `${JSON.stringify(v)},`;
    else if (typeof v === 'number') key += `${v === 0 ? 0 : v},`;
    else key += `${String(hashValue(v))},`;
  }
  return key;
}

/** SQL equality of two non-null values of one type. */
export function valuesEqual(t: TypeId, a: Value, b: Value): boolean {
  return comparatorFor(t)(a, b) === 0;
}
