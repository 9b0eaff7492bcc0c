/**
 * Sliding-window replay detection over sequence numbers (as in IPsec, RFC 4303 §3.4.3): a number
 * above the highest seen is accepted and slides the window; one inside the window is accepted once;
 * one below the window is refused as too old. Gaps are fine (a router may drop messages for a slow
 * subscriber); a small reordering is tolerated.
 */
export type ReplayVerdict = 'fresh' | 'replayed' | 'too-old';

/** Default window: the last 1024 sequence numbers. */
export const DEFAULT_REPLAY_WINDOW = 1024;

/** One sender's window. Call {@link ReplayWindow.check} only after the message authenticated. */
export class ReplayWindow {
  readonly #size: number;
  readonly #seen: Uint8Array;
  #highest = -1;

  constructor(size = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isInteger(size) || size < 1) throw new TypeError('a replay window holds at least 1 number');
    this.#size = size;
    this.#seen = new Uint8Array(size);
  }

  /** The highest sequence number accepted so far (-1 before any). */
  get highest(): number {
    return this.#highest;
  }

  /** Accepts `seq` (recording it) or says why not. */
  check(seq: number): ReplayVerdict {
    if (seq > this.#highest) {
      const advance = seq - this.#highest;
      if (advance >= this.#size) this.#seen.fill(0);
      else for (let s = this.#highest + 1; s < seq; s++) this.#seen[s % this.#size] = 0;
      this.#highest = seq;
      this.#seen[seq % this.#size] = 1;
      return 'fresh';
    }
    if (seq <= this.#highest - this.#size) return 'too-old';
    if (this.#seen[seq % this.#size] === 1) return 'replayed';
    this.#seen[seq % this.#size] = 1;
    return 'fresh';
  }
}
