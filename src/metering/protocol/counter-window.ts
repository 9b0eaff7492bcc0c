/**
 * Per-session anti-replay window over message counters (RFC 4303 §3.4.3 style). A counter above the
 * highest accepted is fresh; one inside the window (the `size` counters up to the highest) is fresh
 * once, so a little reordering by aggregators is tolerated; one at or below `highest - size` is
 * refused as reordered, since it can no longer be told apart from a replay.
 *
 * The window's state is the highest counter and a bitmap of `size` bits (counter `c` at bit
 * `c % size`). {@link windowCheck} and {@link windowCommit} work on a bitmap anywhere in memory (a
 * session keeps its own in a shared slab: see session-slab.ts); {@link CounterWindow} owns one.
 */
export type CounterVerdict = 'fresh' | 'replayed' | 'reordered';

/** Default window: 64 counters. */
export const DEFAULT_COUNTER_WINDOW = 64;

/** Bytes of a window's bitmap. */
export function windowBytes(size: number): number {
  if (!Number.isInteger(size) || size < 1 || size > 65_536)
    throw new TypeError('window size must be 1 to 65536');
  return Math.ceil(size / 8);
}

/** What {@link windowCommit} would say of `counter`, without recording anything. */
export function windowCheck(
  bits: Uint8Array,
  at: number,
  size: number,
  highest: number,
  counter: number,
): CounterVerdict {
  if (counter > highest) return 'fresh';
  if (counter <= highest - size) return 'reordered';
  const i = counter % size;
  return (bits[at + (i >> 3)]! & (1 << (i & 7))) !== 0 ? 'replayed' : 'fresh';
}

/** Records an authenticated fresh counter; returns the new highest. */
export function windowCommit(
  bits: Uint8Array,
  at: number,
  size: number,
  highest: number,
  counter: number,
): number {
  if (counter > highest) {
    if (counter - highest >= size) bits.fill(0, at, at + windowBytes(size));
    else for (let c = highest + 1; c < counter; c++) setBit(bits, at, c % size, false);
    highest = counter;
  }
  setBit(bits, at, counter % size, true);
  return highest;
}

function setBit(bits: Uint8Array, at: number, i: number, on: boolean): void {
  const byte = at + (i >> 3);
  if (on) bits[byte] = bits[byte]! | (1 << (i & 7));
  else bits[byte] = bits[byte]! & ~(1 << (i & 7));
}

/** One direction of one session, with its own bitmap. Call {@link check} before, {@link commit} after authentication. */
export class CounterWindow {
  readonly #size: number;
  readonly #bits: Uint8Array;
  #highest = 0;

  constructor(size = DEFAULT_COUNTER_WINDOW) {
    this.#size = size;
    this.#bits = new Uint8Array(windowBytes(size));
  }

  /** Highest counter accepted so far (0 before any). */
  get highest(): number {
    return this.#highest;
  }

  /** What {@link commit} would say, without recording anything. */
  check(counter: number): CounterVerdict {
    return windowCheck(this.#bits, 0, this.#size, this.#highest, counter);
  }

  /** Records an authenticated fresh counter. */
  commit(counter: number): void {
    this.#highest = windowCommit(this.#bits, 0, this.#size, this.#highest, counter);
  }
}
