/**
 * Storage: an ordered byte-string key-value interface ({@link StorageEngine}) with engines for
 * memory, LMDB (embedded default) and PostgreSQL-protocol databases, and a secure layer that
 * authenticates and encrypts every value, bound to its key and namespace. Other contexts import
 * only from this file.
 */
export { MAX_KEY_BYTES } from './engine-guards.ts';
export { isKvsError, KVS_ERROR_CODES, KvsError, type KvsErrorCode } from './errors.ts';
export {
  BLOCK_FORMAT_VERSION,
  createKeyring,
  Keyring,
  type KeyringEntry,
  type KeyringOptions,
  PSEUDONYM_BYTES,
  VALUE_FORMAT_VERSION,
  VALUE_OVERHEAD,
} from './keyring.ts';
export { createLmdbEngine, type LmdbEngineOptions } from './lmdb-engine.ts';
export { lmdbPagesEncrypted } from './lmdb-key-file.ts';
export { createMemoryEngine } from './memory-engine.ts';
export { createPostgresEngine, type PostgresEngineOptions } from './postgres-engine.ts';
export {
  bytesEqual,
  compareBytes,
  hasPrefix,
  inBounds,
  intersectBounds,
  isEmptyBounds,
  type KeyBounds,
  keySuccessor,
  prefixBounds,
  prefixSuccessor,
  type ResolvedScan,
  resolveScan,
} from './range.ts';
export { ReadScope } from './read-scope.ts';
export { chunked, scanChunks } from './scan-chunks.ts';
export {
  createSecureStore,
  DEFAULT_BLOCK_BYTES,
  type ReencryptOptions,
  type ReencryptProgress,
  type SecureStore,
  type SecureStoreLayout,
  type SecureStoreOptions,
} from './secure-store.ts';
export {
  type BatchOp,
  type KeyValue,
  NOT_NOW,
  type OpOptions,
  type ScanRange,
  type StorageEngine,
} from './types.ts';
export {
  createWriteBuffer,
  WriteBuffer,
  type WriteBufferOptions,
  type WriteBufferStats,
} from './write-buffer.ts';
