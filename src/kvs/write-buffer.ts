/**
 * A write buffer in front of a storage engine (the secure store): each batch is made durable as
 * ONE record of a log kept in the engine itself, under reserved keys, and held in memory; later
 * the buffered changes are folded into the engine in key order, the log records they came from
 * deleted with the fold's last engine batch. Reads see buffer and engine merged.
 *
 * Why: writes scattered over the key space (one new reading per meter, each meter's rows
 * elsewhere) cost the `blocks` layout a read-modify-write of a whole sealed block per key. Logged,
 * a batch costs one sealed record; folded, each block is rewritten once for all the changes it
 * receives, in order. The cost moves out of the burst (a metering round) into the pause after it,
 * and shrinks (src/kvs/README.md, "Write buffer").
 *
 * A fold does not stop writes: it takes the buffered changes as they are (a frozen layer) and
 * new batches go to a fresh one; reads see the fresh layer, then the frozen one, then the engine.
 * Only when the fresh layer passes `maxBytes` too while a fold runs does a write wait for it
 * (memory stays bounded by about twice `maxBytes`).
 *
 * Guarantees: a batch is durable when `batch()` resolves (its log record is committed by the
 * engine); until the fold's last batch has deleted the log records of its layer, a crash leaves
 * them, and the log is replayed in order when the buffer opens (a fold redone writes the same
 * final values). One process must own the engine (as for the `blocks` layout). Keys starting with
 * four 0xFF bytes are reserved for the log.
 */
import {
  assertBatch,
  assertKey,
  assertSortedBatch,
  assertValue,
  checkOpen,
  closedError,
  throwIfAborted,
} from './engine-guards.ts';
import { KvsError } from './errors.ts';
import { type ResolvedScan, resolveScan } from './range.ts';
import { chunked } from './scan-chunks.ts';
import { type KeyText, keyBytes, keyText } from './sealed-block.ts';
import {
  type BatchOp,
  type KeyValue,
  NOT_NOW,
  type OpOptions,
  type ScanRange,
  type StorageEngine,
} from './types.ts';
import { ARENA_CHUNK_BYTES, type ArenaLayer, RecordArena } from './write-buffer-arena.ts';
import { foldLayer } from './write-buffer-fold.ts';
import {
  type Change,
  type DecodedOp,
  decodeRecord,
  encodeRecord,
  endMarkKey,
  logKey,
  RESERVED_PREFIX,
  readLog,
} from './write-buffer-log.ts';
import { type ChangeLayer, mergedScan } from './write-buffer-merge.ts';
import type { WriteBufferOptions, WriteBufferStats } from './write-buffer-options.ts';

export type { WriteBufferOptions, WriteBufferStats } from './write-buffer-options.ts';

const RESERVED_TEXT = keyText(RESERVED_PREFIX);
/** An end mark's value (write-buffer-log.ts). */
const NO_BYTES = Buffer.alloc(0);

/** Buffered changes taken by a fold: written to the engine, then their log records deleted. */
interface FrozenLayer {
  readonly changes: Map<KeyText, Change>;
  /** The memory of its records. */
  readonly records: ArenaLayer;
  readonly sorted: KeyText[];
  readonly bytes: number;
  /** The log records of this layer are those below this sequence number. */
  readonly upToSeq: bigint;
}

/** A {@link StorageEngine} with a write buffer in front of another; see the file comment. */
export class WriteBuffer implements StorageEngine {
  readonly name: string;
  readonly #engine: StorageEngine;
  readonly #maxBytes: number;
  readonly #idleFoldMs: number;
  readonly #closeEngine: boolean;
  readonly #onError: ((err: unknown) => void) | undefined;
  /** Buffered changes: a value, or null for a deletion. */
  #changes = new Map<KeyText, Change>();
  readonly #arena: RecordArena;
  /** The memory of the records of `#changes`. */
  #records: ArenaLayer;
  /** The buffered keys sorted, made when a scan needs them after a write. */
  #sorted: KeyText[] | undefined;
  #bytes = 0;
  /** The changes a running fold is writing (reads consult them after `#changes`). */
  #frozen: FrozenLayer | undefined;
  /** The running fold. */
  #folding: Promise<void> | undefined;
  #firstSeq: bigint;
  #nextSeq: bigint;
  /** Serializes writes (the log's sequence) and read-modify-writes. */
  #lock: Promise<unknown> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #folds = 0;
  #foldSeconds = 0;
  readonly #foldsBy = { size: 0, idle: 0, call: 0 };
  #closed = false;

