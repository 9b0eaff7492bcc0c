/**
 * Where the secure store last saw each block: lower bound → upper bound, sorted, so that the
 * block holding a key is fetched with one exact engine `get` instead of a reverse range scan.
 * A hint for finding blocks: every block read is checked to cover the key it was fetched for (its
 * range is sealed inside it), and a stale hint falls back to the engine. It also remembers each
 * block's last key and a 64-bit Bloom filter of its keys, which answer most reads of a key the
 * block does not hold ("absent") without reading it: sound because the store that owns the directory is the
 * only writer of its blocks (the `blocks` layout requires it) and learns every block it writes,
 * and because what it learns from reads was authenticated. Bounded: past `maxEntries` it starts
 * over empty.
 */
import type { KeyText } from './sealed-block.ts';

export class BlockDirectory {
  #lowers: KeyText[] = [];
  #uppers: (KeyText | undefined)[] = [];
  /** Each block's last key (undefined: not known, or an empty block). */
  #lasts: (KeyText | undefined)[] = [];
  /** Each block's keys as a 64-bit Bloom filter (two 32-bit words; 0 and 0 when not known). */
  #bloomLow: number[] = [];
  #bloomHigh: number[] = [];
  /** The lower bounds as bytes (engine keys), made once. */
  #bytes: Buffer[] = [];
  readonly #maxEntries: number;

  constructor(maxEntries = 1 << 20) {
    this.#maxEntries = maxEntries;
  }

  /** The position of the block last seen covering `key`, or -1; see {@link lowerAt}, {@link bytesAt}. */
  find(key: KeyText): number {
    const i = this.#floor(key);
    if (i < 0) return -1;
    const upper = this.#uppers[i];
    return upper === undefined || key < upper ? i : -1;
  }

  /**
   * True when `key` is known to be in no block: it falls in a known block's range after the
   * block's last key.
   */
  absent(key: KeyText): boolean {
    const i = this.find(key);
    if (i < 0) return false;
    const last = this.#lasts[i];
    if (last === undefined) return false;
    if (key > last) return true;
    const [b1, b2] = bloomBits(key);
    return (
      !hasBit(this.#bloomLow[i]!, this.#bloomHigh[i]!, b1) ||
      !hasBit(this.#bloomLow[i]!, this.#bloomHigh[i]!, b2)
    );
  }

  /** The lower bound of the block at position `i` (from {@link find}, before any other call). */
  lowerAt(i: number): KeyText {
    return this.#lowers[i]!;
  }

  /** The engine key of the block at position `i` (read-only). */
  bytesAt(i: number): Buffer {
    return this.#bytes[i]!;
  }

  /** Records a block's range, dropping what it overlaps (blocks never overlap). */
  learn(lower: KeyText, upper: KeyText | undefined, keys: readonly KeyText[]): void {
    const lowers = this.#lowers;
    const uppers = this.#uppers;
    const lasts = this.#lasts;
    const bytes = this.#bytes;
    const last = keys.at(-1);
    let low = 0;
    let high = 0;
    for (const key of keys) {
      const [b1, b2] = bloomBits(key);
      if (b1 < 32) low |= 1 << b1;
      else high |= 1 << (b1 - 32);
      if (b2 < 32) low |= 1 << b2;
      else high |= 1 << (b2 - 32);
    }
    let i = this.#floor(lower);
    if (i >= 0 && lowers[i] === lower) {
      uppers[i] = upper;
      lasts[i] = last;
      this.#bloomLow[i] = low;
      this.#bloomHigh[i] = high;
    } else {
      if (lowers.length >= this.#maxEntries) this.clear();
      i = this.#floor(lower);
      const prevUpper = i >= 0 ? uppers[i] : lower;
      if (i >= 0 && (prevUpper === undefined || prevUpper > lower)) {
        // The block before was cut short: its last key may now lie beyond it; forget it.
        uppers[i] = lower;
        if (lasts[i] !== undefined && lasts[i]! >= lower) lasts[i] = undefined;
      }
      i++;
      const lowerBytes = Buffer.from(lower, 'latin1');
      if (i === lowers.length) {
        lowers.push(lower);
        uppers.push(upper);
        lasts.push(last);
        this.#bloomLow.push(low);
        this.#bloomHigh.push(high);
        bytes.push(lowerBytes);
      } else {
        lowers.splice(i, 0, lower);
        uppers.splice(i, 0, upper);
        lasts.splice(i, 0, last);
        this.#bloomLow.splice(i, 0, low);
        this.#bloomHigh.splice(i, 0, high);
        bytes.splice(i, 0, lowerBytes);
      }
    }
    let end = i + 1;
    while (end < lowers.length && (upper === undefined || lowers[end]! < upper)) end++;
    if (end > i + 1) {
      lowers.splice(i + 1, end - i - 1);
      uppers.splice(i + 1, end - i - 1);
      lasts.splice(i + 1, end - i - 1);
      this.#bloomLow.splice(i + 1, end - i - 1);
      this.#bloomHigh.splice(i + 1, end - i - 1);
      bytes.splice(i + 1, end - i - 1);
    }
  }

  /** Forgets the block whose lower bound is `lower`. */
  forget(lower: KeyText): void {
    const i = this.#floor(lower);
    if (i >= 0 && this.#lowers[i] === lower) {
      this.#lowers.splice(i, 1);
      this.#uppers.splice(i, 1);
      this.#lasts.splice(i, 1);
      this.#bloomLow.splice(i, 1);
      this.#bloomHigh.splice(i, 1);
      this.#bytes.splice(i, 1);
    }
  }

  clear(): void {
    this.#lowers = [];
    this.#uppers = [];
    this.#lasts = [];
    this.#bloomLow = [];
    this.#bloomHigh = [];
    this.#bytes = [];
  }

  /** The index of the greatest lower bound ≤ `key`, or -1. */
  #floor(key: KeyText): number {
    const lowers = this.#lowers;
    let lo = 0;
    let hi = lowers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (lowers[mid]! <= key) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
}

/** Two bit positions (0..63) of a key in a block's Bloom filter: FNV-1a over its bytes. */
function bloomBits(key: KeyText): [number, number] {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return [h & 63, (h >>> 6) & 63];
}

function hasBit(low: number, high: number, bit: number): boolean {
  return bit < 32 ? (low & (1 << bit)) !== 0 : (high & (1 << (bit - 32))) !== 0;
}
