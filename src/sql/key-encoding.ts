/**
 * Order-preserving tuple encoding of keys (after FoundationDB's tuple layer and CockroachDB):
 * `int(tableId) int(indexId) element*`. Comparing encoded keys as unsigned bytes gives the order
 * of the tuples, a tuple prefix is a byte prefix, and a range of tuples is a byte range.
 *
 * Each element starts with a tag naming its type, and every element encoding is prefix-free (no
 * encoding is a proper prefix of another), so concatenations compare element by element and a
 * DESC element is simply the byte-wise complement of its ASC encoding. ASC tags are below 0x80,
 * their complements (DESC) at or above it, so a key can be decoded without the catalog.
 *
 * | element | ASC encoding |
 * |---|---|
 * | BYTEA | `01` bytes (00 → `00 FF`) `00 01` |
 * | TEXT | `02` UTF-8 (00 → `00 FF`) `00 01` |
 * | integer (INTEGER, BIGINT, ids) | `14` for 0; `14+n` + n big-endian bytes; negative `14-n` + one's complement |
 * | DOUBLE, REAL | `21` + IEEE 754 big-endian, sign bit flipped (all bits if negative); -0 is 0, NaN last |
 * | BOOLEAN | `26` false, `27` true |
 * | NUMERIC | `2B` zero; `2C` int(e) digits+1 … `00` for 0.d₁…dₙ×10ᵉ; `2A` int(-e) (FE-d)… `FF` if negative |
 * | TIMESTAMP | `33` + int64 microseconds big-endian, sign bit flipped |
 * | NULL | `7F` (after every value: NULLS LAST ascending, NULLS FIRST descending, as PostgreSQL) |
 */
import type { Decimal } from './decimal.ts';
import { SqlError } from './errors.ts';
import type { TypeId, Value } from './types.ts';

export const TAG = {
  bytes: 0x01,
  text: 0x02,
  intZero: 0x14,
  float: 0x21,
  false: 0x26,
  true: 0x27,
  numNeg: 0x2a,
  numZero: 0x2b,
  numPos: 0x2c,
  timestamp: 0x33,
  null: 0x7f,
} as const;

const TWO32 = 4294967296;

/**
 * A growable byte buffer that keys are written into. Finished keys are Buffers: engines hand them
 * to Node APIs, and wrapping a plain Uint8Array into a Buffer later costs more than one copy now.
 */
export class KeyWriter {
  buf: Uint8Array;
  len = 0;

  constructor(capacity = 64, prefix?: Uint8Array) {
    this.buf = new Uint8Array(Math.max(capacity, (prefix?.length ?? 0) + 32));
    if (prefix !== undefined) this.bytes(prefix);
  }

  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** Complements bytes from `start` to the end: makes the element written since `start` DESC. */
  invertFrom(start: number): void {
    const b = this.buf;
    for (let i = start; i < this.len; i++) b[i] = ~b[i]! & 0xff;
  }

  /** Starts over with `prefix` (a writer reused for keys built one at a time). */
  reset(prefix?: Uint8Array): void {
    this.len = 0;
    if (prefix !== undefined) this.bytes(prefix);
  }

  /** A copy of the bytes written, as a Buffer. */
  finish(): Uint8Array {
    const out = Buffer.allocUnsafe(this.len);
    out.set(this.buf.subarray(0, this.len));
    return out;
  }
}

/** Writes an integer element from a safe JavaScript integer. */
export function writeIntNumber(w: KeyWriter, v: number): void {
  if (v === 0) {
    w.byte(TAG.intZero);
    return;
  }
  const neg = v < 0;
  let x = neg ? -v : v;
  if (x > 0xffffffffffff) {
    writeIntBig(w, BigInt(v));
    return;
  }
  const n = x < 0x100 ? 1 : x < 0x10000 ? 2 : x < 0x1000000 ? 3 : x < TWO32 ? 4 : x < 0x10000000000 ? 5 : 6;
  if (neg) x = 256 ** n - 1 - x;
  w.ensure(n + 1);
  const b = w.buf;
  b[w.len] = neg ? TAG.intZero - n : TAG.intZero + n;
  for (let i = n; i >= 1; i--) {
    b[w.len + i] = x % 256;
    x = Math.floor(x / 256);
  }
  w.len += n + 1;
}

/** Writes an integer element from a bigint in the int64 range. */
export function writeIntBig(w: KeyWriter, v: bigint): void {
  if (v >= -0xffffffffffffn && v <= 0xffffffffffffn) {
    writeIntNumber(w, Number(v));
    return;
  }
  const neg = v < 0n;
  let x = neg ? -v : v;
  let n = 0;
  for (let t = x; t > 0n; t >>= 8n) n++;
  if (n > 8) throw new SqlError('ERR_SQL_NUMERIC_OUT_OF_RANGE', 'integer key out of range');
  if (neg) x = (1n << BigInt(8 * n)) - 1n - x;
  w.ensure(n + 1);
  w.buf[w.len] = neg ? TAG.intZero - n : TAG.intZero + n;
  for (let i = n; i >= 1; i--) {
    w.buf[w.len + i] = Number(x & 0xffn);
    x >>= 8n;
  }
  w.len += n + 1;
}

