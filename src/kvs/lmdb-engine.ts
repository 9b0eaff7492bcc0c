/**
 * The embedded default engine: LMDB through the `lmdb` package (v3, prebuilt binaries), the only
 * file that imports it. Keys are raw bytes in LMDB's memcmp order; each batch is one LMDB
 * transaction (a child transaction on lmdb's write thread, or one committed on the calling thread
 * with `blockingCommits`); scans read one snapshot. With `encryptionKey`, lmdb's page encryption (ChaCha8 over
 * every data page: keys and values) is on; see `lmdb-key-file.ts` for the key check beside it.
 */
import { mkdir } from 'node:fs/promises';
import { open } from 'lmdb';
import {
  asBuffer,
  assertBatch,
  assertKey,
  assertValue,
  checkOpen,
  closedError,
  MAX_KEY_BYTES,
  throwIfAborted,
} from './engine-guards.ts';
import { KvsError } from './errors.ts';
import { prepareLmdbKeyFile } from './lmdb-key-file.ts';
import { type ResolvedScan, resolveScan } from './range.ts';
import type { BatchOp, KeyValue, OpOptions, ScanRange, StorageEngine } from './types.ts';

export interface LmdbEngineOptions {
  /** Directory of the store, created if absent: `data.mdb`, `lock.mdb` and `kvs-lmdb.json`. */
  readonly path: string;
  /**
   * 32 bytes (from the CAS or unsealed by the TEE) that turn on lmdb's page encryption. A store
   * created with a key always needs it; one created without never takes one.
   */
  readonly encryptionKey?: Uint8Array;
  /**
   * Commit every write on the calling thread, blocking the event loop until it is on disk
   * (default false: lmdb's write thread commits and syncs while the event loop runs on). Both are
   * equally durable: a write resolves once synced. Blocking commits save the hand-offs between
   * the two threads (measured: 0.9 of 2.1 ms per 500-row commit on a 2-vCPU VM), which suits one
   * writer that waits for each commit (a bulk load, an embedded CascaDB); a service that must keep
   * answering during commits (the MDC) keeps the default.
   */
  readonly blockingCommits?: boolean;
  readonly signal?: AbortSignal;
}

/** The slice of the `lmdb` API this adapter uses. */
interface LmdbDatabase {
  /**
   * The value in a buffer lmdb reuses for the next read (its `length` property is set to the
   * value's size, its `byteLength` is not), or a view of the memory map: copy before anything
   * else reads the store.
   */
  getBinaryFast(key: Buffer): Uint8Array | undefined;
  put(key: Buffer, value: Buffer): Promise<boolean>;
  putSync(key: Buffer, value: Buffer): void;
  removeSync(key: Buffer): boolean;
  transaction<T>(action: () => T): Promise<T>;
  childTransaction<T>(action: () => T): Promise<T>;
  /** Runs `action` in a write transaction on this thread, committed (and synced) before it returns. */
  transactionSync<T>(action: () => T): T;
  getRange(options: LmdbRange): Iterable<{ key: Buffer; value: Buffer }>;
  close(): Promise<void>;
}

interface LmdbRange {
  start?: Buffer;
  end?: Buffer;
  reverse?: boolean;
  limit?: number;
  exclusiveStart?: boolean;
  inclusiveEnd?: boolean;
}

/**
 * Opens (creating if needed) an LMDB store at `path`.
 *
 * @example
 * const engine = await createLmdbEngine({ path: '/var/lib/app/kvs', encryptionKey: keyFromCas });
 */
export async function createLmdbEngine(options: LmdbEngineOptions): Promise<StorageEngine> {
  if (!options || typeof options.path !== 'string' || options.path === '') {
    throw new TypeError('createLmdbEngine needs { path }: a directory');
  }
  throwIfAborted(options.signal);
  await mkdir(options.path, { recursive: true });
  const pageKey = await prepareLmdbKeyFile(options.path, options.encryptionKey);
  throwIfAborted(options.signal);
  try {
    const db = open({
      path: options.path,
      noSubdir: false,
      keyEncoding: 'binary',
      encoding: 'binary',
      strictAsyncOrder: true,
      // lmdb's default on Linux (overlappingSync) resolves a write once it is committed and
      // flushes it to disk afterwards: a crash could lose writes already acknowledged. Off, a
      // write resolves once synced, which is what `put` and `batch` promise (and measured no
      // slower for sequential commits, which wait for the previous flush anyway).
      overlappingSync: false,
      ...(pageKey !== undefined && { encryptionKey: pageKey }),
    }) as unknown as LmdbDatabase;
    return new LmdbEngine(db, options.blockingCommits === true);
  } catch (cause) {
    throw new KvsError('ERR_KVS_IO', `cannot open the LMDB store at ${options.path}: ${errorText(cause)}`, {
      cause,
    });
  }
}

