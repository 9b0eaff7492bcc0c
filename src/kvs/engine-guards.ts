/**
 * Argument checks every engine applies the same way, so that the contract suite sees one
 * behaviour: a misuse is a TypeError, an oversized key is `ERR_KVS_LIMIT`, a closed engine is
 * `ERR_KVS_CLOSED`, an aborted signal is `ERR_KVS_ABORTED`.
 */
import { KvsError } from './errors.ts';
import type { BatchOp, OpOptions } from './types.ts';

/**
 * The largest key every engine accepts, in bytes: LMDB's compiled limit, kept for all engines so
 * that data can move between them. Keys are 1 to 1978 bytes; values may be empty.
 */
export const MAX_KEY_BYTES = 1978;

/** Throws unless `key` is a non-empty Uint8Array of at most {@link MAX_KEY_BYTES} bytes. */
export function assertKey(key: unknown, what = 'key'): asserts key is Uint8Array {
  if (!(key instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array, got ${typeName(key)}`);
  if (key.length === 0)
    throw new TypeError(`${what} must not be empty (keys are 1 to ${MAX_KEY_BYTES} bytes)`);
  if (key.length > MAX_KEY_BYTES) {
    throw new KvsError(
      'ERR_KVS_LIMIT',
      `${what} is ${key.length} bytes; the limit is ${MAX_KEY_BYTES} bytes (shorten the key, e.g. hash long components)`,
    );
  }
}

/** Throws a TypeError unless `value` is a Uint8Array. */
export function assertValue(value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array))
    throw new TypeError(`value must be a Uint8Array, got ${typeName(value)}`);
}

/** Validates every operation of a batch before any is applied. */
export function assertBatch(ops: unknown): asserts ops is readonly BatchOp[] {
  if (!Array.isArray(ops)) throw new TypeError(`batch operations must be an array, got ${typeName(ops)}`);
  ops.forEach((op: unknown, i) => {
    const o = op as Partial<Record<'type' | 'key' | 'value', unknown>> | null;
    if (o === null || typeof o !== 'object') throw new TypeError(`batch operation ${i} must be an object`);
    if (o.type === 'put') {
      assertKey(o.key, `batch operation ${i} key`);
      assertValue(o.value);
    } else if (o.type === 'delete') {
      assertKey(o.key, `batch operation ${i} key`);
    } else {
      throw new TypeError(`batch operation ${i} has type ${String(o.type)}; expected 'put' or 'delete'`);
    }
  });
}

/**
 * Validates the arguments of `batchSorted` before anything is applied: as many values as keys,
 * each key a latin1 string of 1 to {@link MAX_KEY_BYTES} chars above the one before, each value a
 * Uint8Array or null.
 */
export function assertSortedBatch(keys: unknown, values: unknown): void {
  if (!Array.isArray(keys) || !Array.isArray(values) || keys.length !== values.length)
    throw new TypeError('batchSorted needs two arrays of the same length: keys and values');
  let previous = '';
  for (let i = 0; i < keys.length; i++) {
    const key: unknown = keys[i];
    if (typeof key !== 'string' || key.length === 0)
      throw new TypeError(`batchSorted key ${i} must be a non-empty string, got ${typeName(key)}`);
    if (key.length > MAX_KEY_BYTES) assertKey(new Uint8Array(key.length), `batchSorted key ${i}`);
    if (i > 0 && !(key > previous)) throw new TypeError(`batchSorted key ${i} is not above key ${i - 1}`);
    for (let c = 0; c < key.length; c++) {
      if (key.charCodeAt(c) > 0xff)
        throw new TypeError(`batchSorted key ${i} is not a string of bytes (latin1)`);
    }
    const value: unknown = values[i];
    if (value !== null && !(value instanceof Uint8Array))
      throw new TypeError(`batchSorted value ${i} must be a Uint8Array or null, got ${typeName(value)}`);
    previous = key;
  }
}

/** The error an operation on a closed engine raises. */
export function closedError(engine: string): KvsError {
  return new KvsError('ERR_KVS_CLOSED', `the ${engine} storage engine is closed; open a new one`);
}

/** The error an aborted operation raises, with the signal's reason as cause. */
export function abortedError(signal: AbortSignal): KvsError {
  return new KvsError('ERR_KVS_ABORTED', 'the storage operation was aborted', { cause: signal.reason });
}

/** Throws `ERR_KVS_ABORTED` when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedError(signal);
}

/** Throws when the engine is closed or the operation's signal is aborted. */
export function checkOpen(closed: boolean, engine: string, options: OpOptions | undefined): void {
  if (closed) throw closedError(engine);
  throwIfAborted(options?.signal);
}

/** A plain Uint8Array copy of `bytes` that shares no memory with it. */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

/** A Buffer view over `bytes` without copying (Node APIs want Buffers). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A string that identifies `key` in a Map (latin1: one char per byte). */
export function keyId(key: Uint8Array): string {
  return asBuffer(key).toString('latin1');
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return v.constructor?.name ?? 'object';
  return typeof v;
}

/** The chunk size of a secure store's `reencrypt` (default 256); a TypeError unless a positive integer. */
export function reencryptChunkSize(chunkSize: number | undefined): number {
  const size = chunkSize ?? 256;
  if (!Number.isSafeInteger(size) || size < 1) throw new TypeError('chunkSize must be a positive integer');
  return size;
}
