/**
 * The reference engine: a sorted in-memory array searched by bisection. Used by the tests of
 * other contexts and as the model the contract suite's property test mirrors. Nothing persists.
 */
import {
  assertBatch,
  assertKey,
  assertValue,
  checkOpen,
  closedError,
  copyBytes,
  throwIfAborted,
} from './engine-guards.ts';
import { compareBytes, type ResolvedScan, resolveScan } from './range.ts';
import type { BatchOp, KeyValue, OpOptions, ScanRange, StorageEngine } from './types.ts';

/**
 * Creates an empty in-memory engine. Values are copied in and out, so callers may reuse buffers.
 * Scans see writes made while they run (the cursor re-seeks after its last key at each step).
 *
 * @example
 * const engine = createMemoryEngine();
 * await engine.put(Uint8Array.of(1), Uint8Array.of(42));
 */
export function createMemoryEngine(): StorageEngine {
  return new MemoryEngine();
}

class MemoryEngine implements StorageEngine {
  readonly name = 'memory';
  #keys: Uint8Array[] = [];
  #values: Uint8Array[] = [];
  #closed = false;

  async get(key: Uint8Array, options?: OpOptions): Promise<Uint8Array | undefined> {
    assertKey(key);
    checkOpen(this.#closed, this.name, options);
    const i = this.#lowerBound(key);
    const k = this.#keys[i];
    return k !== undefined && compareBytes(k, key) === 0 ? copyBytes(this.#values[i] as Uint8Array) : undefined;
  }

  async put(key: Uint8Array, value: Uint8Array, options?: OpOptions): Promise<void> {
    assertKey(key);
    assertValue(value);
    checkOpen(this.#closed, this.name, options);
    this.#put(key, value);
  }

  async delete(key: Uint8Array, options?: OpOptions): Promise<boolean> {
    assertKey(key);
    checkOpen(this.#closed, this.name, options);
    return this.#delete(key);
  }

  async batch(ops: readonly BatchOp[], options?: OpOptions): Promise<void> {
    assertBatch(ops);
    checkOpen(this.#closed, this.name, options);
    // Validated above, so nothing below can fail midway: the batch is all or nothing.
    for (const op of ops) {
      if (op.type === 'put') this.#put(op.key, op.value);
      else this.#delete(op.key);
    }
  }

  scan(range: ScanRange, options?: OpOptions): AsyncIterable<KeyValue> {
    return this.#scan(resolveScan(range), options?.signal);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#keys = [];
    this.#values = [];
  }

  async *#scan(scan: ResolvedScan, signal: AbortSignal | undefined): AsyncGenerator<KeyValue> {
    checkOpen(this.#closed, this.name, { signal });
    if (scan.empty) return;
    let emitted = 0;
    // Re-seek from the last key at every step: writes during the scan cannot derail the cursor.
    let i = scan.reverse
      ? (scan.end ? this.#lowerBound(scan.end) : this.#keys.length) - 1
      : scan.start
        ? this.#lowerBound(scan.start)
        : 0;
    while (emitted < scan.limit) {
      const key = this.#keys[i];
      if (key === undefined) return;
      if (scan.reverse ? scan.start && compareBytes(key, scan.start) < 0 : scan.end && compareBytes(key, scan.end) >= 0) {
        return;
      }
      const entry = { key: copyBytes(key), value: copyBytes(this.#values[i] as Uint8Array) };
      emitted++;
      yield entry;
      if (this.#closed) throw closedError(this.name);
      throwIfAborted(signal);
      const at = this.#lowerBound(key);
      const found = this.#keys[at] !== undefined && compareBytes(this.#keys[at], key) === 0;
      i = scan.reverse ? at - 1 : found ? at + 1 : at;
    }
  }

  #put(key: Uint8Array, value: Uint8Array): void {
    const i = this.#lowerBound(key);
    const k = this.#keys[i];
    if (k !== undefined && compareBytes(k, key) === 0) {
      this.#values[i] = copyBytes(value);
    } else {
      this.#keys.splice(i, 0, copyBytes(key));
      this.#values.splice(i, 0, copyBytes(value));
    }
  }

  #delete(key: Uint8Array): boolean {
    const i = this.#lowerBound(key);
    const k = this.#keys[i];
    if (k === undefined || compareBytes(k, key) !== 0) return false;
    this.#keys.splice(i, 1);
    this.#values.splice(i, 1);
    return true;
  }

  /** Index of the first key >= `key` (the array's length when there is none). */
  #lowerBound(key: Uint8Array): number {
    let lo = 0;
    let hi = this.#keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareBytes(this.#keys[mid] as Uint8Array, key) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
