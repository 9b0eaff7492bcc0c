import { TeeError } from './errors.ts';

/** Lower-case hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Parses hex (optionally `0x`-prefixed, whitespace ignored); throws a TypeError on bad input. */
export function fromHex(text: string): Buffer {
  const clean = text.replace(/\s+/g, '').replace(/^0x/i, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new TypeError('expected an even number of hexadecimal digits');
  }
  return Buffer.from(clean, 'hex');
}

/** True when every byte is zero. */
export function isAllZero(bytes: Uint8Array): boolean {
  for (const b of bytes) if (b !== 0) return false;
  return true;
}

/**
 * Bounds-checked little-endian reader over hostile bytes. Every read past the end raises
 * `ERR_EVIDENCE_TRUNCATED` naming the field, never a RangeError.
 */
export class ByteReader {
  readonly #buf: Buffer;
  #pos: number;
  readonly #what: string;

  constructor(bytes: Uint8Array, what = 'evidence', offset = 0) {
    this.#buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#pos = offset;
    this.#what = what;
  }

  get position(): number {
    return this.#pos;
  }

  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  #need(n: number, field: string): number {
    if (n < 0 || this.#pos + n > this.#buf.length) {
      throw new TeeError(
        'ERR_EVIDENCE_TRUNCATED',
        `${this.#what} is truncated: field ${field} needs ${n} bytes at offset ${this.#pos}, ` +
          `only ${Math.max(0, this.#buf.length - this.#pos)} remain`,
        { check: 'parse', value: String(this.#buf.length) },
      );
    }
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  u8(field: string): number {
    return this.#buf.readUInt8(this.#need(1, field));
  }

  u16(field: string): number {
    return this.#buf.readUInt16LE(this.#need(2, field));
  }

  u32(field: string): number {
    return this.#buf.readUInt32LE(this.#need(4, field));
  }

  u64(field: string): bigint {
    return this.#buf.readBigUInt64LE(this.#need(8, field));
  }

  /** A view (no copy) of the next `n` bytes. */
  bytes(n: number, field: string): Buffer {
    const at = this.#need(n, field);
    return this.#buf.subarray(at, at + n);
  }

  skip(n: number, field: string): void {
    this.#need(n, field);
  }
}