  private constructor(engine: StorageEngine, o: WriteBufferOptions, firstSeq: bigint) {
    this.#engine = engine;
    this.#maxBytes = o.maxBytes ?? 128 * 1024 * 1024;
    this.#idleFoldMs = o.idleFoldMs ?? 1000;
    this.#closeEngine = o.closeEngine ?? true;
    this.#onError = o.onError;
    this.#arena = new RecordArena(o.recordChunkBytes ?? ARENA_CHUNK_BYTES, o.reserveBytes ?? 0);
    this.#records = this.#arena.layer();
    this.#firstSeq = firstSeq;
    this.#nextSeq = firstSeq;
    this.name = `buffered(${engine.name})`;
  }

  /** Opens a buffer over `engine`, replaying the log a crash left (see {@link createWriteBuffer}). */
  static async open(engine: StorageEngine, o: WriteBufferOptions = {}): Promise<WriteBuffer> {
    const maxBytes = o.maxBytes ?? 128 * 1024 * 1024;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
      throw new TypeError(`maxBytes must be a non-negative integer, got ${String(o.maxBytes)}`);
    const idle = o.idleFoldMs ?? 1000;
    if (!Number.isSafeInteger(idle) || idle < 0)
      throw new TypeError(`idleFoldMs must be a non-negative integer, got ${String(o.idleFoldMs)}`);
    const { first, last, records } = await readLog(engine);
    const buffer = new WriteBuffer(engine, o, first ?? 0n);
    for (const record of records) buffer.#applyRecord(decodeRecord(record));
    buffer.#nextSeq = last + 1n > buffer.#firstSeq ? last + 1n : buffer.#firstSeq;
    if (records.length > 0) buffer.#schedule();
    return buffer;
  }