const bigView = new DataView(new ArrayBuffer(8));

function writeFloat(w: KeyWriter, v: number): void {
  bigView.setFloat64(0, v === 0 ? 0 : Number.isNaN(v) ? Number.NaN : v);
  w.ensure(9);
  const b = w.buf;
  b[w.len++] = TAG.float;
  const neg = (bigView.getUint8(0) & 0x80) !== 0;
  for (let i = 0; i < 8; i++) {
    const x = bigView.getUint8(i);
    b[w.len++] = neg ? ~x & 0xff : i === 0 ? x ^ 0x80 : x;
  }
}

function writeTimestamp(w: KeyWriter, us: bigint): void {
  bigView.setBigInt64(0, us);
  w.ensure(9);
  w.buf[w.len++] = TAG.timestamp;
  for (let i = 0; i < 8; i++) w.buf[w.len++] = i === 0 ? bigView.getUint8(0) ^ 0x80 : bigView.getUint8(i);
}

/** Writes escaped bytes without the terminator (also the byte prefix of LIKE 'abc%'). */
function writeEscaped(w: KeyWriter, bytes: Uint8Array): void {
  w.ensure(bytes.length + 2);
  for (const c of bytes) writeEscapedByte(w, c);
}

/** One byte of a TEXT/BYTEA element: 0x00 becomes 0x00 0xFF, so that 0x00 0x01 can end the element. */
function writeEscapedByte(w: KeyWriter, c: number): void {
  if (c === 0) {
    w.byte(0);
    w.byte(0xff);
  } else {
    w.buf[w.len++] = c;
    w.ensure(2);
  }
}

function writeTextBody(w: KeyWriter, s: string): void {
  w.ensure(s.length + 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      writeEscaped(w, Buffer.from(s.slice(i), 'utf8'));
      return;
    }
    writeEscapedByte(w, c);
  }
}

function writeNumeric(w: KeyWriter, d: Decimal): void {
  if (d.coef === 0n) {
    w.byte(TAG.numZero);
    return;
  }
  const neg = d.coef < 0n;
  const all = (neg ? -d.coef : d.coef).toString();
  const digits = all.replace(/0+$/, '');
  const e = all.length - d.scale;
  w.byte(neg ? TAG.numNeg : TAG.numPos);
  writeIntNumber(w, neg ? -e : e);
  w.ensure(digits.length + 1);
  for (let i = 0; i < digits.length; i++) {
    const dv = digits.charCodeAt(i) - 48 + 1;
    w.buf[w.len++] = neg ? 0xff - dv : dv;
  }
  w.buf[w.len++] = neg ? 0xff : 0x00;
}

/** Writes one key element of type `t`; `desc` complements it. */
export function writeKeyValue(w: KeyWriter, v: Value, t: TypeId, desc = false): void {
  const start = w.len;
  if (v === null) w.byte(TAG.null);
  else {
    switch (t) {
      case 'integer':
        writeIntNumber(w, v as number);
        break;
      case 'bigint':
        writeIntBig(w, v as bigint);
        break;
      case 'real':
      case 'double':
        writeFloat(w, v as number);
        break;
      case 'numeric':
        writeNumeric(w, v as Decimal);
        break;
      case 'boolean':
        w.byte(v ? TAG.true : TAG.false);
        break;
      case 'timestamp':
        writeTimestamp(w, v as bigint);
        break;
      case 'bytea':
        w.byte(TAG.bytes);
        writeEscaped(w, v as Uint8Array);
        w.byte(0);
        w.byte(1);
        break;
      default:
        w.byte(TAG.text);
        writeTextBody(w, v as string);
        w.byte(0);
        w.byte(1);
    }
  }
  if (desc) w.invertFrom(start);
}

/** Writes the byte prefix shared by every TEXT element starting with `prefix` (LIKE 'abc%'). */
export function writeTextPrefix(w: KeyWriter, prefix: string, desc = false): void {
  const start = w.len;
  w.byte(TAG.text);
  writeTextBody(w, prefix);
  if (desc) w.invertFrom(start);
}

/** The key prefix of one index of one table: `int(tableId) int(indexId)`. */
export function indexPrefix(tableId: number, indexId: number): Uint8Array {
  const w = new KeyWriter(16);
  writeIntNumber(w, tableId);
  writeIntNumber(w, indexId);
  return w.finish();
}

/** The first key after every key starting with `prefix`, or undefined if there is none (all 0xFF). */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  for (let i = prefix.length - 1; i >= 0; i--) {
    if (prefix[i] !== 0xff) {
      const out = Uint8Array.prototype.slice.call(prefix, 0, i + 1);
      out[i]! += 1;
      return out;
    }
  }
  return undefined;
}
