/**
 * A min-heap of expiry times by id, with lazy deletion: changing or removing an id's time leaves the
 * old heap entry behind, and popping skips entries that no longer match. The heap is rebuilt when
 * stale entries outnumber live ones, so memory stays proportional to the live ids.
 */
export class ExpiryQueue {
  readonly #times = new Map<string, number>();
  #heap: { at: number; id: string }[] = [];

  /** Number of ids with an expiry time. */
  get size(): number {
    return this.#times.size;
  }

  /** Sets (or moves) `id`'s expiry time, in milliseconds since the epoch. */
  set(id: string, at: number): void {
    this.#times.set(id, at);
    this.#push({ at, id });
    if (this.#heap.length > 2 * this.#times.size + 64) this.#rebuild();
  }

  delete(id: string): boolean {
    return this.#times.delete(id);
  }

  /** Removes and returns the ids whose time is at or before `now`, earliest first. */
  popExpired(now: number): string[] {
    const out: string[] = [];
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined || top.at > now) return out;
      this.#pop();
      if (this.#times.get(top.id) === top.at) {
        this.#times.delete(top.id);
        out.push(top.id);
      }
    }
  }

  #rebuild(): void {
    this.#heap = [];
    for (const [id, at] of this.#times) this.#push({ at, id });
  }

  #push(entry: { at: number; id: string }): void {
    const h = this.#heap;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((h[parent] as typeof entry).at <= entry.at) break;
      h[i] = h[parent] as typeof entry;
      i = parent;
    }
    h[i] = entry;
  }

  #pop(): void {
    const h = this.#heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && (h[r] as typeof last).at < (h[l] as typeof last).at ? r : l;
      if ((h[child] as typeof last).at >= last.at) break;
      h[i] = h[child] as typeof last;
      i = child;
    }
    h[i] = last;
  }
}
