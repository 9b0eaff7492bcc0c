/** Stable codes of the storage context. */
export const KVS_ERROR_CODES = [
  'ERR_KVS_INTEGRITY', // a value failed authentication: altered, moved to another key/table, or wrong key
  'ERR_KVS_KEY_UNKNOWN', // the value names a key id the keyring does not hold
  'ERR_KVS_CLOSED', // the engine was closed
  'ERR_KVS_CONNECTION', // cannot reach the engine (PostgreSQL down, wrong URL)
  'ERR_KVS_POOL', // pool exhausted / timed out
  'ERR_KVS_TRANSACTION', // a transaction failed (serialization, deadlock) and was rolled back
  'ERR_KVS_LIMIT', // key or value larger than the engine accepts
  'ERR_KVS_IO', // the engine failed (disk, corrupt file)
  'ERR_KVS_ABORTED',
] as const;

export type KvsErrorCode = (typeof KVS_ERROR_CODES)[number];

/** Error raised by storage engines and the secure layer. Never carries values or keys' secrets. */
export class KvsError extends Error {
  override readonly name = 'KvsError';
  readonly code: KvsErrorCode;

  constructor(code: KvsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** True when `value` is a {@link KvsError}, optionally with the given code. */
export function isKvsError(value: unknown, code?: KvsErrorCode): value is KvsError {
  return value instanceof KvsError && (code === undefined || value.code === code);
}
