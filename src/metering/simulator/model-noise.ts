/**
 * Counter-based pseudo-random numbers for the customer model: every value is a hash of (stream,
 * counter), so any meter's noise at any interval is computed directly, in any order, without state.
 * Not cryptographic: it only has to be fast, well mixed and the same on every platform.
 */

const GOLDEN = 0x9e3779b1;
const TWO_POW_32 = 4294967296;

/** MurmurHash3's 32-bit finaliser: a bijection on uint32 with full avalanche. */
export function fmix32(x: number): number {
  let h = x ^ (x >>> 16);
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A stream id derived from a parent stream and a salt (a small constant naming the use). */
export function substream(parent: number, salt: number): number {
  return fmix32((parent ^ Math.imul(salt, 0x27d4eb2f)) + GOLDEN);
}

/** The `counter`-th value of `stream`, uniform in [0, 1). Counters may be negative. */
export function uniformAt(stream: number, counter: number): number {
  return fmix32((stream + Math.imul(counter, GOLDEN)) | 0) / TWO_POW_32;
}

/** The `counter`-th value of `stream`, uniform in [-1, 1). */
export function signedAt(stream: number, counter: number): number {
  return 2 * uniformAt(stream, counter) - 1;
}

/** A uint32 derived from `stream` and `counter` (for seeding a sub-stream). */
export function hashAt(stream: number, counter: number): number {
  return fmix32((stream + Math.imul(counter, GOLDEN)) | 0);
}
