import { Decimal } from './decimal.ts';
import { SqlError } from './errors.ts';
import { formatTimestamp, parseTimestamp, timestampFromDate } from './timestamp.ts';
import { type ColumnType, isNumeric, isTextual, type TypeId, typeLabel, type Value } from './types.ts';

const INT4_MIN = -2147483648;
const INT4_MAX = 2147483647;
const INT8_MIN = -(2n ** 63n);
const INT8_MAX = 2n ** 63n - 1n;
const INT_RE = /^\s*[+-]?\d+\s*$/;

function outOfRange(type: string): SqlError {
  return new SqlError('ERR_SQL_NUMERIC_OUT_OF_RANGE', `${type} out of range`);
}

function badText(t: TypeId, text: string): SqlError {
  return new SqlError('ERR_SQL_INVALID_TEXT', `invalid input syntax for type ${typeLabel(t)}: "${text}"`);
}

/** Checks an int32. */
export function checkInt4(n: number): number {
  if (n < INT4_MIN || n > INT4_MAX || !Number.isInteger(n)) throw outOfRange('integer');
  return n === 0 ? 0 : n;
}

/** Checks an int64. */
export function checkInt8(n: bigint): bigint {
  if (n < INT8_MIN || n > INT8_MAX) throw outOfRange('bigint');
  return n;
}

/** Rounds half to even, as PostgreSQL's float → integer casts (rint). */
function rint(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function toBigInt(v: Value, from: TypeId): bigint {
  switch (typeof v) {
    case 'bigint':
      return v;
    case 'number':
      if (!Number.isFinite(v)) throw outOfRange('bigint');
      return BigInt(from === 'integer' ? v : rint(v));
    case 'string': {
      if (!INT_RE.test(v)) throw badText('bigint', v);
      return BigInt(v.trim());
    }
    case 'boolean':
      return v ? 1n : 0n;
    default:
      if (v instanceof Decimal) return v.round();
      throw cannotCast(from, 'bigint');
  }
}

function toDouble(v: Value, from: TypeId): number {
  switch (typeof v) {
    case 'number':
      return v;
    case 'bigint':
      return Number(v);
    case 'string': {
      const s = v.trim().toLowerCase();
      const special = s === 'nan' ? Number.NaN : s === 'infinity' || s === '+infinity' ? Infinity : undefined;
      if (special !== undefined) return special;
      if (s === '-infinity') return -Infinity;
      const n = Number(s);
      if (s === '' || Number.isNaN(n)) throw badText('double', v);
      return n;
    }
    default:
      if (v instanceof Decimal) return v.toNumber();
      throw cannotCast(from, 'double');
  }
}

function toDecimal(v: Value, from: TypeId): Decimal {
  if (v instanceof Decimal) return v;
  if (typeof v === 'bigint') return Decimal.fromBigInt(v);
  if (typeof v === 'number')
    return Number.isInteger(v) ? Decimal.fromBigInt(BigInt(v)) : Decimal.fromNumber(v);
  if (typeof v === 'string') return Decimal.parse(v);
  throw cannotCast(from, 'numeric');
}

function toBool(v: Value, from: TypeId): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' && from === 'integer') return v !== 0;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (['t', 'true', 'y', 'yes', 'on', '1'].includes(s)) return true;
    if (['f', 'false', 'n', 'no', 'off', '0'].includes(s)) return false;
    throw badText('boolean', v);
  }
  throw cannotCast(from, 'boolean');
}

function toBytes(v: Value, from: TypeId): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') {
    if (/^\\x([0-9a-f]{2})*$/i.test(v)) return new Uint8Array(Buffer.from(v.slice(2), 'hex'));
    return new TextEncoder().encode(v);
  }
  throw cannotCast(from, 'bytea');
}

