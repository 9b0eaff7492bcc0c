/**
 * The secure layer: a {@link StorageEngine} over any engine that authenticates and encrypts every
 * value with AES-256-GCM, bound to the store's namespace and to its key, under keys from a
 * {@link Keyring} that rotate without downtime. Two layouts (fixed when a store is created):
 *
 * - `blocks` (default): consecutive entries sealed together, one AEAD frame per block of about
 *   `blockBytes` (`block-store.ts`). An AEAD operation in node:crypto costs a few microseconds
 *   whatever its size, so this is what makes scans and batched writes fast. The engine sees one
 *   entry per block, under the block's lowest key. One store object must do all the writing.
 * - `values`: each value sealed on its own under its own key (`value-store.ts`); the engine sees
 *   every key. Several writers (processes) may share the engine.
 */
import { BlockStore } from './block-store.ts';
import type { Keyring } from './keyring.ts';
import type { StorageEngine } from './types.ts';
import { ValueStore } from './value-store.ts';

/**
 * The default most bytes of a sealed block: the largest value the `lmdb` package (v3, 4 KiB
 * pages) keeps in two overflow pages (measured), so that a full block takes two pages, not three.
 */
export const DEFAULT_BLOCK_BYTES = 2 * 4096 - 24;

/** How a secure store seals values: in blocks of consecutive entries, or one by one. */
export type SecureStoreLayout = 'blocks' | 'values';

export interface SecureStoreOptions {
  /**
   * What the values are bound to besides their key (a database, a tenant): 1 to 255 bytes of
   * UTF-8. It is not a key prefix: stores sharing one engine need disjoint key spaces.
   */
  readonly namespace: string;
  /** Whether `close()` also closes the wrapped engine (default true). */
  readonly closeEngine?: boolean;
  /** `blocks` (default) or `values`; a store must always be opened with the layout it was written with. */
  readonly layout?: SecureStoreLayout;
  /**
   * `blocks` layout: the most bytes a sealed block takes, frame included, before it is split
   * (default 8168, so that it fills two 4 KiB LMDB overflow pages exactly; 64 to 1 MiB). An entry
   * larger than that gets a block of its own. Larger blocks make scans and batched writes cheaper
   * per entry, and point reads that miss the cache and small writes dearer (each reads or seals
   * a whole block).
   */
  readonly blockBytes?: number;
  /**
   * `blocks` layout: bytes of opened blocks kept in memory (default 64 MiB; 0: none). A block
   * read again is taken from the cache only when the engine returns the very bytes it was
   * opened from, so the cache saves decryption, never a check.
   */
  readonly cacheBytes?: number;
}

/** Progress of {@link SecureStore.reencrypt}, reported after each chunk. */
export interface ReencryptProgress {
  /** Entries read so far. */
  readonly scanned: number;
  /** Entries rewritten under the current key so far. */
  readonly rewritten: number;
  /** Entries left alone because the store wrote them meanwhile (already under the current key). */
  readonly skipped: number;
}

export interface ReencryptOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: ReencryptProgress) => void;
  /** Engine entries (values, or blocks) read and rewritten per batch (default 256). */
  readonly chunkSize?: number;
}

/** A {@link StorageEngine} whose values are authenticated-encrypted and bound to key and namespace. */
export interface SecureStore extends StorageEngine {
  readonly layout: SecureStoreLayout;
  /**
   * Rewrites everything not sealed under the keyring's current key, in chunks, while the store
   * stays in use: reads accept every key the keyring holds, and values this store writes during
   * the walk are never overwritten with older data. Afterwards the old keys can be removed.
   * Writers that bypass this store object (another process on the same database) are not
   * coordinated: run it where all writes go through this store. A value that fails
   * authentication stops the walk with `ERR_KVS_INTEGRITY`.
   */
  reencrypt(options?: ReencryptOptions): Promise<ReencryptProgress>;
}

/**
 * Wraps `engine` so that every value is sealed with `keyring`'s current key and opened with
 * whichever key it names.
 *
 * @example
 * const store = createSecureStore(await createLmdbEngine({ path }), keyring, { namespace: 'db1' });
 */
export function createSecureStore(
  engine: StorageEngine,
  keyring: Keyring,
  options: SecureStoreOptions,
): SecureStore {
  if (!engine || typeof engine.get !== 'function')
    throw new TypeError('createSecureStore needs a StorageEngine');
  if (!keyring || typeof keyring.seal !== 'function')
    throw new TypeError('createSecureStore needs a Keyring');
  if (options === null || typeof options !== 'object')
    throw new TypeError('createSecureStore needs options: { namespace }');
  const base = { namespace: options.namespace, closeEngine: options.closeEngine ?? true };
  const layout = options.layout ?? 'blocks';
  if (layout === 'values') return new ValueStore(engine, keyring, base);
  if (layout !== 'blocks') throw new TypeError(`layout must be 'blocks' or 'values', got ${String(layout)}`);
  const blockBytes = options.blockBytes ?? DEFAULT_BLOCK_BYTES;
  if (!Number.isSafeInteger(blockBytes) || blockBytes < 64 || blockBytes > 1 << 20)
    throw new TypeError(`blockBytes must be an integer from 64 to 1048576, got ${String(blockBytes)}`);
  const cacheBytes = options.cacheBytes ?? 64 * 1024 * 1024;
  if (!Number.isSafeInteger(cacheBytes) || cacheBytes < 0)
    throw new TypeError(`cacheBytes must be a non-negative integer, got ${String(cacheBytes)}`);
  return new BlockStore(engine, keyring, { ...base, blockBytes, cacheBytes });
}
