/**
 * Byte-string order helpers shared by every engine: memcmp comparison, the successor of a prefix,
 * and the resolution of a {@link ScanRange} (start/end/prefix intersected) into plain bounds.
 */
import type { ScanRange } from './types.ts';

/** Half-open key bounds `[start, end)`; an absent bound is unbounded on that side. */
export interface KeyBounds {
  readonly start?: Uint8Array;
  readonly end?: Uint8Array;
}

/** A validated scan: bounds, direction and limit (`Infinity` when none was given). */
export interface ResolvedScan extends KeyBounds {
  readonly reverse: boolean;
  readonly limit: number;
  /** True when no key can match (empty bounds or `limit: 0`): engines return at once. */
  readonly empty: boolean;
}

/**
 * Compares two byte strings as unsigned bytes, shorter first on a common prefix (memcmp order,
 * the order of every engine): negative, zero or positive.
 *
 * @example compareBytes(Uint8Array.of(1), Uint8Array.of(1, 0)) < 0
 */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** True when both byte strings hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}

/** True when `key` starts with `prefix`. */
export function hasPrefix(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

/**
 * The smallest byte string greater than every key that starts with `prefix`: trailing 0xff bytes
 * dropped, then the last byte incremented. `undefined` when there is none (the prefix is empty or
 * all 0xff), meaning "unbounded above".
 *
 * @example prefixSuccessor(Uint8Array.of(1, 0xff)) // Uint8Array [2]
 */
export function prefixSuccessor(prefix: Uint8Array): Uint8Array | undefined {
  let n = prefix.length;
  while (n > 0 && prefix[n - 1] === 0xff) n--;
  if (n === 0) return undefined;
  // A copy, never `prefix.slice()`: on a Buffer that is a view, and the increment would change the
  // caller's key.
  const out = new Uint8Array(n);
  out.set(prefix.subarray(0, n));
  out[n - 1] = (out[n - 1] as number) + 1;
  return out;
}

/** The immediate successor of `key` in memcmp order (`key ‖ 0x00`): the first key after it. */
export function keySuccessor(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out.set(key);
  return out;
}

/** The bounds of all keys starting with `prefix`. */
export function prefixBounds(prefix: Uint8Array): KeyBounds {
  const end = prefixSuccessor(prefix);
  return end === undefined ? { start: prefix } : { start: prefix, end };
}

/** The intersection of two half-open ranges (the larger start, the smaller end). */
export function intersectBounds(a: KeyBounds, b: KeyBounds): KeyBounds {
  const start = maxBound(a.start, b.start);
  const end = minBound(a.end, b.end);
  return { ...(start && { start }), ...(end && { end }) };
}

/** True when no key can lie in `bounds`. */
export function isEmptyBounds(bounds: KeyBounds): boolean {
  const { start, end } = bounds;
  if (end === undefined) return false;
  if (end.length === 0) return true;
  return start !== undefined && compareBytes(start, end) >= 0;
}

/** True when `start <= key < end`. */
export function inBounds(key: Uint8Array, bounds: KeyBounds): boolean {
  if (bounds.start && compareBytes(key, bounds.start) < 0) return false;
  return !(bounds.end && compareBytes(key, bounds.end) >= 0);
}

/**
 * Validates a {@link ScanRange} (a misuse is a TypeError) and resolves it into bounds: the
 * prefix, when given, is intersected with start/end.
 */
export function resolveScan(range: ScanRange): ResolvedScan {
  if (range === null || typeof range !== 'object') throw new TypeError('scan range must be an object');
  for (const field of ['start', 'end', 'prefix'] as const) {
    const v = range[field];
    if (v !== undefined && !(v instanceof Uint8Array)) {
      throw new TypeError(`scan range ${field} must be a Uint8Array, got ${typeof v}`);
    }
  }
  const limit = range.limit ?? Number.POSITIVE_INFINITY;
  if (typeof limit !== 'number' || !(Number.isSafeInteger(limit) || limit === Number.POSITIVE_INFINITY)) {
    throw new TypeError(`scan limit must be a non-negative integer, got ${String(range.limit)}`);
  }
  if (limit < 0) throw new TypeError(`scan limit must be a non-negative integer, got ${limit}`);
  let bounds: KeyBounds = {
    ...(range.start && { start: range.start }),
    ...(range.end && { end: range.end }),
  };
  if (range.prefix) bounds = intersectBounds(bounds, prefixBounds(range.prefix));
  if (bounds.start?.length === 0) bounds = bounds.end ? { end: bounds.end } : {};
  return { ...bounds, reverse: range.reverse === true, limit, empty: limit === 0 || isEmptyBounds(bounds) };
}

function maxBound(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(a, b) >= 0 ? a : b;
}

function minBound(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(a, b) <= 0 ? a : b;
}
