import { fieldError } from './errors.ts';

/** Encodes a string of decimal digits (even length) as packed BCD, two digits per byte. */
export function encodeBcd(digits: string, target: Uint8Array, offset: number, field: string): void {
  const n = digits.length;
  let ok = n % 2 === 0;
  for (let i = 0; ok && i < n; i++) {
    const c = digits.charCodeAt(i) - 48;
    ok = c >= 0 && c <= 9;
  }
  if (!ok) {
    throw new TypeError(`${field} must be an even number of decimal digits, got ${JSON.stringify(digits)}`);
  }
  for (let i = 0; i < n / 2; i++) {
    target[offset + i] = ((digits.charCodeAt(2 * i) - 48) << 4) | (digits.charCodeAt(2 * i + 1) - 48);
  }
}

/** The two digits of each valid packed-BCD byte ('' for a byte with a nibble above 9). */
const PAIRS: readonly string[] = Array.from({ length: 256 }, (_, b) =>
  b >>> 4 > 9 || (b & 0x0f) > 9 ? '' : `${b >>> 4}${b & 0x0f}`,
);

/** Decodes `length` packed-BCD bytes; a nibble above 9 is an `ERR_BLOCK_FIELD`. */
export function decodeBcd(source: Uint8Array, offset: number, length: number, field: string): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    const b = source[offset + i] ?? 0;
    const pair = PAIRS[b]!;
    if (pair === '') {
      throw fieldError(field, `0x${b.toString(16).padStart(2, '0')}`, 'packed BCD (each nibble 0-9)');
    }
    out += pair;
  }
  return out;
}

/** Length of a BCD date-time: YY MM DD hh mm ss. */
export const BCD_TIME_LENGTH = 6;

/**
 * Writes a UTC time (whole seconds, years 2000-2099) as BCD YY MM DD hh mm ss.
 * Misuse (other years, fractional seconds) is a TypeError.
 */
export function encodeBcdTime(ms: number, target: Uint8Array, offset: number, field: string): void {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  if (!Number.isFinite(ms) || ms % 1000 !== 0 || y < 2000 || y > 2099) {
    throw new TypeError(`${field} must be a whole second between 2000 and 2099 UTC`);
  }
  target[offset] = bcdByte(y - 2000);
  target[offset + 1] = bcdByte(d.getUTCMonth() + 1);
  target[offset + 2] = bcdByte(d.getUTCDate());
  target[offset + 3] = bcdByte(d.getUTCHours());
  target[offset + 4] = bcdByte(d.getUTCMinutes());
  target[offset + 5] = bcdByte(d.getUTCSeconds());
}

/** 0-99 as one packed-BCD byte. */
function bcdByte(v: number): number {
  return (((v / 10) | 0) << 4) | (v % 10);
}

/** The value of a packed-BCD byte, or -1 when a nibble is above 9. */
function bcdValue(b: number): number {
  const hi = b >>> 4;
  const lo = b & 0x0f;
  return hi > 9 || lo > 9 ? -1 : hi * 10 + lo;
}

/** Reads a BCD YY MM DD hh mm ss as UTC milliseconds; an impossible date is an `ERR_BLOCK_FIELD`. */
export function decodeBcdTime(source: Uint8Array, offset: number, field: string): number {
  const yy = bcdValue(source[offset] ?? 0);
  const mo = bcdValue(source[offset + 1] ?? 0);
  const dd = bcdValue(source[offset + 2] ?? 0);
  const hh = bcdValue(source[offset + 3] ?? 0);
  const mi = bcdValue(source[offset + 4] ?? 0);
  const ss = bcdValue(source[offset + 5] ?? 0);
  // A nibble above 9: the same error, naming the byte, as decodeBcd gives.
  if ((yy | mo | dd | hh | mi | ss) < 0) decodeBcd(source, offset, BCD_TIME_LENGTH, field);
  const ms = Date.UTC(2000 + yy, mo - 1, dd, hh, mi, ss);
  const d = new Date(ms);
  const valid =
    d.getUTCMonth() === mo - 1 && d.getUTCDate() === dd && hh < 24 && mi < 60 && ss < 60 && mo >= 1;
  if (!valid)
    throw fieldError(
      field,
      decodeBcd(source, offset, BCD_TIME_LENGTH, field),
      'a valid UTC date-time YYMMDDhhmmss',
    );
  return ms;
}
