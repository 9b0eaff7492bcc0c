/** Decoding of the tuple encoding written by `key-encoding.ts`. */
import { Decimal } from './decimal.ts';
import { SqlError } from './errors.ts';
import { TAG } from './key-encoding.ts';
import type { TypeId, Value } from './types.ts';

const bigView = new DataView(new ArrayBuffer(8));

function corrupt(what: string): SqlError {
  return new SqlError('ERR_SQL_DATA_CORRUPTED', `malformed key: ${what}`);
}

/** Reads key elements from `pos` on; `mask` is 0xFF while reading a DESC element. */
export class KeyReader {
  readonly key: Uint8Array;
  pos: number;
  mask = 0;

  constructor(key: Uint8Array, pos = 0) {
    this.key = key;
    this.pos = pos;
  }

  get done(): boolean {
    return this.pos >= this.key.length;
  }

  next(): number {
    if (this.pos >= this.key.length) throw corrupt('truncated');
    return this.key[this.pos++]! ^ this.mask;
  }

  peek(): number {
    if (this.pos >= this.key.length) throw corrupt('truncated');
    return this.key[this.pos]! ^ this.mask;
  }
}

/** Reads an integer element's magnitude bytes after its tag, as a number (up to 6 bytes) or bigint. */
function readIntBody(r: KeyReader, tag: number): number | bigint {
  if (tag === TAG.intZero) return 0;
  const n = tag > TAG.intZero ? tag - TAG.intZero : TAG.intZero - tag;
  if (n > 8) throw corrupt(`integer tag ${tag}`);
  if (n <= 6) {
    let x = 0;
    for (let i = 0; i < n; i++) x = x * 256 + r.next();
    return tag > TAG.intZero ? x : x - (256 ** n - 1);
  }
  let x = 0n;
  for (let i = 0; i < n; i++) x = (x << 8n) | BigInt(r.next());
  return tag > TAG.intZero ? x : x - ((1n << BigInt(8 * n)) - 1n);
}

/** True for tags of integer elements. */
export function isIntTag(tag: number): boolean {
  return tag >= TAG.intZero - 8 && tag <= TAG.intZero + 8;
}

/** Reads an ASC integer element as a number (table and index ids). */
export function readIntNumber(r: KeyReader): number {
  const tag = r.next();
  if (!isIntTag(tag)) throw corrupt(`expected an integer, found tag ${tag}`);
  return Number(readIntBody(r, tag));
}

function readEscaped(r: KeyReader): Uint8Array {
  const { key, mask } = r;
  const start = r.pos;
  let escaped = false;
  let i = start;
  for (;;) {
    if (i + 1 >= key.length) throw corrupt('unterminated string');
    if ((key[i]! ^ mask) === 0) {
      const n = key[i + 1]! ^ mask;
      if (n === 1) break;
      if (n !== 0xff) throw corrupt('bad escape');
      escaped = true;
      i += 2;
    } else i++;
  }
  r.pos = i + 2;
  if (!escaped && mask === 0) return key.subarray(start, i);
  const out: number[] = [];
  for (let j = start; j < i; j++) {
    const b = key[j]! ^ mask;
    out.push(b);
    if (b === 0) j++;
  }
  return Uint8Array.from(out);
}

function readFloat(r: KeyReader): number {
  const first = r.next();
  const neg = (first & 0x80) === 0;
  bigView.setUint8(0, neg ? ~first & 0xff : first ^ 0x80);
  for (let i = 1; i < 8; i++) {
    const b = r.next();
    bigView.setUint8(i, neg ? ~b & 0xff : b);
  }
  return bigView.getFloat64(0);
}

function readTimestamp(r: KeyReader): bigint {
  for (let i = 0; i < 8; i++) bigView.setUint8(i, i === 0 ? r.next() ^ 0x80 : r.next());
  return bigView.getBigInt64(0);
}

function readNumeric(r: KeyReader, tag: number): Decimal {
  if (tag === TAG.numZero) return new Decimal(0n, 0);
  const neg = tag === TAG.numNeg;
  const etag = r.next();
  if (!isIntTag(etag)) throw corrupt('numeric exponent');
  const e = Number(readIntBody(r, etag)) * (neg ? -1 : 1);
  let digits = '';
  for (;;) {
    const b = r.next();
    if (b === (neg ? 0xff : 0)) break;
    const d = neg ? 0xff - b - 1 : b - 1;
    if (d < 0 || d > 9) throw corrupt('numeric digit');
    digits += String.fromCharCode(48 + d);
  }
  const shift = e - digits.length;
  let coef = BigInt(digits);
  if (neg) coef = -coef;
  return shift >= 0 ? new Decimal(coef * 10n ** BigInt(shift), 0) : new Decimal(coef, -shift);
}

const textDecoder = new TextDecoder('utf-8', { fatal: false });

function bytesToText(b: Uint8Array): string {
  if (b.length < 24) {
    let ascii = true;
    for (const c of b) if (c >= 0x80) ascii = false;
    if (ascii) return String.fromCharCode(...b);
  }
  return textDecoder.decode(b);
}

/** Reads one element of a known column type; `desc` for a DESC column. */
export function readKeyValue(r: KeyReader, t: TypeId, desc = false): Value {
  r.mask = desc ? 0xff : 0;
  try {
    const tag = r.next();
    if (tag === TAG.null) return null;
    switch (t) {
      case 'integer':
        return Number(readIntBody(r, tag));
      case 'bigint': {
        const v = readIntBody(r, tag);
        return typeof v === 'bigint' ? v : BigInt(v);
      }
      case 'real':
      case 'double':
        return readFloat(r);
      case 'numeric':
        return readNumeric(r, tag);
      case 'boolean':
        return tag === TAG.true;
      case 'timestamp':
        return readTimestamp(r);
      case 'bytea':
        return Uint8Array.from(readEscaped(r));
      default:
        return bytesToText(readEscaped(r));
    }
  } finally {
    r.mask = 0;
  }
}

/** One element decoded without the catalog (what `formatKey` shows). */
export interface KeyElement {
  readonly type: TypeId | 'null';
  readonly value: Value;
  readonly desc: boolean;
}

const TAG_TYPES: Record<number, TypeId> = {
  [TAG.bytes]: 'bytea',
  [TAG.text]: 'text',
  [TAG.float]: 'double',
  [TAG.false]: 'boolean',
  [TAG.true]: 'boolean',
  [TAG.numNeg]: 'numeric',
  [TAG.numZero]: 'numeric',
  [TAG.numPos]: 'numeric',
  [TAG.timestamp]: 'timestamp',
};

/** Decodes the next element from its tag alone. */
export function readAnyElement(r: KeyReader): KeyElement {
  const raw = r.key[r.pos]!;
  const desc = raw >= 0x80;
  const tag = desc ? ~raw & 0xff : raw;
  if (tag === TAG.null) {
    r.pos++;
    return { type: 'null', value: null, desc };
  }
  const type: TypeId | undefined = isIntTag(tag) ? 'bigint' : TAG_TYPES[tag];
  if (type === undefined) throw corrupt(`unknown tag ${raw}`);
  return { type, value: readKeyValue(r, type, desc), desc };
}
