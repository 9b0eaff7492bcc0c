import { fieldError } from './errors.ts';

/** Encodes a string of decimal digits (even length) as packed BCD, two digits per byte. */
export function encodeBcd(digits: string, target: Uint8Array, offset: number, field: string): void {
  if (!/^[0-9]*$/.test(digits) || digits.length % 2 !== 0) {
    throw new TypeError(`${field} must be an even number of decimal digits, got ${JSON.stringify(digits)}`);
  }
  for (let i = 0; i < digits.length / 2; i++) {
    target[offset + i] = (Number(digits[2 * i]) << 4) | Number(digits[2 * i + 1]);
  }
}

/** Decodes `length` packed-BCD bytes; a nibble above 9 is an `ERR_BLOCK_FIELD`. */
export function decodeBcd(source: Uint8Array, offset: number, length: number, field: string): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    const b = source[offset + i] ?? 0;
    const hi = b >>> 4;
    const lo = b & 0x0f;
    if (hi > 9 || lo > 9) {
      throw fieldError(field, `0x${b.toString(16).padStart(2, '0')}`, 'packed BCD (each nibble 0-9)');
    }
    out += `${hi}${lo}`;
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
  const parts = [y - 2000, d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes()];
  parts.push(d.getUTCSeconds());
  encodeBcd(parts.map((p) => String(p).padStart(2, '0')).join(''), target, offset, field);
}

/** Reads a BCD YY MM DD hh mm ss as UTC milliseconds; an impossible date is an `ERR_BLOCK_FIELD`. */
export function decodeBcdTime(source: Uint8Array, offset: number, field: string): number {
  const digits = decodeBcd(source, offset, BCD_TIME_LENGTH, field);
  const [yy, mo, dd, hh, mi, ss] = [0, 2, 4, 6, 8, 10].map((i) => Number(digits.slice(i, i + 2))) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(2000 + yy, mo - 1, dd, hh, mi, ss);
  const d = new Date(ms);
  const valid =
    d.getUTCMonth() === mo - 1 && d.getUTCDate() === dd && hh < 24 && mi < 60 && ss < 60 && mo >= 1;
  if (!valid) throw fieldError(field, digits, 'a valid UTC date-time YYMMDDhhmmss');
  return ms;
}
