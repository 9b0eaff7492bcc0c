/**
 * PostgreSQL types on the wire: the OID of each CascaDB type, and the text and binary encodings of
 * result values and parameters, byte for byte as PostgreSQL 15 writes them.
 */
import { Decimal } from '../decimal.ts';
import { formatTimestamp, parseTimestamp } from '../timestamp.ts';
import { PgProtocolError } from './pg-protocol.ts';

/** A wire type: OID, size and how values of it are encoded. Resolved once per column. */
export interface PgType {
  readonly name: string;
  readonly oid: number;
  /** pg_type.typlen: bytes, or -1 for variable length. */
  readonly size: number;
  text(v: unknown): string;
  binary(v: unknown): Buffer;
  /** Decodes a binary parameter into what the engine binds. */
  fromBinary(b: Buffer): unknown;
}

/** Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01. */
const PG_EPOCH_US = 946_684_800_000_000n;

function int32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(v);
  return b;
}

function int64(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(v);
  return b;
}

/** Reads a fixed-size binary parameter after checking its length (22P03 otherwise). */
function exact<T>(b: Buffer, n: number, type: string, read: () => T): T {
  needLength(b, n, type);
  return read();
}

function needLength(b: Buffer, n: number, type: string): void {
  if (b.length !== n) {
    throw new PgProtocolError(
      `incorrect binary data format in bind parameter (${type} needs ${n} bytes)`,
      '22P03',
    );
  }
}

/**
 * A float as PostgreSQL 15 prints it (extra_float_digits 1): the shortest text that reads back
 * the same value, in exponent form when the decimal exponent is < -4 or >= 15 (6 for real).
 */
export function formatFloat(v: number, single: boolean): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return 'Infinity';
  if (v === Number.NEGATIVE_INFINITY) return '-Infinity';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  let exp = v.toExponential();
  if (single) {
    for (let p = 1; p <= 9; p++) {
      const candidate = v.toExponential(p - 1);
      if (Math.fround(Number(candidate)) === v) {
        exp = candidate;
        break;
      }
    }
  }
  const [mantissa = '', e = '0'] = exp.split('e');
  const exponent = Number(e);
  if (exponent < -4 || exponent >= (single ? 6 : 15)) {
    const sign = exponent < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  const negative = mantissa.startsWith('-');
  const digits = mantissa.replace('-', '').replace('.', '');
  let out: string;
  if (exponent < 0) out = `0.${'0'.repeat(-exponent - 1)}${digits}`;
  else if (digits.length <= exponent + 1) out = digits + '0'.repeat(exponent + 1 - digits.length);
  else out = `${digits.slice(0, exponent + 1)}.${digits.slice(exponent + 1)}`;
  return negative ? `-${out}` : out;
}

/** NUMERIC binary form: ndigits, weight, sign, dscale, then base-10000 digits. */
function numericBinary(text: string): Buffer {
  if (text === 'NaN') return Buffer.from([0, 0, 0, 0, 0xc0, 0, 0, 0]);
  const negative = text.startsWith('-');
  const [intPart = '', frac = ''] = text.replace(/^[-+]/, '').split('.');
  const intPadded = intPart
    .replace(/^0+/, '')
    .padStart(Math.ceil(intPart.replace(/^0+/, '').length / 4) * 4, '0');
  const fracPadded = frac.padEnd(Math.ceil(frac.length / 4) * 4, '0');
  const groups: number[] = [];
  for (let i = 0; i < intPadded.length; i += 4) groups.push(Number(intPadded.slice(i, i + 4)));
  const intGroups = groups.length;
  for (let i = 0; i < fracPadded.length; i += 4) groups.push(Number(fracPadded.slice(i, i + 4)));
  let weight = intGroups - 1;
  while (groups.length > 0 && groups[0] === 0) {
    groups.shift();
    weight--;
  }
  while (groups.length > 0 && groups[groups.length - 1] === 0) groups.pop();
  if (groups.length === 0) weight = 0;
  const b = Buffer.allocUnsafe(8 + groups.length * 2);
  b.writeInt16BE(groups.length, 0);
  b.writeInt16BE(weight, 2);
  b.writeUInt16BE(negative && groups.length > 0 ? 0x4000 : 0, 4);
  b.writeInt16BE(frac.length, 6);
  groups.forEach((g, i) => {
    b.writeInt16BE(g, 8 + i * 2);
  });
  return b;
}

function numericFromBinary(b: Buffer): string {
  if (b.length < 8)
    throw new PgProtocolError('incorrect binary data format in bind parameter (numeric)', '22P03');
  const n = b.readInt16BE(0);
  const weight = b.readInt16BE(2);
  const sign = b.readUInt16BE(4);
  const dscale = b.readInt16BE(6);
  if (n < 0 || b.length !== 8 + n * 2 || dscale < 0) {
    throw new PgProtocolError('incorrect binary data format in bind parameter (numeric)', '22P03');
  }
  if (sign === 0xc000) return 'NaN';
  let intText = '';
  let fracText = '';
  for (let i = 0; i <= Math.max(weight, n - 1); i++) {
    const d = i < n ? String(b.readInt16BE(8 + i * 2)).padStart(4, '0') : '0000';
    if (i <= weight) intText += d;
    else fracText += d;
  }
  if (weight < 0) fracText = '0000'.repeat(-weight - 1) + fracText;
  const intClean = intText.replace(/^0+/, '') || '0';
  const fracClean = fracText.padEnd(dscale, '0').slice(0, dscale);
  return `${sign === 0x4000 ? '-' : ''}${intClean}${dscale > 0 ? `.${fracClean}` : ''}`;
}