/** Text output of a value (the `::text` cast and string concatenation). */
export function valueToText(v: Value, from: TypeId): string {
  switch (typeof v) {
    case 'string':
      return v;
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return from === 'timestamp' ? formatTimestamp(v) : v.toString();
    case 'number':
      return Number.isNaN(v)
        ? 'NaN'
        : v === Infinity
          ? 'Infinity'
          : v === -Infinity
            ? '-Infinity'
            : String(v);
    default:
      if (v === null) return 'NULL';
      if (v instanceof Decimal) return v.toString();
      return `\\x${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  }
}

/** The 42846-like error for a cast that does not exist, reported as a datatype mismatch. */
export function cannotCast(from: TypeId, to: TypeId): SqlError {
  return new SqlError('ERR_SQL_DATATYPE_MISMATCH', `cannot cast type ${typeLabel(from)} to ${typeLabel(to)}`);
}

/** Converts a non-null value of type `from` to type `to` (explicit cast semantics). */
export function castValue(v: Value, from: TypeId, to: TypeId): Value {
  if (v === null || from === to) return v;
  switch (to) {
    case 'integer':
      return checkInt4(Number(checkInt8(toBigInt(v, from))));
    case 'bigint':
      return checkInt8(toBigInt(v, from));
    case 'real':
      return Math.fround(toDouble(v, from));
    case 'double':
      return toDouble(v, from);
    case 'numeric':
      return toDecimal(v, from);
    case 'text':
    case 'varchar':
      return valueToText(v, from);
    case 'boolean':
      return toBool(v, from);
    case 'timestamp':
      if (typeof v === 'string') return parseTimestamp(v);
      if (typeof v === 'bigint' && from === 'timestamp') return v;
      throw cannotCast(from, to);
    case 'bytea':
      return toBytes(v, from);
    default:
      return v;
  }
}

/** True when a value of `from` converts to `to` silently (assignment and operator resolution). */
export function implicitlyCastable(from: TypeId, to: TypeId): boolean {
  if (from === to || from === 'unknown') return true;
  if (isNumeric(from) && isNumeric(to)) return true;
  return isTextual(from) && isTextual(to);
}

/** Applies a column's modifiers: VARCHAR(n) length (22001), NUMERIC(p, s) rounding and precision (22003). */
export function applyTypmod(v: Value, t: ColumnType): Value {
  if (v === null || t.precision === undefined) return v;
  if (t.name === 'varchar' && typeof v === 'string' && [...v].length > t.precision) {
    throw new SqlError(
      'ERR_SQL_STRING_TRUNCATION',
      `value too long for type character varying(${t.precision})`,
    );
  }
  if (t.name === 'numeric' && v instanceof Decimal) {
    const scaled = v.withScale(t.scale ?? 0);
    if (scaled.integerDigits() > t.precision - (t.scale ?? 0)) {
      throw new SqlError('ERR_SQL_NUMERIC_OUT_OF_RANGE', 'numeric field overflow', {
        detail: `A field with precision ${t.precision}, scale ${t.scale ?? 0} must round to an absolute value less than 10^${t.precision - (t.scale ?? 0)}.`,
      });
    }
    return scaled;
  }
  return v;
}

function bindNumber(n: number, to: TypeId): Value {
  switch (to) {
    case 'double':
      return n;
    case 'real':
      return Math.fround(n);
    case 'integer':
    case 'bigint':
      if (!Number.isInteger(n)) throw badText(to, String(n));
      return to === 'integer' ? checkInt4(n) : checkInt8(BigInt(n));
    case 'timestamp':
      return BigInt(Math.trunc(n)) * 1000n;
    default:
      return castValue(n, Number.isInteger(n) ? 'integer' : 'double', to);
  }
}

function bindBigInt(n: bigint, to: TypeId): Value {
  switch (to) {
    case 'bigint':
      return checkInt8(n);
    case 'timestamp':
      return n;
    case 'integer':
      return checkInt4(Number(checkInt8(n)));
    case 'real':
    case 'double':
      return castValue(n, 'bigint', to);
    default:
      return castValue(n, 'bigint', to);
  }
}

function bindObject(js: object, to: TypeId): Value {
  if (js instanceof Date) {
    const us = timestampFromDate(js);
    return to === 'timestamp' ? us : castValue(formatTimestamp(us), 'text', to);
  }
  if (js instanceof Uint8Array) return castValue(js, 'bytea', to);
  if (js instanceof Decimal) return castValue(js, 'numeric', to);
  throw new SqlError('ERR_SQL_INVALID_PARAMETER_VALUE', 'unsupported JavaScript value');
}

/**
 * Converts a JavaScript parameter to the runtime value of `to`: numbers, bigints, strings (parsed
 * as SQL literals), booleans, Dates (timestamps), Uint8Arrays (bytea); a number or bigint given
 * for a TIMESTAMP is milliseconds (number) or microseconds (bigint) since 1970 UTC.
 */
export function bindValue(js: unknown, to: TypeId, index: number): Value {
  if (js === null || js === undefined) return null;
  try {
    switch (typeof js) {
      case 'number':
        return bindNumber(js, to);
      case 'bigint':
        return bindBigInt(js, to);
      case 'string':
        return castValue(js, 'unknown', to);
      case 'boolean':
        return castValue(js, 'boolean', to);
      case 'object':
        return bindObject(js, to);
      default:
        throw new SqlError('ERR_SQL_INVALID_PARAMETER_VALUE', `unsupported JavaScript ${typeof js}`);
    }
  } catch (err) {
    if (err instanceof SqlError) {
      throw new SqlError(err.code, `parameter $${index}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/** Converts a runtime value to what callers receive in result rows. */
export function outputValue(v: Value, t: TypeId): unknown {
  if (v === null) return null;
  if (t === 'timestamp') return formatTimestamp(v as bigint);
  if (v instanceof Decimal) return v.toString();
  return v;
}
