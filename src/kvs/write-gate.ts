/**
 * Coordinates a background re-encryption with the store's own writes, so that rewriting a value
 * under the new key never overwrites a newer value written meanwhile (a lost update).
 *
 * Writes pass through {@link WriteGate.write}: many at once. While tracking is on (a reencrypt
 * runs), each write's keys are recorded as dirty. The reencryption reads a chunk, then rewrites it
 * inside {@link WriteGate.exclusive}, which waits for in-flight writes, holds new ones back, and
 * hands over the keys written since the chunk was read, which it skips.
 */
import { keyId } from './engine-guards.ts';

export class WriteGate {
  #tracking = 0;
  #inflight = 0;
  readonly #inflightKeys = new Map<string, number>();
  #dirty = new Set<string>();
  #exclusive: Promise<void> | null = null;
  #drained: (() => void) | null = null;

  /** Runs a write of `keys` (shared with other writes, held back during an exclusive section). */
  async write<T>(keys: readonly Uint8Array[], fn: () => Promise<T>): Promise<T> {
    while (this.#exclusive) await this.#exclusive;
    const ids = this.#tracking > 0 ? keys.map(keyId) : [];
    for (const id of ids) {
      this.#inflightKeys.set(id, (this.#inflightKeys.get(id) ?? 0) + 1);
      this.#dirty.add(id);
    }
    this.#inflight++;
    try {
      return await fn();
    } finally {
      this.#inflight--;
      for (const id of ids) {
        const n = (this.#inflightKeys.get(id) ?? 1) - 1;
        if (n === 0) this.#inflightKeys.delete(id);
        else this.#inflightKeys.set(id, n);
      }
      if (this.#inflight === 0) this.#drained?.();
    }
  }

  /** Starts recording written keys; returns the function that stops. Waits for untracked writes. */
  async track(): Promise<() => void> {
    this.#tracking++;
    await this.exclusive(async () => undefined);
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      this.#tracking--;
      if (this.#tracking === 0) this.#dirty.clear();
    };
  }

  /** Marks the start of a chunk read: dirty keys are those written from now on (or still in flight). */
  beginChunk(): void {
    this.#dirty = new Set(this.#inflightKeys.keys());
  }

  /** True when `key` was written since {@link beginChunk}. */
  isDirty(key: Uint8Array): boolean {
    return this.#dirty.has(keyId(key));
  }

  /** Runs `fn` with no store write in flight and none starting until it ends. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#exclusive) await this.#exclusive;
    let release!: () => void;
    this.#exclusive = new Promise((resolve) => {
      release = resolve;
    });
    try {
      if (this.#inflight > 0) {
        await new Promise<void>((resolve) => {
          this.#drained = resolve;
        });
        this.#drained = null;
      }
      return await fn();
    } finally {
      this.#exclusive = null;
      release();
    }
  }
}
