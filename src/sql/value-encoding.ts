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

/**
 * A growable buffer rows are encoded into, then copied out of: one writer serves every row
 * (encoding is synchronous), so its DataView is made once rather than once per row.
 */
class ValueWriter {
  buf: Buffer;
  /** The same bytes as a plain Uint8Array (its `subarray` is cheaper than a Buffer's). */
  bytes: Uint8Array;
  view: DataView;
  len = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafeSlow(capacity);
    this.bytes = new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
    this.bytes = new Uint8Array(next.buffer, next.byteOffset, next.length);
    this.view = new DataView(next.buffer, next.byteOffset, next.length);
  }

  varint(n: number): void {
    this.ensure(8);
    // Column heads are one or two bytes: without the loop.
    if (n < 0x80) {
      this.buf[this.len++] = n;
      return;
    }
    if (n < 0x4000) {
      this.buf[this.len++] = (n & 0x7f) | 0x80;
      this.buf[this.len++] = n >>> 7;
      return;
    }
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
      w.view.setBigInt64(w.len, v as bigint, true);
      w.len += 8;
      return;
    case 'real':
    case 'double':
      w.varint(c.id * 8 + 1);
      w.ensure(8);
      w.view.setFloat64(w.len, v as number, true);
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
let WRITER = new ValueWriter(4096);

export function encodeRow(columns: readonly StoredColumn[], row: Row): Uint8Array {
  const w = WRITER;
  w.len = 0;
  w.buf[w.len++] = VERSION;
  for (const c of columns) {
    const v = row[c.position];
    if (v === null || v === undefined) continue;
    const head = c.id * 8 + 1;
    if (typeof v === 'number' && (c.type === 'double' || c.type === 'real') && head < 0x4000) {
      // The common case inline: a DOUBLE behind a head of one or two bytes.
      w.ensure(10);
      const buf = w.buf;
      if (head < 0x80) buf[w.len++] = head;
      else {
        buf[w.len++] = (head & 0x7f) | 0x80;
        buf[w.len++] = head >>> 7;
      }
      w.view.setFloat64(w.len, v, true);
      w.len += 8;
      continue;
    }
    writeColumn(w, c, v);
  }
  const out = Buffer.allocUnsafe(w.len);
  out.set(w.bytes.subarray(0, w.len));
  // Do not keep the room a large value needed.
  if (w.buf.length > 65536) WRITER = new ValueWriter(4096);
  return out;
}

const utf8 = new TextDecoder('utf-8');

// The DataView of the last ArrayBuffer read: the rows of one storage block share their buffer,
// so they share one view (creating a view costs more than decoding a column).
let lastBuffer: ArrayBufferLike | undefined;
let lastView: DataView | undefined;

function viewOf(bytes: Uint8Array): DataView {
  if (bytes.buffer !== lastBuffer || lastView === undefined) {
    lastView = new DataView(bytes.buffer);
    lastBuffer = bytes.buffer;
  }
  return lastView;
}

class ValueReader {
  readonly bytes: Uint8Array;
  /** Reads 8-byte little-endian numbers in place, at `base + pos`. */
  readonly view: DataView;
  readonly base: number;
  pos: number;

  constructor(bytes: Uint8Array, view: DataView, pos: number) {
    this.bytes = bytes;
    this.view = view;
    this.base = bytes.byteOffset;
    this.pos = pos;
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
      r.need(8);
      const at = r.pos;
      r.pos += 8;
      return type === 'real' || type === 'double'
        ? r.view.getFloat64(r.base + at, true)
        : r.view.getBigInt64(r.base + at, true);
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
  const view = viewOf(bytes);
  const base = bytes.byteOffset;
  const end = bytes.length;
  let pos = 1;
  while (pos < end) {
    // The common case inline: a head of one or two bytes (column ids below 2048) and a fixed
    // 8-byte number.
    const b0 = bytes[pos]!;
    let head = b0;
    let size = 1;
    if (b0 >= 0x80 && pos + 1 < end) {
      const b1 = bytes[pos + 1]!;
      if (b1 < 0x80) {
        head = (b0 & 0x7f) | (b1 << 7);
        size = 2;
      }
    }
    if ((b0 < 0x80 || size === 2) && (head & 7) === 1 && pos + size + 8 <= end) {
      const c = byId[head >> 3];
      pos += size + 8;
      if (c === undefined) continue;
      const t = c.type;
      out[c.position] =
        t === 'real' || t === 'double'
          ? view.getFloat64(base + pos - 8, true)
          : view.getBigInt64(base + pos - 8, true);
      continue;
    }
    const r = new ValueReader(bytes, view, pos);
    const h = r.varint();
    const wire = h % 8;
    const c = byId[(h - wire) / 8];
    const v = readPayload(r, wire, c?.type);
    if (c !== undefined) out[c.position] = v;
    pos = r.pos;
  }
}
