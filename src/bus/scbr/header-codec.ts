/**
 * The binary form of a publication header (inside the encrypted envelopes): a count byte, then per
 * attribute its name length (1 byte), ASCII name, type (1 number, 2 string, 3 boolean, 4 timestamp)
 * and value (IEEE 754 binary64 big-endian; UTF-8 with a 2-byte length; one byte; binary64 of the
 * epoch milliseconds). Decoding is bounds-checked and validates what `toHeader` validates.
 */
import { ScbrError } from './errors.ts';
import { type AttributeType, FILTER_LIMITS, type Header, type TypedValue } from './filter-types.ts';
import { isAttributeName, isTimestampInRange } from './filter-values.ts';

const TYPE_CODES: Readonly<Record<AttributeType, number>> = {
  number: 1,
  string: 2,
  boolean: 3,
  timestamp: 4,
};
const TYPES: readonly (AttributeType | undefined)[] = [undefined, 'number', 'string', 'boolean', 'timestamp'];
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/** Encodes a validated header. */
export function encodeHeader(header: Header): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(header.size)];
  for (const [name, v] of header) {
    const nameBytes = utf8.encode(name);
    parts.push(Uint8Array.of(nameBytes.length), nameBytes, Uint8Array.of(TYPE_CODES[v.type]));
    parts.push(encodeValue(v));
  }
  return concatBytes(parts);
}

function encodeValue(v: TypedValue): Uint8Array {
  if (v.type === 'boolean') return Uint8Array.of(v.value ? 1 : 0);
  if (v.type === 'string') {
    const bytes = utf8.encode(v.value);
    const out = new Uint8Array(2 + bytes.length);
    new DataView(out.buffer).setUint16(0, bytes.length);
    out.set(bytes, 2);
    return out;
  }
  const out = new Uint8Array(8);
  new DataView(out.buffer).setFloat64(0, v.value);
  return out;
}

/** Decodes and validates a header. Throws `ERR_SCBR_ENVELOPE_MALFORMED` on anything unexpected. */
export function decodeHeader(bytes: Uint8Array): Header {
  const r = new Reader(bytes);
  const count = r.u8();
  if (count > FILTER_LIMITS.maxAttributes)
    throw malformed(`${count} attributes, at most ${FILTER_LIMITS.maxAttributes}`);
  const header = new Map<string, TypedValue>();
  for (let i = 0; i < count; i++) {
    const name = r.text(r.u8());
    if (!isAttributeName(name) || header.has(name)) throw malformed(`attribute ${i}: bad or repeated name`);
    const type = TYPES[r.u8()];
    if (type === undefined) throw malformed(`attribute ${name}: unknown type`);
    header.set(name, readValue(r, type, name));
  }
  if (!r.done) throw malformed(`${bytes.length - r.offset} trailing bytes`);
  return header;
}

function readValue(r: Reader, type: AttributeType, name: string): TypedValue {
  switch (type) {
    case 'boolean': {
      const b = r.u8();
      if (b > 1) throw malformed(`attribute ${name}: boolean byte ${b}`);
      return { type, value: b === 1 };
    }
    case 'string': {
      const value = r.text(r.u16());
      if (value.length > FILTER_LIMITS.maxStringLength) throw malformed(`attribute ${name}: string too long`);
      return { type, value };
    }
    case 'number': {
      const value = r.f64();
      if (!Number.isFinite(value)) throw malformed(`attribute ${name}: number not finite`);
      return { type, value: value === 0 ? 0 : value };
    }
    case 'timestamp': {
      const value = r.f64();
      if (!isTimestampInRange(value)) throw malformed(`attribute ${name}: timestamp out of range`);
      return { type, value };
    }
  }
}

function malformed(what: string): ScbrError {
  return new ScbrError('ERR_SCBR_ENVELOPE_MALFORMED', `publication header malformed: ${what}`);
}

/** Concatenates byte arrays. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** A bounds-checked big-endian reader raising `ERR_SCBR_ENVELOPE_MALFORMED`. */
export class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.offset === this.#bytes.length;
  }

  #take(n: number): number {
    if (this.offset + n > this.#bytes.length)
      throw malformed(`truncated at byte ${this.offset} (needs ${n} more)`);
    const at = this.offset;
    this.offset += n;
    return at;
  }

  u8(): number {
    return this.#view.getUint8(this.#take(1));
  }
  u16(): number {
    return this.#view.getUint16(this.#take(2));
  }
  f64(): number {
    return this.#view.getFloat64(this.#take(8));
  }
  /** A big-endian unsigned 64-bit integer that must be a safe integer. */
  u64(): number {
    const value = this.#view.getBigUint64(this.#take(8));
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw malformed('sequence number out of range');
    return Number(value);
  }
  bytes(n: number): Uint8Array {
    const at = this.#take(n);
    return this.#bytes.subarray(at, at + n);
  }
  rest(): Uint8Array {
    return this.bytes(this.#bytes.length - this.offset);
  }
  text(n: number): string {
    try {
      return utf8Strict.decode(this.bytes(n));
    } catch (cause) {
      throw new ScbrError('ERR_SCBR_ENVELOPE_MALFORMED', 'invalid UTF-8 text', { cause });
    }
  }
}
