/**
 * Per-session anti-replay window over message counters (RFC 4303 §3.4.3 style). A counter above the
 * highest accepted is fresh; one inside the window (the `size` counters up to the highest) is fresh
 * once, so a little reordering by aggregators is tolerated; one at or below `highest - size` is
 * refused as reordered, since it can no longer be told apart from a replay.
 */
export type CounterVerdict = 'fresh' | 'replayed' | 'reordered';

/** Default window: 64 counters. */
export const DEFAULT_COUNTER_WINDOW = 64;

/** One direction of one session. Call {@link CounterWindow.check} before, {@link CounterWindow.commit} after authentication. */
export class CounterWindow {
  readonly #size: number;
  readonly #seen: Uint8Array;
  #highest = 0;

  constructor(size = DEFAULT_COUNTER_WINDOW) {
    if (!Number.isInteger(size) || size < 1 || size > 65_536)
      throw new TypeError('window size must be 1 to 65536');
    this.#size = size;
    this.#seen = new Uint8Array(size);
  }

  /** Highest counter accepted so far (0 before any). */
  get highest(): number {
    return this.#highest;
  }

  /** What {@link commit} would say, without recording anything. */
  check(counter: number): CounterVerdict {
    if (counter > this.#highest) return 'fresh';
    if (counter <= this.#highest - this.#size) return 'reordered';
    return this.#seen[counter % this.#size] === 1 ? 'replayed' : 'fresh';
  }

  /** Records an authenticated fresh counter. */
  commit(counter: number): void {
    if (counter > this.#highest) {
      const advance = counter - this.#highest;
      if (advance >= this.#size) this.#seen.fill(0);
      else for (let c = this.#highest + 1; c < counter; c++) this.#seen[c % this.#size] = 0;
      this.#highest = counter;
    }
    this.#seen[counter % this.#size] = 1;
  }
}