class LmdbEngine implements StorageEngine {
  readonly name = 'lmdb';
  readonly #db: LmdbDatabase;
  readonly #blocking: boolean;
  readonly #cursors = new Set<Iterator<unknown>>();
  #closed = false;

  constructor(db: LmdbDatabase, blocking: boolean) {
    this.#db = db;
    this.#blocking = blocking;
  }

  async get(key: Uint8Array, options?: OpOptions): Promise<Uint8Array | undefined> {
    return this.getNow(key, options);
  }

  getNow(key: Uint8Array, options?: OpOptions): Uint8Array | undefined {
    assertKey(key);
    checkOpen(this.#closed, this.name, options);
    const db = this.#db;
    let value: Uint8Array | undefined;
    try {
      value = db.getBinaryFast(asBuffer(key));
    } catch (cause) {
      throw lmdbError(cause);
    }
    return value === undefined ? undefined : copyOut(value);
  }

  async peek<T>(key: Uint8Array, use: (value: Uint8Array | undefined) => T, options?: OpOptions): Promise<T> {
    assertKey(key);
    checkOpen(this.#closed, this.name, options);
    let value: Uint8Array | undefined;
    try {
      value = this.#db.getBinaryFast(asBuffer(key));
    } catch (cause) {
      throw lmdbError(cause);
    }
    // A view of exactly the value (see `getBinaryFast`): no copy.
    return use(
      value === undefined ? undefined : new Uint8Array(value.buffer, value.byteOffset, value.length),
    );
  }

  async put(key: Uint8Array, value: Uint8Array, options?: OpOptions): Promise<void> {
    assertKey(key);
    assertValue(value);
    checkOpen(this.#closed, this.name, options);
    if (this.#blocking) this.#writeNow(() => this.#db.putSync(asBuffer(key), asBuffer(value)));
    else await this.#write(() => this.#db.put(asBuffer(key), asBuffer(value)));
  }

  async delete(key: Uint8Array, options?: OpOptions): Promise<boolean> {
    assertKey(key);
    checkOpen(this.#closed, this.name, options);
    if (this.#blocking) return this.#writeNow(() => this.#db.removeSync(asBuffer(key)));
    return this.#write(() => this.#db.transaction(() => this.#db.removeSync(asBuffer(key))));
  }

  async batch(ops: readonly BatchOp[], options?: OpOptions): Promise<void> {
    assertBatch(ops);
    checkOpen(this.#closed, this.name, options);
    if (ops.length === 0) return;
    const apply = () => {
      for (const op of ops) {
        if (op.type === 'put') this.#db.putSync(asBuffer(op.key), asBuffer(op.value));
        else this.#db.removeSync(asBuffer(op.key));
      }
    };
    // Either transaction is rolled back if anything throws inside it: all or nothing.
    if (this.#blocking) this.#writeNow(apply);
    else await this.#write(() => this.#db.childTransaction(apply));
  }

  scan(range: ScanRange, options?: OpOptions): AsyncIterable<KeyValue> {
    return this.#scan(resolveScan(range), options?.signal);
  }

  /** The entries of a scan in arrays read synchronously from one cursor: 16, then up to 256 at a time. */
  scanChunks(range: ScanRange, options?: OpOptions): AsyncIterable<readonly KeyValue[]> {
    return this.#scanChunks(resolveScan(range), options?.signal);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Close open cursors before the environment, so that no suspended scan touches a closed one.
    for (const cursor of this.#cursors) cursor.return?.();
    this.#cursors.clear();
    await this.#db.close();
  }

  async *#scan(scan: ResolvedScan, signal: AbortSignal | undefined): AsyncGenerator<KeyValue> {
    checkOpen(this.#closed, this.name, { signal });
    if (scan.empty) return;
    const cursor = this.#call(() => this.#db.getRange(lmdbRange(scan))[Symbol.iterator]());
    this.#cursors.add(cursor);
    try {
      for (;;) {
        const step = this.#call(() => cursor.next());
        if (step.done) return;
        // With binary encodings lmdb already hands out fresh copies of both (its reused read
        // buffer is sliced, memory-map views are copied): they are the caller's to keep.
        yield step.value;
        if (this.#closed) throw closedError(this.name);
        throwIfAborted(signal);
      }
    } finally {
      if (this.#cursors.delete(cursor)) cursor.return?.();
    }
  }

  async *#scanChunks(scan: ResolvedScan, signal: AbortSignal | undefined): AsyncGenerator<KeyValue[]> {
    checkOpen(this.#closed, this.name, { signal });
    if (scan.empty) return;
    const cursor = this.#call(() => this.#db.getRange(lmdbRange(scan))[Symbol.iterator]());
    this.#cursors.add(cursor);
    try {
      for (let size = 16; ; size = Math.min(size * 2, 256)) {
        const chunk: KeyValue[] = [];
        let done = false;
        try {
          while (chunk.length < size) {
            const step = cursor.next();
            if (step.done) {
              done = true;
              break;
            }
            chunk.push(step.value);
          }
        } catch (cause) {
          throw lmdbError(cause);
        }
        if (chunk.length > 0) yield chunk;
        if (done) return;
        if (this.#closed) throw closedError(this.name);
        throwIfAborted(signal);
      }
    } finally {
      if (this.#cursors.delete(cursor)) cursor.return?.();
    }
  }

  #call<T>(fn: () => T): T {
    try {
      return fn();
    } catch (cause) {
      throw lmdbError(cause);
    }
  }

  async #write<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (cause) {
      throw lmdbError(cause);
    }
  }

  /** Runs `fn` in a write transaction committed on this thread (`blockingCommits`). */
  #writeNow<T>(fn: () => T): T {
    try {
      return this.#db.transactionSync(fn);
    } catch (cause) {
      throw lmdbError(cause);
    }
  }
}

/**
 * Translates half-open bounds into lmdb's range options. Reverse scans start at the upper bound,
 * exclusive; without a lower bound they stop after [0x00], the smallest key (lmdb's own default
 * would skip it). Bounds longer than LMDB's key limit are cut to the limit with the inclusivity
 * that keeps the same set of storable keys.
 */
function lmdbRange(scan: ResolvedScan): LmdbRange {
  const lower = cut(scan.start);
  const upper = cut(scan.end);
  const limit = Number.isFinite(scan.limit) ? { limit: scan.limit } : {};
  if (!scan.reverse) {
    return {
      ...(lower && { start: lower.key, exclusiveStart: lower.cut }),
      ...(upper && { end: upper.key, inclusiveEnd: upper.cut }),
      ...limit,
    };
  }
  return {
    reverse: true,
    ...(upper && { start: upper.key, exclusiveStart: !upper.cut }),
    ...(lower ? { end: lower.key, inclusiveEnd: !lower.cut } : { end: Buffer.of(0), inclusiveEnd: true }),
    ...limit,
  };
}

/** A bound cut to LMDB's key limit: `key >= b` becomes `key > cut`, `key < b` becomes `key <= cut`. */
function cut(bound: Uint8Array | undefined): { key: Buffer; cut: boolean } | undefined {
  if (bound === undefined) return undefined;
  const cutIt = bound.length > MAX_KEY_BYTES;
  return { key: asBuffer(cutIt ? bound.subarray(0, MAX_KEY_BYTES) : bound), cut: cutIt };
}

/**
 * Copies a value out of lmdb's reused read buffer into a pooled Buffer: a tenth of the cost of
 * `Uint8Array.prototype.slice` on a Buffer, which lmdb's own `get` uses. `length`, not
 * `byteLength`, is the value's size (see {@link LmdbDatabase.getBinaryFast}).
 */
function copyOut(fast: Uint8Array): Buffer {
  const size = fast.length;
  const out = Buffer.allocUnsafe(size);
  // Not `fast.copy()`: it trusts the overridden `length` and then copies the whole buffer.
  out.set(new Uint8Array(fast.buffer, fast.byteOffset, size));
  return out;
}

function lmdbError(cause: unknown): KvsError {
  if (cause instanceof KvsError) return cause;
  const text = errorText(cause);
  if (/closed/i.test(text))
    return new KvsError('ERR_KVS_CLOSED', `the LMDB store is closed: ${text}`, { cause });
  if (/maximum key size|MDB_BAD_VALSIZE|MDB_MAP_FULL/i.test(text)) {
    return new KvsError('ERR_KVS_LIMIT', `LMDB refused the write: ${text}`, { cause });
  }
  return new KvsError(
    'ERR_KVS_IO',
    `LMDB failed: ${text} (a corrupt or tampered data file raises MDB_CORRUPTED)`,
    {
      cause,
    },
  );
}

function errorText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
