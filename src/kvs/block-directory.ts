/**
 * Where the secure store last saw each block: lower bound → upper bound, sorted, so that the
 * block holding a key is fetched with one exact engine `get` instead of a reverse range scan.
 * Only a hint: every block read is checked to cover the key it was fetched for (its range is
 * sealed inside it), and a stale hint (another writer split or merged blocks) falls back to the
 * engine. Bounded: past `maxEntries` it starts over empty.
 */
import type { KeyText } from './sealed-block.ts';

export class BlockDirectory {
  #lowers: KeyText[] = [];
  #uppers: (KeyText | undefined)[] = [];
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

  /** The lower bound of the block at position `i` (from {@link find}, before any other call). */
  lowerAt(i: number): KeyText {
    return this.#lowers[i]!;
  }

  /** The engine key of the block at position `i` (read-only). */
  bytesAt(i: number): Buffer {
    return this.#bytes[i]!;
  }

  /** Records a block's range, dropping what it overlaps (blocks never overlap). */
  learn(lower: KeyText, upper: KeyText | undefined): void {
    const lowers = this.#lowers;
    const uppers = this.#uppers;
    const bytes = this.#bytes;
    let i = this.#floor(lower);
    if (i >= 0 && lowers[i] === lower) {
      uppers[i] = upper;
    } else {
      if (lowers.length >= this.#maxEntries) this.clear();
      i = this.#floor(lower);
      const prevUpper = i >= 0 ? uppers[i] : lower;
      if (i >= 0 && (prevUpper === undefined || prevUpper > lower)) uppers[i] = lower;
      i++;
      const lowerBytes = Buffer.from(lower, 'latin1');
      if (i === lowers.length) {
        lowers.push(lower);
        uppers.push(upper);
        bytes.push(lowerBytes);
      } else {
        lowers.splice(i, 0, lower);
        uppers.splice(i, 0, upper);
        bytes.splice(i, 0, lowerBytes);
      }
    }
    let end = i + 1;
    while (end < lowers.length && (upper === undefined || lowers[end]! < upper)) end++;
    if (end > i + 1) {
      lowers.splice(i + 1, end - i - 1);
      uppers.splice(i + 1, end - i - 1);
      bytes.splice(i + 1, end - i - 1);
    }
  }

  /** Forgets the block whose lower bound is `lower`. */
  forget(lower: KeyText): void {
    const i = this.#floor(lower);
    if (i >= 0 && this.#lowers[i] === lower) {
      this.#lowers.splice(i, 1);
      this.#uppers.splice(i, 1);
      this.#bytes.splice(i, 1);
    }
  }

  clear(): void {
    this.#lowers = [];
    this.#uppers = [];
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