  get(key: Uint8Array, options?: OpOptions): Promise<Uint8Array | undefined> {
    try {
      const now = this.#buffered(key, options);
      return now === NOT_NOW ? this.#engine.get(key, options) : Promise.resolve(now);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** See {@link StorageEngine.getNow}: the buffered change, else the engine's own `getNow`. */
  getNow(key: Uint8Array, options?: OpOptions): Uint8Array | undefined | typeof NOT_NOW {
    const now = this.#buffered(key, options);
    if (now !== NOT_NOW || this.#engine.getNow === undefined) return now;
    return this.#engine.getNow(key, options);
  }

  /** The value of `key` in the buffer's layers (a copy; undefined: deleted), else NOT_NOW. */
  #buffered(key: Uint8Array, options: OpOptions | undefined): Uint8Array | undefined | typeof NOT_NOW {
    assertUserKey(key);
    checkOpen(this.#closed, this.name, options);
    const k = keyText(key);
    // null (a deletion) in the newer layer wins: not `??`.
    let change = this.#changes.get(k);
    if (change === undefined) change = this.#frozen?.changes.get(k);
    if (change === undefined) return NOT_NOW;
    return change === null ? undefined : Buffer.from(change);
  }

  async put(key: Uint8Array, value: Uint8Array, options?: OpOptions): Promise<void> {
    await this.batch([{ type: 'put', key, value }], options);
  }

  async delete(key: Uint8Array, options?: OpOptions): Promise<boolean> {
    assertUserKey(key);
    return this.#locked(async () => {
      const existed = (await this.get(key, options)) !== undefined;
      await this.#write([keyText(key)], [null], options);
      return existed;
    });
  }

  async batch(ops: readonly BatchOp[], options?: OpOptions): Promise<void> {
    assertBatch(ops);
    for (const op of ops) {
      assertUserKey(op.key);
      if (op.type === 'put') assertValue(op.value);
    }
    checkOpen(this.#closed, this.name, options);
    if (ops.length === 0) return;
    const keys = ops.map((op) => keyText(op.key));
    const values = ops.map((op) => (op.type === 'put' ? op.value : null));
    await this.#locked(() => this.#write(keys, values, options));
  }

  /** See {@link StorageEngine.batchSorted} (the values are copied into the log record all the same). */
  async batchSorted(
    keys: readonly KeyText[],
    values: readonly (Uint8Array | null)[],
    options?: OpOptions,
  ): Promise<void> {
    assertSortedBatch(keys, values);
    // Sorted: only the last key can lie in the reserved range.
    const last = keys.at(-1);
    if (last?.startsWith(RESERVED_TEXT)) assertUserKey(keyBytes(last));
    checkOpen(this.#closed, this.name, options);
    if (keys.length === 0) return;
    await this.#locked(() => this.#write(keys, values, options));
  }

  scan(range: ScanRange, options?: OpOptions): AsyncIterable<KeyValue> {
    return this.#merged(resolveScan(range), options);
  }

  scanChunks(range: ScanRange, options?: OpOptions): AsyncIterable<readonly KeyValue[]> {
    return chunked(this.#merged(resolveScan(range), options), 256);
  }

  /** Folds the buffered changes into the engine now (resolves when they are written). */
  async fold(): Promise<void> {
    // Writes already called land first; then every layer is folded, the running fold included.
    await this.#locked(() => Promise.resolve());
    while (this.#folding !== undefined) await this.#folding;
    if (this.#nextSeq !== this.#firstSeq) await this.#startFold('call');
  }

  /** Resolves once no fold is running (the running one, if any, has ended, well or not). */
  async settled(): Promise<void> {
    while (this.#folding !== undefined) await this.#folding.catch(() => undefined);
  }

  /** Buffer and fold figures (for metrics and for waiting until a round is folded). */
  stats(): WriteBufferStats {
    return {
      bufferedKeys: this.#changes.size + (this.#frozen?.changes.size ?? 0),
      bufferedBytes: this.#bytes + (this.#frozen?.bytes ?? 0),
      logRecords: Number(this.#nextSeq - this.#firstSeq),
      folding: this.#folding !== undefined,
      foldsBy: { ...this.#foldsBy },
      folds: this.#folds,
      foldSeconds: this.#foldSeconds,
      recordChunks: { total: this.#arena.chunks, free: this.#arena.freeChunks },
    };
  }

  /** Folds what is buffered, then closes (the engine too unless `closeEngine: false`). */
  async close(): Promise<void> {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    await this.fold().catch((err) => this.#onError?.(err));
    this.#closed = true;
    if (this.#closeEngine) await this.#engine.close();
  }

  #locked<T>(f: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(f, f);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  /** Logs `ops` as one record, then buffers them (under the lock). */
  async #write(
    keys: readonly KeyText[],
    values: readonly (Uint8Array | null)[],
    options: OpOptions | undefined,
  ): Promise<void> {
    if (this.#closed) throw closedError(this.name);
    throwIfAborted(options?.signal);
    const { record, changes } = encodeRecord(keys, values, (n) => this.#records.alloc(n));
    const seq = this.#nextSeq;
    // The record is the arena's, unchanged until its layer is folded: handed over without a copy.
    const logKeys = [keyText(logKey(seq)), keyText(endMarkKey(seq))];
    const logValues = [record, NO_BYTES];
    if (this.#engine.batchSorted !== undefined) await this.#engine.batchSorted(logKeys, logValues, options);
    else
      await this.#engine.batch(
        logKeys.map((k, i) => ({ type: 'put', key: keyBytes(k), value: logValues[i]! })),
        options,
      );
    this.#nextSeq = seq + 1n;
    this.#applyRecord(changes);
    if (this.#bytes > this.#maxBytes) {
      // Both layers full: this write waits for the running fold (bounded memory).
      if (this.#folding !== undefined) await this.#folding.catch(() => undefined);
      this.#startFold('size').catch((err) => this.#onError?.(err));
    } else this.#schedule();
  }

  #applyRecord(ops: readonly DecodedOp[]): void {
    for (const [k, value] of ops) {
      const before = this.#changes.get(k);
      if (before === undefined) {
        this.#bytes += k.length;
        this.#sorted = undefined;
      } else if (before !== null) this.#bytes -= before.length;
      this.#changes.set(k, value);
      if (value !== null) this.#bytes += value.length;
    }
  }

  #schedule(): void {
    if (this.#idleFoldMs === 0) return;
    clearTimeout(this.#timer);
    const due = performance.now() + this.#idleFoldMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      // Fired late: the event loop was blocked (a long task, a long collector pause), so writers
      // may be waiting behind it. That is no pause in the writes: wait a whole period again.
      if (performance.now() - due > this.#idleFoldMs / 2) {
        this.#schedule();
        return;
      }
      this.#startFold('idle').catch((err) => this.#onError?.(err));
    }, this.#idleFoldMs);
    this.#timer.unref();
  }

  /**
   * Freezes the buffered changes and writes them to the engine in the background; resolves when
   * they are written (the running fold when there is one). New writes go to a fresh layer meanwhile.
   */
  #startFold(trigger: 'size' | 'idle' | 'call'): Promise<void> {
    if (this.#folding !== undefined) return this.#folding;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#closed) return Promise.reject(closedError(this.name));
    if (this.#nextSeq === this.#firstSeq) return Promise.resolve();
    this.#foldsBy[trigger] += 1;
    const layer: FrozenLayer = {
      changes: this.#changes,
      records: this.#records,
      sorted: this.#sortedKeys(),
      bytes: this.#bytes,
      upToSeq: this.#nextSeq,
    };
    this.#frozen = layer;
    this.#changes = new Map();
    this.#records = this.#arena.layer();
    this.#sorted = undefined;
    this.#bytes = 0;
    const run = this.#fold(layer).then(
      () => {
        this.#frozen = undefined;
        this.#folding = undefined;
        layer.records.release();
      },
      (err: unknown) => {
        // Not folded: its changes go back under the newer ones (copied out of its records, whose
        // memory is handed back), its log records stay.
        for (const [k, change] of layer.changes) {
          if (this.#changes.has(k)) continue;
          this.#changes.set(k, change === null ? null : Buffer.from(change));
          this.#bytes += k.length + (change?.length ?? 0);
        }
        this.#sorted = undefined;
        this.#frozen = undefined;
        this.#folding = undefined;
        layer.records.release();
        throw err;
      },
    );
    this.#folding = run;
    return run;
  }

  /** Writes a frozen layer (write-buffer-fold.ts), then counts it. */
  async #fold(layer: FrozenLayer): Promise<void> {
    const started = performance.now();
    await foldLayer(this.#engine, layer, this.#firstSeq, () => {
      if (this.#closed) throw closedError(this.name);
    });
    this.#firstSeq = layer.upToSeq;
    this.#folds += 1;
    this.#foldSeconds += (performance.now() - started) / 1000;
  }

  #sortedKeys(): KeyText[] {
    this.#sorted ??= [...this.#changes.keys()].sort();
    return this.#sorted;
  }

  /** The engine's entries of `scan` merged with the buffered layers (see write-buffer-merge.ts). */
  #merged(scan: ResolvedScan, options: OpOptions | undefined): AsyncGenerator<KeyValue> {
    const layers = (): ChangeLayer[] => {
      const records = this.#records;
      const fresh = { sorted: this.#sortedKeys(), changes: this.#changes, pin: () => records.pin() };
      const frozen = this.#frozen;
      if (frozen === undefined) return [fresh];
      return [fresh, { sorted: frozen.sorted, changes: frozen.changes, pin: () => frozen.records.pin() }];
    };
    return mergedScan(this.#engine, layers, scan, options, this.name, () => this.#closed);
  }
}

/**
 * Opens a write buffer over `engine` (normally the secure store), replaying a log a crash left.
 *
 * @example
 * const store = await createWriteBuffer(createSecureStore(lmdb, keyring, { namespace: 'mdc' }));
 */
export function createWriteBuffer(engine: StorageEngine, options?: WriteBufferOptions): Promise<WriteBuffer> {
  if (engine === null || typeof engine !== 'object' || typeof engine.batch !== 'function')
    return Promise.reject(new TypeError('createWriteBuffer needs a StorageEngine'));
  return WriteBuffer.open(engine, options);
}

function assertUserKey(key: unknown): asserts key is Uint8Array {
  assertKey(key);
  if (key.length >= 4 && key[0] === 0xff && key[1] === 0xff && key[2] === 0xff && key[3] === 0xff) {
    throw new KvsError(
      'ERR_KVS_LIMIT',
      'keys starting with four 0xFF bytes are reserved for the write buffer log',
    );
  }
}
