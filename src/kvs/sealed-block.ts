/**
 * The plaintext of a sealed block (the secure store's `blocks` layout): a run of consecutive
 * entries and the key range the block answers for. The block's lower bound is its engine key
 * (bound through the associated data); the body holds the rest:
 *
 * ```
 * varint(upper length + 1), upper bound bytes   (0 alone: unbounded above)
 * varint(entry count)
 * per entry, keys strictly ascending, all in [lower, upper):
 *   varint(key length) key  varint(value length) value
 * ```
 *
 * The body is authenticated before it is parsed, so a malformed one means a bug or compromised
 * key material; it is still checked and refused with `ERR_KVS_INTEGRITY`, never half-read.
 */
import { KvsError } from './errors.ts';

/** A key as a string of its bytes (latin1): `<` compares it like memcmp, and it is Map-able. */
export type KeyText = string;

/** A parsed block: its range and entries. Values are read from `body` by offset. */
export interface Block {
  /** The inclusive lower bound, which is also the block's engine key. */
  readonly lower: KeyText;
  /** The exclusive upper bound; `undefined`: unbounded. */
  readonly upper: KeyText | undefined;
  /** The keys, ascending. */
  readonly keys: readonly KeyText[];
  /** The plaintext the keys and values are read from. */
  readonly body: Buffer;
  /** Key `i` is `body[keyStarts[i], keyStarts[i] + keys[i].length)`. */
  readonly keyStarts: Int32Array;
  /** Value `i` is `body[starts[i], ends[i])`. */
  readonly starts: Int32Array;
  readonly ends: Int32Array;
}

/** One entry being written into a block. */
export interface BlockEntry {
  readonly key: KeyText;
  readonly value: Uint8Array;
}

/** True when `key` lies in the block's range. */
export function blockCovers(block: Block, key: KeyText): boolean {
  return key >= block.lower && (block.upper === undefined || key < block.upper);
}

/** The position of `key` among the block's keys, or `-(insertion point) - 1`. */
export function findKey(keys: readonly KeyText[], key: KeyText): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = keys[mid]!;
    if (k < key) lo = mid + 1;
    else if (k > key) hi = mid;
    else return mid;
  }
  return -lo - 1;
}

/** The value of entry `i` as a view into the block's body (copy it before handing it out). */
export function valueView(block: Block, i: number): Buffer {
  return block.body.subarray(block.starts[i]!, block.ends[i]!);
}

/** The key of entry `i` as a view into the block's body. */
export function keyView(block: Block, i: number): Buffer {
  const at = block.keyStarts[i]!;
  return block.body.subarray(at, at + block.keys[i]!.length);
}

/** The entries of a block, values as views into its body. */
export function blockEntries(block: Block): BlockEntry[] {
  return block.keys.map((key, i) => ({ key, value: valueView(block, i) }));
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Bytes an entry takes in a body. */
export function entrySize(key: KeyText, valueLength: number): number {
  return varintSize(key.length) + key.length + varintSize(valueLength) + valueLength;
}

function writeVarint(buf: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

/** Encodes a block body and returns it parsed (values as views into the new body). */
export function encodeBlock(
  lower: KeyText,
  upper: KeyText | undefined,
  entries: readonly BlockEntry[],
): Block {
  const upperField = upper === undefined ? 0 : upper.length + 1;
  let size = varintSize(upperField) + (upper?.length ?? 0) + varintSize(entries.length);
  for (const e of entries) size += entrySize(e.key, e.value.length);
  const body = Buffer.allocUnsafe(size);
  let at = writeVarint(body, 0, upperField);
  if (upper !== undefined) at += body.write(upper, at, 'latin1');
  at = writeVarint(body, at, entries.length);
  const keys: KeyText[] = new Array(entries.length);
  const keyStarts = new Int32Array(entries.length);
  const starts = new Int32Array(entries.length);
  const ends = new Int32Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const { key, value } = entries[i]!;
    keys[i] = key;
    at = writeVarint(body, at, key.length);
    keyStarts[i] = at;
    at += body.write(key, at, 'latin1');
    at = writeVarint(body, at, value.length);
    body.set(value, at);
    starts[i] = at;
    at += value.length;
    ends[i] = at;
  }
  return { lower, upper, keys, body, keyStarts, starts, ends };
}

function malformed(what: string): KvsError {
  return new KvsError(
    'ERR_KVS_INTEGRITY',
    `an authenticated block is malformed (${what}): the store's software or key material is compromised`,
  );
}

class BodyReader {
  pos = 0;
  constructor(readonly body: Buffer) {}

  varint(): number {
    let n = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.body.length || mul > 2 ** 35) throw malformed('bad length');
      const b = this.body[this.pos++]!;
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
  }

  take(n: number): number {
    const at = this.pos;
    if (at + n > this.body.length) throw malformed('truncated');
    this.pos += n;
    return at;
  }
}

/** Parses an opened block body whose lower bound (engine key) is `lower`. */
export function decodeBlock(lower: KeyText, body: Buffer): Block {
  const r = new BodyReader(body);
  const upperField = r.varint();
  let upper: KeyText | undefined;
  if (upperField > 0) {
    const at = r.take(upperField - 1);
    upper = body.toString('latin1', at, r.pos);
    if (upper <= lower) throw malformed('empty range');
  }
  const count = r.varint();
  if (count > body.length) throw malformed('entry count');
  const keys: KeyText[] = new Array(count);
  const keyStarts = new Int32Array(count);
  const starts = new Int32Array(count);
  const ends = new Int32Array(count);
  let previous = '';
  for (let i = 0; i < count; i++) {
    const keyLength = r.varint();
    const keyAt = r.take(keyLength);
    keyStarts[i] = keyAt;
    const key = body.toString('latin1', keyAt, r.pos);
    if (key.length === 0 || (i === 0 ? key < lower : key <= previous)) throw malformed('key order');
    keys[i] = key;
    previous = key;
    const valueLength = r.varint();
    starts[i] = r.take(valueLength);
    ends[i] = r.pos;
  }
  if (r.pos !== body.length) throw malformed('trailing bytes');
  if (upper !== undefined && count > 0 && previous >= upper) throw malformed('key beyond the range');
  return { lower, upper, keys, body, keyStarts, starts, ends };
}

/** Buffer's latin1 decoder without `toString`'s argument handling (Node's own fast path). */
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (start: number, end: number) => string })
  .latin1Slice;

/** The {@link KeyText} of key bytes. */
export function keyText(key: Uint8Array): KeyText {
  return latin1Slice.call(key, 0, key.length);
}

/** The bytes of a {@link KeyText}. */
export function keyBytes(key: KeyText): Buffer {
  return Buffer.from(key, 'latin1');
}

/** A copy the caller may keep or change (a block's body stays as it is). */
export function copyOut(view: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(view.length);
  out.set(view);
  return out;
}