const utf8 = (v: unknown): Buffer => Buffer.from(String(v), 'utf8');
const textOf = (v: unknown): string => (v instanceof Decimal ? v.toString() : String(v));

function hexBytes(v: unknown): string {
  return `\\x${Buffer.from(v as Uint8Array).toString('hex')}`;
}

function timestampMicros(v: unknown): bigint {
  return typeof v === 'bigint' ? v : parseTimestamp(String(v));
}

const TEXT: PgType = {
  name: 'text',
  oid: 25,
  size: -1,
  text: textOf,
  binary: (v) => utf8(textOf(v)),
  fromBinary: (b) => b.toString('utf8'),
};

/** The wire types, by the SQL type label the engine reports (`ResultColumn.type` without modifiers). */
export const PG_TYPES: Readonly<Record<string, PgType>> = {
  integer: {
    name: 'int4',
    oid: 23,
    size: 4,
    text: (v) => String(v),
    binary: (v) => int32(Number(v)),
    fromBinary: (b) => exact(b, 4, 'int4', () => b.readInt32BE(0)),
  },
  bigint: {
    name: 'int8',
    oid: 20,
    size: 8,
    text: (v) => String(v),
    binary: (v) => int64(BigInt(v as bigint)),
    fromBinary: (b) => exact(b, 8, 'int8', () => b.readBigInt64BE(0)),
  },
  real: {
    name: 'float4',
    oid: 700,
    size: 4,
    text: (v) => formatFloat(Number(v), true),
    binary: (v) => {
      const b = Buffer.allocUnsafe(4);
      b.writeFloatBE(Number(v));
      return b;
    },
    fromBinary: (b) => exact(b, 4, 'float4', () => b.readFloatBE(0)),
  },
  'double precision': {
    name: 'float8',
    oid: 701,
    size: 8,
    text: (v) => formatFloat(Number(v), false),
    binary: (v) => {
      const b = Buffer.allocUnsafe(8);
      b.writeDoubleBE(Number(v));
      return b;
    },
    fromBinary: (b) => exact(b, 8, 'float8', () => b.readDoubleBE(0)),
  },
  numeric: {
    name: 'numeric',
    oid: 1700,
    size: -1,
    text: textOf,
    binary: (v) => numericBinary(textOf(v)),
    fromBinary: numericFromBinary,
  },
  text: TEXT,
  'character varying': { ...TEXT, name: 'varchar', oid: 1043 },
  boolean: {
    name: 'bool',
    oid: 16,
    size: 1,
    text: (v) => (v ? 't' : 'f'),
    binary: (v) => Buffer.from([v ? 1 : 0]),
    fromBinary: (b) => exact(b, 1, 'bool', () => b[0] !== 0),
  },
  timestamp: {
    name: 'timestamp',
    oid: 1114,
    size: 8,
    text: (v) => (typeof v === 'bigint' ? formatTimestamp(v) : String(v)),
    binary: (v) => int64(timestampMicros(v) - PG_EPOCH_US),
    fromBinary: (b) => exact(b, 8, 'timestamp', () => b.readBigInt64BE(0) + PG_EPOCH_US),
  },
  bytea: {
    name: 'bytea',
    oid: 17,
    size: -1,
    text: hexBytes,
    binary: (v) => Buffer.from(v as Uint8Array),
    fromBinary: (b) => new Uint8Array(b),
  },
};

/** Extra OIDs the catalog emulation returns (name, oid, char, regclass). */
export const PG_EXTRA_TYPES: Readonly<Record<string, PgType>> = {
  name: { ...TEXT, name: 'name', oid: 19, size: 64 },
  oid: { ...PG_TYPES.integer!, name: 'oid', oid: 26, text: (v) => String(v) },
  char: { ...TEXT, name: 'char', oid: 18, size: 1 },
  int2: { ...PG_TYPES.integer!, name: 'int2', oid: 21, size: 2 },
  unknown: TEXT,
};

const BY_OID = new Map<number, PgType>(
  [...Object.values(PG_TYPES), ...Object.values(PG_EXTRA_TYPES)].map((t) => [t.oid, t]),
);

/** The wire type of a result column's SQL type label (`numeric(10,2)` → numeric); text otherwise. */
export function pgTypeOf(label: string): PgType {
  const base = label.replace(/\(.*\)$/, '');
  return PG_TYPES[base] ?? PG_EXTRA_TYPES[base] ?? TEXT;
}

/** The wire type of an OID, or undefined for one we do not know. */
export function pgTypeByOid(oid: number): PgType | undefined {
  return BY_OID.get(oid);
}

/** The engine's parameter type name (`double`, `varchar`…) as a wire type. */
export function pgTypeOfParam(typeId: string): PgType {
  if (typeId === 'double') return PG_TYPES['double precision']!;
  if (typeId === 'varchar') return PG_TYPES['character varying']!;
  return PG_TYPES[typeId] ?? TEXT;
}
