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
  close(): Promise<void>;
}

export interface OpOptions {
  readonly signal?: AbortSignal;
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
