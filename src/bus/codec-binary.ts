/**
 * The binary form of {@link defineCodec} messages: a writer and a bounds-checked reader. Layout in
 * codec.ts. The reader trusts nothing: every length is checked against what is left, so truncated or
 * random input fails with ERR_BUS_MESSAGE_INVALID and the path where it failed.
 */
import { type FieldSchema, invalid, join, SCHEMA_DEFAULTS, sortedFields } from './codec-schema.ts';

/** The first bytes of every binary message: `SC` and the format version 1. */
export const CODEC_MAGIC = Uint8Array.of(0x53, 0x43, 1);

class Writer {
  #chunks: Uint8Array[] = [];
  #size = 0;

  bytes(b: Uint8Array): void {
    this.#chunks.push(b);
    this.#size += b.length;
  }

  byte(v: number): void {
    this.bytes(Uint8Array.of(v));
  }

  varint(v: number): void {
    const out: number[] = [];
    let n = v;
    while (n >= 0x80) {
      out.push((n & 0x7f) | 0x80);
      n = Math.floor(n / 128);
    }
    out.push(n);
    this.bytes(Uint8Array.from(out));
  }

  float(v: number): void {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, v);
    this.bytes(b);
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.#size);
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

/** Encodes a validated value. */
export function writeBinary(schema: FieldSchema, value: unknown, fingerprint: Uint8Array): Uint8Array {
  const w = new Writer();
  w.bytes(CODEC_MAGIC);
  w.bytes(fingerprint);
  writeField(w, schema, value, true);
  return w.finish();
}

function writeField(w: Writer, field: FieldSchema, value: unknown, top = false): void {
  if (field.optional && !top) {
    w.byte(value === undefined ? 0 : 1);
    if (value === undefined) return;
  }
  switch (field.type) {
    case 'string': {
      const b = new TextEncoder().encode(value as string);
      w.varint(b.length);
      w.bytes(b);
      return;
    }
    case 'bytes':
      w.varint((value as Uint8Array).length);
      w.bytes(value as Uint8Array);
      return;
    case 'number':
      w.float(value as number);
      return;
    case 'timestamp':
      w.float((value as Date).getTime());
      return;
    case 'boolean':
      w.byte(value ? 1 : 0);
      return;
    case 'enum':
      w.varint(field.values.indexOf(value as string));
      return;
    case 'list':
      w.varint((value as unknown[]).length);
      for (const item of value as unknown[]) writeField(w, field.of, item);
      return;
    case 'object':
      for (const [key, sub] of sortedFields(field.fields))
        writeField(w, sub, (value as Record<string, unknown>)[key]);
      return;
  }
}

class Reader {
  readonly codec: string;
  readonly #b: Uint8Array;
  #at = 0;

  constructor(codec: string, bytes: Uint8Array) {
    this.codec = codec;
    this.#b = bytes;
  }

  get left(): number {
    return this.#b.length - this.#at;
  }

  take(n: number, path: string): Uint8Array {
    if (n > this.left) invalid(this.codec, path, `truncated: needs ${n} bytes, ${this.left} left`);
    const out = this.#b.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }

  byte(path: string): number {
    return this.take(1, path)[0]!;
  }

  varint(path: string): number {
    let value = 0;
    for (let i = 0; i < 5; i++) {
      const b = this.byte(path);
      value += (b & 0x7f) * 2 ** (7 * i);
      if ((b & 0x80) === 0) return value;
    }
    return invalid(this.codec, path, 'length or count too large');
  }

  float(path: string): number {
    const b = this.take(8, path);
    return new DataView(b.buffer, b.byteOffset, 8).getFloat64(0);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes untrusted bytes into a value (validated afterwards by the caller). */
export function readBinary(
  codec: string,
  schema: FieldSchema,
  bytes: Uint8Array,
  fingerprint: Uint8Array,
): unknown {
  const r = new Reader(codec, bytes);
  const head = r.take(CODEC_MAGIC.length + fingerprint.length, 'header');
  if (!CODEC_MAGIC.every((b, i) => head[i] === b))
    invalid(codec, 'header', 'not a securecloud binary message');
  if (!fingerprint.every((b, i) => head[CODEC_MAGIC.length + i] === b))
    invalid(codec, 'header', 'the sender uses another schema (fingerprint mismatch)');
  const value = readField(r, schema, '', true);
  if (r.left !== 0) invalid(codec, '', `${r.left} unexpected bytes after the message`);
  return value;
}

function readField(r: Reader, field: FieldSchema, path: string, top = false): unknown {
  if (field.optional && !top) {
    const present = r.byte(path);
    if (present > 1) invalid(r.codec, path, 'bad presence byte');
    if (present === 0) return undefined;
  }
  switch (field.type) {
    case 'string': {
      const b = r.take(r.varint(path), path);
      try {
        return utf8.decode(b);
      } catch {
        return invalid(r.codec, path, 'not valid UTF-8');
      }
    }
    case 'bytes':
      return new Uint8Array(r.take(r.varint(path), path));
    case 'number':
      return r.float(path);
    case 'timestamp':
      return new Date(r.float(path));
    case 'boolean': {
      const b = r.byte(path);
      if (b > 1) invalid(r.codec, path, 'a boolean is 0 or 1');
      return b === 1;
    }
    case 'enum': {
      const i = r.varint(path);
      if (i >= field.values.length) invalid(r.codec, path, `enum index ${i} out of range`);
      return field.values[i];
    }
    case 'list':
      return readList(r, field, path);
    case 'object': {
      const out: Record<string, unknown> = {};
      for (const [key, sub] of sortedFields(field.fields)) {
        const v = readField(r, sub, join(path, key));
        if (v !== undefined) out[key] = v;
      }
      return out;
    }
  }
}

function readList(r: Reader, field: Extract<FieldSchema, { type: 'list' }>, path: string): unknown[] {
  const count = r.varint(path);
  const max = field.maxItems ?? SCHEMA_DEFAULTS.maxItems;
  if (count > max) invalid(r.codec, path, `more than ${max} items`);
  // An item of any type but an empty object takes a byte at least: refuse a count the input cannot hold.
  const empty = field.of.type === 'object' && !field.of.optional && Object.keys(field.of.fields).length === 0;
  if (!empty && count > r.left) invalid(r.codec, path, `claims ${count} items, only ${r.left} bytes left`);
  const out: unknown[] = [];
  for (let i = 0; i < count; i++) out.push(readField(r, field.of, `${path}[${i}]`));
  return out;
}
