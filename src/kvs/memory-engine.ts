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

/** One version of the sorted arrays. Scans read a generation; a write under a scan copies it. */
interface Generation {
  readonly keys: Uint8Array[];
  readonly values: Uint8Array[];
  /** Scans under way on this generation. */
  readers: number;
}

/**
 * Creates an empty in-memory engine. Values are copied in and out, so callers may reuse buffers.
 * A scan reads a snapshot, like LMDB: the first write during a scan copies the arrays
 * (copy-on-write), so writes made while it runs are not seen.
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
  #gen: Generation = { keys: [], values: [], readers: 0 };
  #closed = false;

  async get(key: Uint8Array, options?: OpOptions): Promise<Uint8Array | undefined> {
    return this.getNow(key, options);
  }

  getNow(key: Uint8Array, options?: OpOptions): Uint8Array | undefined {
    assertKey(key);
    checkOpen(this.#closed, this.name, options);
    const { keys, values } = this.#gen;
    const i = lowerBound(keys, key);
    const k = keys[i];
    return k !== undefined && compareBytes(k, key) === 0 ? copyBytes(values[i] as Uint8Array) : undefined;
  }

  async put(key: Uint8Array, value: Uint8Array, options?: OpOptions): Promise<void> {
    assertKey(key);
    assertValue(value);
    checkOpen(this.#closed, this.name, options);
    this.#put(this.#writable(), key, value);
  }

  async delete(key: Uint8Array, options?: OpOptions): Promise<boolean> {
    assertKey(key);
    checkOpen(this.#closed, this.name, options);
    return this.#delete(this.#writable(), key);
  }

  async batch(ops: readonly BatchOp[], options?: OpOptions): Promise<void> {
    assertBatch(ops);
    checkOpen(this.#closed, this.name, options);
    if (ops.length === 0) return;
    // Validated above, so nothing below can fail midway: the batch is all or nothing.
    const gen = this.#writable();
    for (const op of ops) {
      if (op.type === 'put') this.#put(gen, op.key, op.value);
      else this.#delete(gen, op.key);
    }
  }

  scan(range: ScanRange, options?: OpOptions): AsyncIterable<KeyValue> {
    return this.#scan(resolveScan(range), options?.signal);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#gen = { keys: [], values: [], readers: 0 };
  }

  async *#scan(scan: ResolvedScan, signal: AbortSignal | undefined): AsyncGenerator<KeyValue> {
    checkOpen(this.#closed, this.name, { signal });
    if (scan.empty) return;
    const gen = this.#gen;
    const { keys, values } = gen;
    gen.readers++;
    try {
      const first = scan.reverse
        ? (scan.end ? lowerBound(keys, scan.end) : keys.length) - 1
        : scan.start
          ? lowerBound(keys, scan.start)
          : 0;
      const step = scan.reverse ? -1 : 1;
      for (let i = first, emitted = 0; emitted < scan.limit; i += step, emitted++) {
        const key = keys[i];
        if (key === undefined || !withinFar(key, scan)) return;
        yield { key: copyBytes(key), value: copyBytes(values[i] as Uint8Array) };
        if (this.#closed) throw closedError(this.name);
        throwIfAborted(signal);
      }
    } finally {
      gen.readers--;
    }
  }

  /** The generation to write to: the current one, or a copy of it when scans are reading it. */
  #writable(): Generation {
    const gen = this.#gen;
    if (gen.readers === 0) return gen;
    this.#gen = { keys: gen.keys.slice(), values: gen.values.slice(), readers: 0 };
    return this.#gen;
  }

  #put(gen: Generation, key: Uint8Array, value: Uint8Array): void {
    const i = lowerBound(gen.keys, key);
    const k = gen.keys[i];
    if (k !== undefined && compareBytes(k, key) === 0) {
      gen.values[i] = copyBytes(value);
    } else {
      gen.keys.splice(i, 0, copyBytes(key));
      gen.values.splice(i, 0, copyBytes(value));
    }
  }

  #delete(gen: Generation, key: Uint8Array): boolean {
    const i = lowerBound(gen.keys, key);
    const k = gen.keys[i];
    if (k === undefined || compareBytes(k, key) !== 0) return false;
    gen.keys.splice(i, 1);
    gen.values.splice(i, 1);
    return true;
  }
}

/** True while `key` has not passed the far bound of the scan (end going forwards, start backwards). */
function withinFar(key: Uint8Array, scan: ResolvedScan): boolean {
  if (scan.reverse) return scan.start === undefined || compareBytes(key, scan.start) >= 0;
  return scan.end === undefined || compareBytes(key, scan.end) < 0;
}

/** Index of the first key >= `key` (the array's length when there is none). */
function lowerBound(keys: readonly Uint8Array[], key: Uint8Array): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(keys[mid] as Uint8Array, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
