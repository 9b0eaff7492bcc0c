import type { ReadScope } from './read-scope.ts';

/** What {@link StorageEngine.getNow} returns when it cannot answer without waiting. */
export const NOT_NOW: unique symbol = Symbol('not now');

/**
 * The storage engine plugin point: an ordered byte-string key-value store. Keys compare as
 * unsigned bytes (memcmp order). Every engine passes the contract suite in `test/kvs/`.
 */
export interface StorageEngine {
  /** The engine's name, e.g. `lmdb`, `postgres`, `memory`. */
  readonly name: string;
  get(key: Uint8Array, options?: OpOptions): Promise<Uint8Array | undefined>;
  put(key: Uint8Array, value: Uint8Array, options?: OpOptions): Promise<void>;
  /** Deletes `key`; resolves to whether it existed. */
  delete(key: Uint8Array, options?: OpOptions): Promise<boolean>;
  /** Applies every operation or none. */
  batch(ops: readonly BatchOp[], options?: OpOptions): Promise<void>;
  /** Entries with `start <= key < end` (either bound optional) in key order, or reversed. */
  scan(range: ScanRange, options?: OpOptions): AsyncIterable<KeyValue>;
  /**
   * Optional fast path: the entries `scan(range)` gives, in arrays as the engine reads them, so
   * that a consumer pays one asynchronous step per chunk instead of one per entry. The keys and
   * values may share memory with the engine (its cache): read them, never change them, and copy
   * what must outlive the engine. Call it through `scanChunks(engine, …)`, which falls back to
   * `scan` for engines without it.
   */
  scanChunks?(range: ScanRange, options?: OpOptions): AsyncIterable<readonly KeyValue[]>;
  /**
   * Optional fast path: reads `key` and passes its value (or `undefined`) to `use` without
   * copying it, resolving to what `use` returns. The view is valid only during the call: `use`
   * must neither keep nor change it. The secure store compares sealed blocks through it.
   */
  peek?<T>(key: Uint8Array, use: (value: Uint8Array | undefined) => T, options?: OpOptions): Promise<T>;
  /**
   * Optional fast path: what `get(key)` would resolve to, when the engine can tell without
   * waiting (LMDB reads synchronously; the secure store answers from the block a read scope read
   * last, or from its directory for a key no block holds), else {@link NOT_NOW}. Throws what
   * `get` would reject with. A caller that gets a value owns it, as with `get`.
   */
  getNow?(key: Uint8Array, options?: OpOptions): Uint8Array | undefined | typeof NOT_NOW;
  /**
   * Optional fast path for a writer whose changes are already in key order (a transaction at
   * commit): the same as `batch` with a put of `values[i]` (or, for `null`, a delete) under each
   * `keys[i]`. Keys are the key bytes as latin1 strings (one char per byte), strictly ascending.
   * The engine takes the values over: the caller must never change them afterwards (no copy is
   * made). Misuse (unsorted keys, wrong types, an oversized key) is refused as by `batch`.
   */
  batchSorted?(
    keys: readonly string[],
    values: readonly (Uint8Array | null)[],
    options?: OpOptions,
  ): Promise<void>;
  close(): Promise<void>;
}

export interface OpOptions {
  readonly signal?: AbortSignal;
  /**
   * The reads' scope (a transaction): within it, an engine may answer a read from what an earlier
   * read of the same scope verified (see `ReadScope`). Writes ignore it.
   */
  readonly scope?: ReadScope;
}

export type BatchOp =
  | { readonly type: 'put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly type: 'delete'; readonly key: Uint8Array };

export interface ScanRange {
  /** Inclusive lower bound. */
  readonly start?: Uint8Array;
  /** Exclusive upper bound. */
  readonly end?: Uint8Array;
  /** Shorthand for [prefix, prefix successor); combined with start/end by intersection. */
  readonly prefix?: Uint8Array;
  readonly reverse?: boolean;
  readonly limit?: number;
}

export interface KeyValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
}
