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

/** What the directory knows of one block. */
interface Entry {
  readonly lower: KeyText;
  upper: KeyText | undefined;
  /** The block's last key (undefined: not known, or an empty block). */
  last: KeyText | undefined;
  /** The block's keys as a 64-bit Bloom filter (two 32-bit words; 0 and 0 when not known). */
  bloomLow: number;
  bloomHigh: number;
  /** The lower bound as bytes (the engine key), made once. */
  readonly bytes: Buffer;
}

/** Entries per chunk before it splits in two. */
const CHUNK = 512;
/** Positions handed out by {@link BlockDirectory.find}: chunk × STRIDE + offset. */
const STRIDE = 4 * CHUNK;

/**
 * Sorted by lower bound, in chunks of at most {@link CHUNK} entries (a sorted list of sorted
 * chunks), so that learning or forgetting a block moves at most a chunk's entries: one sorted array
 * moved every entry after it, which at a million meters' table (hundreds of thousands of blocks,
 * thousands learnt per fold) made the directory the MDC's largest cost.
 */
export class BlockDirectory {
  #chunks: Entry[][] = [];
  /** Each chunk's first lower bound. */
  #firsts: KeyText[] = [];
  #size = 0;
  readonly #maxEntries: number;

  constructor(maxEntries = 1 << 20) {
    this.#maxEntries = maxEntries;
  }

  /** Blocks known. */
  get size(): number {
    return this.#size;
  }

  /** The position of the block last seen covering `key`, or -1; see {@link lowerAt}, {@link bytesAt}. */
  find(key: KeyText): number {
    const at = this.#floor(key);
    if (at < 0) return -1;
    const e = this.#entry(at);
    return e.upper === undefined || key < e.upper ? at : -1;
  }

  /**
   * True when `key` is known to be in no block: it falls in a known block's range after the
   * block's last key.
   */
  absent(key: KeyText): boolean {
    const at = this.find(key);
    if (at < 0) return false;
    const e = this.#entry(at);
    if (e.last === undefined) return false;
    if (key > e.last) return true;
    const [b1, b2] = bloomBits(key);
    return !hasBit(e.bloomLow, e.bloomHigh, b1) || !hasBit(e.bloomLow, e.bloomHigh, b2);
  }

  /** The lower bound of the block at position `at` (from {@link find}, before any other call). */
  lowerAt(at: number): KeyText {
    return this.#entry(at).lower;
  }

  /** The engine key of the block at position `at` (read-only). */
  bytesAt(at: number): Buffer {
    return this.#entry(at).bytes;
  }

  /** Records a block's range, dropping what it overlaps (blocks never overlap). */
  learn(lower: KeyText, upper: KeyText | undefined, keys: readonly KeyText[]): void {
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
    let at = this.#floor(lower);
    if (at >= 0 && this.#entry(at).lower === lower) {
      const e = this.#entry(at);
      e.upper = upper;
      e.last = last;
      e.bloomLow = low;
      e.bloomHigh = high;
    } else {
      if (this.#size >= this.#maxEntries) {
        this.clear();
        at = -1;
      }
      if (at >= 0) {
        const before = this.#entry(at);
        if (before.upper === undefined || before.upper > lower) {
          // The block before was cut short: its last key may now lie beyond it; forget it.
          before.upper = lower;
          if (before.last !== undefined && before.last >= lower) before.last = undefined;
        }
      }
      const e: Entry = {
        lower,
        upper,
        last,
        bloomLow: low,
        bloomHigh: high,
        bytes: Buffer.from(lower, 'latin1'),
      };
      at = this.#insertAfter(at, e);
    }
    // Drop the entries the block now covers.
    for (;;) {
      const next = this.#next(at);
      if (next < 0) break;
      if (upper !== undefined && this.#entry(next).lower >= upper) break;
      this.#remove(next);
    }
  }

  /** Forgets the block whose lower bound is `lower`. */
  forget(lower: KeyText): void {
    const at = this.#floor(lower);
    if (at >= 0 && this.#entry(at).lower === lower) this.#remove(at);
  }

  clear(): void {
    this.#chunks = [];
    this.#firsts = [];
    this.#size = 0;
  }

  #entry(at: number): Entry {
    return this.#chunks[Math.floor(at / STRIDE)]![at % STRIDE]!;
  }

  /** The position after `at` (-1: none); `at` must exist. */
  #next(at: number): number {
    const c = Math.floor(at / STRIDE);
    const j = at % STRIDE;
    if (j + 1 < this.#chunks[c]!.length) return at + 1;
    return c + 1 < this.#chunks.length ? (c + 1) * STRIDE : -1;
  }

  /** Inserts `e` after position `at` (-1: first); returns its position. */
  #insertAfter(at: number, e: Entry): number {
    this.#size++;
    if (this.#chunks.length === 0) {
      this.#chunks.push([e]);
      this.#firsts.push(e.lower);
      return 0;
    }
    let c: number;
    let j: number;
    if (at < 0) {
      c = 0;
      j = 0;
    } else {
      c = Math.floor(at / STRIDE);
      j = (at % STRIDE) + 1;
    }
    const chunk = this.#chunks[c]!;
    chunk.splice(j, 0, e);
    if (j === 0) this.#firsts[c] = e.lower;
    if (chunk.length <= CHUNK) return c * STRIDE + j;
    const tail = chunk.splice(CHUNK / 2);
    this.#chunks.splice(c + 1, 0, tail);
    this.#firsts.splice(c + 1, 0, tail[0]!.lower);
    return j < CHUNK / 2 ? c * STRIDE + j : (c + 1) * STRIDE + (j - CHUNK / 2);
  }

  #remove(at: number): void {
    const c = Math.floor(at / STRIDE);
    const j = at % STRIDE;
    const chunk = this.#chunks[c]!;
    chunk.splice(j, 1);
    this.#size--;
    if (chunk.length === 0) {
      this.#chunks.splice(c, 1);
      this.#firsts.splice(c, 1);
    } else if (j === 0) this.#firsts[c] = chunk[0]!.lower;
  }

  /** The position of the greatest lower bound ≤ `key`, or -1. */
  #floor(key: KeyText): number {
    const firsts = this.#firsts;
    let lo = 0;
    let hi = firsts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (firsts[mid]! <= key) lo = mid + 1;
      else hi = mid;
    }
    const c = lo - 1;
    if (c < 0) return -1;
    const chunk = this.#chunks[c]!;
    lo = 0;
    hi = chunk.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (chunk[mid]!.lower <= key) lo = mid + 1;
      else hi = mid;
    }
    return c * STRIDE + lo - 1;
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
