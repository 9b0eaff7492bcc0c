/**
 * Row values: the columns that are not part of the primary key, in a compact self-delimiting
 * binary form keyed by column id (like protobuf), so that a column added later reads as NULL
 * from old rows and a dropped column's bytes are skipped.
 *
 * `01` (format version), then for each non-NULL column `varint(columnId << 3 | wire)` and a payload:
 *
 * | wire | payload | types |
 * |---|---|---|
 * | 0 | zigzag varint | INTEGER |
 * | 1 | 8 bytes little-endian | BIGINT (int64), DOUBLE/REAL (IEEE 754), TIMESTAMP (int64 µs) |
 * | 2 | varint length + bytes | TEXT/VARCHAR (UTF-8), BYTEA, NUMERIC (decimal text, scale kept) |
 * | 3, 4 | none | BOOLEAN false, true |
 */
import { Decimal } from './decimal.ts';
import { SqlError } from './errors.ts';
import type { Row, TypeId, Value } from './types.ts';

const VERSION = 1;

/** A column stored in the value: its id, its type, and its position in the table's rows. */
export interface StoredColumn {
  readonly id: number;
  readonly type: TypeId;
  readonly position: number;
}

function corrupt(what: string): SqlError {
  return new SqlError('ERR_SQL_DATA_CORRUPTED', `malformed row value: ${what}`);
}

class ValueWriter {
  buf: Buffer;
  len = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(capacity);
  }

  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  varint(n: number): void {
    this.ensure(8);
    while (n >= 0x80) {
      this.buf[this.len++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.len++] = n;
  }
}

function writeColumn(w: ValueWriter, c: StoredColumn, v: Value): void {
  switch (c.type) {
    case 'integer': {
      const n = v as number;
      w.varint(c.id * 8);
      w.varint(n >= 0 ? n * 2 : -n * 2 - 1);
      return;
    }
    case 'bigint':
    case 'timestamp':
      w.varint(c.id * 8 + 1);
      w.ensure(8);
      w.buf.writeBigInt64LE(v as bigint, w.len);
      w.len += 8;
      return;
    case 'real':
    case 'double':
      w.varint(c.id * 8 + 1);
      w.ensure(8);
      w.buf.writeDoubleLE(v as number, w.len);
      w.len += 8;
      return;
    case 'boolean':
      w.varint(c.id * 8 + (v ? 4 : 3));
      return;
    case 'bytea': {
      const b = v as Uint8Array;
      w.varint(c.id * 8 + 2);
      w.varint(b.length);
      w.ensure(b.length);
      w.buf.set(b, w.len);
      w.len += b.length;
      return;
    }
    default: {
      const s = c.type === 'numeric' ? (v as Decimal).toString() : (v as string);
      const n = Buffer.byteLength(s, 'utf8');
      w.varint(c.id * 8 + 2);
      w.varint(n);
      w.ensure(n);
      w.len += w.buf.write(s, w.len, n, 'utf8');
    }
  }
}

/** Encodes the stored columns of a row (NULLs are omitted). */
export function encodeRow(columns: readonly StoredColumn[], row: Row): Uint8Array {
  const w = new ValueWriter(16 + columns.length * 10);
  w.buf[w.len++] = VERSION;
  for (const c of columns) {
    const v = row[c.position];
    if (v !== null && v !== undefined) writeColumn(w, c, v);
  }
  return w.buf.subarray(0, w.len);
}

// Scratch for reading 8-byte little-endian numbers without allocating a view per value.
const scratch = new Uint8Array(8);
const scratchView = new DataView(scratch.buffer);
const utf8 = new TextDecoder('utf-8');

class ValueReader {
  readonly bytes: Uint8Array;
  pos = 1;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  varint(): number {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.bytes.length || mul > 2 ** 49) throw corrupt('bad varint');
      const b = this.bytes[this.pos++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
  }

  need(n: number): void {
    if (this.pos + n > this.bytes.length) throw corrupt('truncated');
  }

  /** Copies the next 8 bytes into the scratch view. */
  fixed64(): DataView {
    this.need(8);
    const b = this.bytes;
    const p = this.pos;
    for (let i = 0; i < 8; i++) scratch[i] = b[p + i]!;
    this.pos += 8;
    return scratchView;
  }
}

function text(b: Uint8Array, at: number, n: number): string {
  if (n <= 32) {
    let s = '';
    for (let i = at; i < at + n; i++) {
      const c = b[i]!;
      if (c >= 0x80) return utf8.decode(b.subarray(at, at + n));
      s += String.fromCharCode(c);
    }
    return s;
  }
  return utf8.decode(b.subarray(at, at + n));
}

function readPayload(r: ValueReader, wire: number, type: TypeId | undefined): Value {
  switch (wire) {
    case 0: {
      const z = r.varint();
      return z % 2 === 0 ? z / 2 : -(z + 1) / 2;
    }
    case 1: {
      const view = r.fixed64();
      return type === 'real' || type === 'double' ? view.getFloat64(0, true) : view.getBigInt64(0, true);
    }
    case 2: {
      const n = r.varint();
      r.need(n);
      const at = r.pos;
      r.pos += n;
      if (type === 'bytea') return Uint8Array.prototype.slice.call(r.bytes, at, at + n);
      const s = text(r.bytes, at, n);
      return type === 'numeric' ? Decimal.parse(s) : s;
    }
    case 3:
      return false;
    case 4:
      return true;
    default:
      throw corrupt(`wire type ${wire}`);
  }
}

/**
 * Decodes a row value into `out`: `byId[columnId]` says where each column goes; columns not in
 * `byId` (dropped ones) are skipped. Columns absent from the value are left untouched.
 */
export function decodeRow(bytes: Uint8Array, byId: readonly (StoredColumn | undefined)[], out: Row): void {
  if (bytes.length === 0 || bytes[0] !== VERSION) throw corrupt(`unknown format version ${bytes[0]}`);
  const r = new ValueReader(bytes);
  while (r.pos < r.bytes.length) {
    const head = r.varint();
    const wire = head % 8;
    const c = byId[(head - wire) / 8];
    const v = readPayload(r, wire, c?.type);
    if (c !== undefined) out[c.position] = v;
  }
}
