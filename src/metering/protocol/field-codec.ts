import { fieldError } from './errors.ts';

/** A float32 field of a response: its name and the closed range a sane meter reports. */
export interface FloatField<K extends string> {
  readonly name: K;
  readonly min: number;
  readonly max: number;
}

/** Writes each field as float32 little-endian from `offset`; out-of-range values are a TypeError. */
export function writeFloats<K extends string>(
  view: DataView,
  offset: number,
  fields: readonly FloatField<K>[],
  values: Readonly<Record<K, number>>,
): number {
  let at = offset;
  for (const f of fields) {
    const v = values[f.name];
    if (typeof v !== 'number' || !(v >= f.min && v <= f.max)) {
      throw new TypeError(`${f.name} must be a number in [${f.min}, ${f.max}], got ${v}`);
    }
    view.setFloat32(at, v, true);
    at += 4;
  }
  return at;
}

/**
 * Reads float32 little-endian fields (into `into` when given, so that callers build one object
 * instead of spreading a large one); NaN, infinities and out-of-range values are `ERR_BLOCK_FIELD`.
 */
export function readFloats<K extends string>(
  view: DataView,
  offset: number,
  fields: readonly FloatField<K>[],
  into: Record<string, unknown> = {},
): Record<K, number> {
  const out = into as Record<K, number>;
  let at = offset;
  for (const f of fields) {
    const v = view.getFloat32(at, true);
    if (!(v >= f.min && v <= f.max))
      throw fieldError(f.name, String(v), `a finite number in [${f.min}, ${f.max}]`);
    out[f.name] = v;
    at += 4;
  }
  return out;
}

/** Reads an unsigned 64-bit little-endian integer that must fit a JS safe integer. */
export function readSafeU64(view: DataView, offset: number, field: string): number {
  const v = view.getBigUint64(offset, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw fieldError(field, v.toString(), `at most 2^53-1`);
  return Number(v);
}

/** Writes a non-negative safe integer as unsigned 64-bit little-endian (TypeError otherwise). */
export function writeSafeU64(view: DataView, offset: number, value: number, field: string): void {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new TypeError(`${field} must be a non-negative safe integer`);
  view.setBigUint64(offset, BigInt(value), true);
}

/**
 * Writes a non-negative safe integer (a counter) as unsigned 64-bit big-endian, without BigInt:
 * the high and low 32 bits. The caller owns the range (counters are capped below 2^53).
 */
export function writeU64BE(bytes: Uint8Array, offset: number, value: number): void {
  const hi = Math.floor(value / 0x1_0000_0000);
  const lo = value >>> 0;
  bytes[offset] = hi >>> 24;
  bytes[offset + 1] = hi >>> 16;
  bytes[offset + 2] = hi >>> 8;
  bytes[offset + 3] = hi;
  bytes[offset + 4] = lo >>> 24;
  bytes[offset + 5] = lo >>> 16;
  bytes[offset + 6] = lo >>> 8;
  bytes[offset + 7] = lo;
}

/** Refuses non-zero bytes in `bytes[start, end)` (reserved areas must be zero, so encodings are canonical). */
export function assertZero(bytes: Uint8Array, start: number, end: number, field: string): void {
  for (let i = start; i < end; i++) {
    const b = bytes[i] ?? 0;
    if (b !== 0) throw fieldError(field, `byte ${i} = ${b}`, 'zero (reserved)');
  }
}

/** A DataView over exactly `bytes`. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
