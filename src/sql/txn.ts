/**
 * Transactions over a {@link StorageEngine}: a write buffer overlaid on reads (read-your-writes),
 * per-statement undo (statement atomicity), and optimistic concurrency control. A transaction
 * records the keys and key ranges it read; at commit, under a database-wide commit lock, it fails
 * with 40001 if a transaction that committed after it began wrote any of them (backward
 * validation), else its writes are applied with one atomic `batch`. Committed transactions are
 * therefore serializable (in commit order). Reads are not from a snapshot: a statement in a
 * transaction that later fails validation may have seen a mix of committed states.
 */
import { ReadScope } from '../kvs/read-scope.ts';
import { chunked, scanChunks } from '../kvs/scan-chunks.ts';
import { type BatchOp, type KeyValue, NOT_NOW, type ScanRange, type StorageEngine } from '../kvs/types.ts';
import { SqlError } from './errors.ts';

/** A key as a string of its bytes (latin1): Map-able, and `<` compares it like the bytes. */
export type KeyString = string;

export function keyString(key: Uint8Array): KeyString {
  // Keys are at most a few KiB (the engines' limit), well within apply's argument limit.
  return String.fromCharCode.apply(null, key as unknown as number[]);
}

export function keyBytes(key: KeyString): Uint8Array {
  return Buffer.from(key, 'latin1');
}

function prefixEndString(prefix: KeyString): KeyString | undefined {
  let n = prefix.length;
  while (n > 0 && prefix.charCodeAt(n - 1) === 0xff) n--;
  if (n === 0) return undefined;
  return prefix.slice(0, n - 1) + String.fromCharCode(prefix.charCodeAt(n - 1) + 1);
}

/**
 * The same range with `prefix` turned into `start`/`end` bounds. Engines get no `prefix` from us:
 * some compute its successor with `slice`, which on a Buffer is a view they would then modify.
 */
export function withoutPrefix(range: ScanRange): ScanRange {
  if (range.prefix === undefined) return range;
  const [start, end] = bounds(range);
  const { prefix: _prefix, ...rest } = range;
  return { ...rest, start: keyBytes(start), ...(end === undefined ? {} : { end: keyBytes(end) }) };
}

/** Resolves a scan range into `[start, end)` key strings (`end` undefined: unbounded). */
function bounds(range: ScanRange): [KeyString, KeyString | undefined] {
  let start = range.start === undefined ? '' : keyString(range.start);
  let end = range.end === undefined ? undefined : keyString(range.end);
  if (range.prefix !== undefined) {
    const p = keyString(range.prefix);
    const pe = prefixEndString(p);
    if (p > start) start = p;
    if (pe !== undefined && (end === undefined || pe < end)) end = pe;
  }
  return [start, end];
}

/** Undo-log slots kept from one statement for the next (see Txn's undo log). */
const UNDO_KEEP = 1024;

interface CommitRecord {
  readonly seq: number;
  readonly keys: readonly KeyString[];
}

/** Hands out transactions and commits them one at a time. One per database. */
export class TxnManager {
  readonly #engine: StorageEngine;
  #seq = 0;
  #log: CommitRecord[] = [];
  readonly #active = new Set<Txn>();
  #chain: Promise<unknown> = Promise.resolve();

  constructor(engine: StorageEngine) {
    this.#engine = engine;
  }

  get engine(): StorageEngine {
    return this.#engine;
  }

  /**
   * Starts a transaction. `validated: false` is for a single read-only statement outside a
   * transaction: it is never validated, so it records no reads.
   */
  begin(validated = true): Txn {
    const txn = new Txn(this.#engine, this.#seq, validated);
    this.#active.add(txn);
    return txn;
  }

  /** Ends a transaction without writing (ROLLBACK, or after a failure). */
  release(txn: Txn): void {
    this.#active.delete(txn);
    if (this.#log.length === 0) return;
    let min = this.#seq;
    for (const t of this.#active) min = Math.min(min, t.startSeq);
    if (this.#log.length > 0 && this.#log[0]!.seq <= min) this.#log = this.#log.filter((r) => r.seq > min);
  }

  /** Validates and applies a transaction's writes; 40001 when it conflicts with a later commit. */
  async commit(txn: Txn, signal?: AbortSignal): Promise<void> {
    try {
      await this.#locked(() => this.#apply(txn, signal));
    } finally {
      this.release(txn);
    }
  }

  /**
   * Runs `f` while no transaction can commit, with a transaction of its own that `f` executes in
   * and that is committed before the lock is released: the pessimistic fallback that guarantees
   * progress to a statement that keeps losing optimistic conflicts.
   */
  async exclusive<T>(f: (txn: Txn) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.#locked(async () => {
      const txn = this.begin();
      try {
        const result = await f(txn);
        await this.#apply(txn, signal);
        return result;
      } finally {
        this.release(txn);
      }
    });
  }

  #locked<T>(f: () => Promise<T>): Promise<T> {
    const done = this.#chain.then(f, f);
    this.#chain = done.catch(() => undefined);
    return done;
  }

  async #apply(txn: Txn, signal: AbortSignal | undefined): Promise<void> {
    this.#validate(txn);
    if (txn.writeCount === 0) return;
    const options = signal === undefined ? undefined : { signal };
    const engine = this.#engine;
    // The writes hand over in key order where the engine takes them so (the secure store): no
    // operation objects, no copy of the values (nothing else holds them), no second sort.
    if (engine.batchSorted !== undefined) {
      const keys = txn.sortedKeys();
      await engine.batchSorted(keys, txn.valuesOf(keys), options);
    } else await engine.batch(txn.ops(), options);
    this.#seq++;
    if (this.#active.size > 1) this.#log.push({ seq: this.#seq, keys: txn.writtenKeys() });
  }

  #validate(txn: Txn): void {
    for (const record of this.#log) {
      if (record.seq <= txn.startSeq) continue;
      for (const key of record.keys) {
        if (txn.hasRead(key)) {
          throw new SqlError(
            'ERR_SQL_SERIALIZATION_FAILURE',
            'could not serialize access due to a concurrent update',
            { hint: 'the transaction read data that another transaction changed after it began; retry it' },
          );
        }
      }
    }
  }
}

/** One transaction's view of the store. Writes stay in memory until commit. */
export class Txn {
  readonly startSeq: number;
  readonly #engine: StorageEngine;
  readonly #writes = new Map<KeyString, Uint8Array | null>();
  /**
   * The written keys as the bytes they were written with (so that commit need not convert), kept
   * only for an engine without `batchSorted` (which takes the key strings).
   */
  readonly #keyBytes = new Map<KeyString, Uint8Array>();
  readonly #keepBytes: boolean;
  /** The written keys in order, while known (`undefined`: to be sorted again when needed). */
  #sorted: KeyString[] | undefined = [];
  readonly #readKeys = new Set<KeyString>();
  readonly #readRanges: [KeyString, KeyString | undefined][] = [];
  /**
   * The current statement's written keys and their values before, oldest first, in the first
   * {@link #undoCount} slots; see {@link rollbackStatement}. Reused from statement to statement:
   * emptying an array by setting its length frees its storage, and a batch of single-row
   * statements would then allocate two arrays per row.
   */
  #undoKeys: KeyString[] = [];
  #undoValues: (Uint8Array | null | undefined)[] = [];
  #undoCount = 0;

  readonly #tracking: boolean;
  /**
   * This transaction's reads: the engine may answer a read again from an earlier one (the secure
   * store reuses the block it read last). A transaction's reads are not a snapshot anyway;
   * validation at commit catches what changed meanwhile.
   */
  readonly #scope = new ReadScope();
  readonly #scoped = { scope: this.#scope };

  constructor(engine: StorageEngine, startSeq: number, tracking = true) {
    this.#engine = engine;
    this.startSeq = startSeq;
    this.#tracking = tracking;
    this.#keepBytes = engine.batchSorted === undefined;
  }

  get writeCount(): number {
    return this.#writes.size;
  }

  #recording = false;

  /** Starts recording what a statement changes, so that {@link rollbackStatement} can undo it. */
  beginStatement(): void {
    this.#recording = true;
    this.#clearUndo();
  }

  endStatement(): void {
    this.#recording = false;
    this.#clearUndo();
  }

  #clearUndo(): void {
    const n = this.#undoCount;
    if (n === 0) return;
    this.#undoCount = 0;
    if (n > UNDO_KEEP) {
      // A large statement's log is not kept for the next one.
      this.#undoKeys = [];
      this.#undoValues = [];
    } else this.#undoValues.fill(undefined, 0, n); // the values before are not kept alive
  }

  /** Undoes the writes of the current statement. */
  rollbackStatement(): void {
    this.#recording = false;
    const keys = this.#undoKeys;
    const values = this.#undoValues;
    // Newest first, so that a key written twice ends with the value it had before the statement.
    for (let i = this.#undoCount - 1; i >= 0; i--) {
      const k = keys[i]!;
      const prior = values[i];
      if (prior === undefined) {
        this.#writes.delete(k);
        this.#sorted = undefined;
      } else this.#writes.set(k, prior);
    }
    this.#clearUndo();
  }

  /** Records a key as read without reading it (a catalog entry a statement depends on). */
  trackKey(key: Uint8Array | KeyString): void {
    if (this.#tracking) this.#readKeys.add(typeof key === 'string' ? key : keyString(key));
  }

  hasRead(key: KeyString): boolean {
    if (this.#readKeys.has(key)) return true;
    for (const [start, end] of this.#readRanges) {
      if (key >= start && (end === undefined || key < end)) return true;
    }
    return false;
  }

  get(key: Uint8Array, signal?: AbortSignal, k?: KeyString): Promise<Uint8Array | undefined> {
    if (this.#writes.size > 0 || this.#tracking) {
      k ??= keyString(key);
      const w = this.#writes.get(k);
      if (w !== undefined) return Promise.resolve(w ?? undefined);
      if (this.#tracking) this.#readKeys.add(k);
    }
    return this.#engine.get(key, signal === undefined ? this.#scoped : { signal, scope: this.#scope });
  }

  /**
   * What {@link get} would resolve to, when this transaction's writes or the engine can tell
   * without waiting (see `StorageEngine.getNow`), else NOT_NOW.
   */
  getNow(key: Uint8Array, k?: KeyString): Uint8Array | undefined | typeof NOT_NOW {
    if (this.#writes.size > 0 || this.#tracking) {
      k ??= keyString(key);
      const w = this.#writes.get(k);
      if (w !== undefined) return w ?? undefined;
      if (this.#tracking) this.#readKeys.add(k);
    }
    return this.#engine.getNow === undefined ? NOT_NOW : this.#engine.getNow(key, this.#scoped);
  }

  put(key: Uint8Array, value: Uint8Array, k: KeyString | undefined = undefined): void {
    if (k === undefined) k = keyString(key);
    if (this.#keepBytes) this.#keyBytes.set(k, key);
    this.#record(k, value);
  }

  delete(key: Uint8Array): void {
    const k = keyString(key);
    if (this.#keepBytes) this.#keyBytes.set(k, key);
    this.#record(k, null);
  }

  #record(k: KeyString, value: Uint8Array | null): void {
    const prior = this.#writes.get(k);
    if (this.#recording) {
      const n = this.#undoCount++;
      this.#undoKeys[n] = k;
      this.#undoValues[n] = prior;
    }
    if (prior === undefined) {
      // Keys written in ascending order (a bulk load) keep the sorted list valid as they come.
      const sorted = this.#sorted;
      if (sorted !== undefined && (sorted.length === 0 || k > sorted[sorted.length - 1]!)) sorted.push(k);
      else this.#sorted = undefined;
    }
    this.#writes.set(k, value);
  }

  /** The written keys in key order (kept until a new key is written). */
  sortedKeys(): readonly KeyString[] {
    if (this.#sorted === undefined) this.#sorted = [...this.#writes.keys()].sort();
    return this.#sorted;
  }

  /** The values written under `keys` (`null`: deleted). */
  valuesOf(keys: readonly KeyString[]): (Uint8Array | null)[] {
    const values: (Uint8Array | null)[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) values[i] = this.#writes.get(keys[i]!)!;
    return values;
  }

  /** The buffered writes within `[start, end)`, in key order (a snapshot: later writes do not show). */
  #buffered(start: KeyString, end: KeyString | undefined): [KeyString, Uint8Array | null][] {
    if (this.#writes.size === 0) return [];
    const keys = this.sortedKeys();
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (keys[mid]! < start) lo = mid + 1;
      else hi = mid;
    }
    const out: [KeyString, Uint8Array | null][] = [];
    for (let i = lo; i < keys.length && (end === undefined || keys[i]! < end); i++) {
      out.push([keys[i]!, this.#writes.get(keys[i]!)!]);
    }
    return out;
  }

  /** An ordered scan of committed data merged with this transaction's writes. */
  scan(range: ScanRange, signal?: AbortSignal): AsyncIterable<KeyValue> {
    const [start, end] = bounds(range);
    if (this.#tracking) this.#readRanges.push([start, end]);
    const buffered = this.#buffered(start, end);
    const options = signal === undefined ? undefined : { signal };
    if (buffered.length === 0) return this.#engine.scan(withoutPrefix(range), options);
    if (range.reverse) buffered.reverse();
    const { limit, ...rest } = withoutPrefix(range);
    return mergeScan(this.#engine.scan(rest, options), buffered, range.reverse === true, limit ?? Infinity);
  }

  /**
   * {@link scan} in chunks (arrays), read-only: entries may share memory with the engine. Without
   * buffered writes in the range this is the engine's own chunked scan (one step per chunk).
   */
  scanChunks(range: ScanRange, signal?: AbortSignal): AsyncIterable<readonly KeyValue[]> {
    const [start, end] = bounds(range);
    if (this.#tracking) this.#readRanges.push([start, end]);
    const buffered = this.#buffered(start, end);
    const options = signal === undefined ? undefined : { signal };
    if (buffered.length === 0) return scanChunks(this.#engine, withoutPrefix(range), options);
    if (range.reverse) buffered.reverse();
    const { limit, ...rest } = withoutPrefix(range);
    return chunked(
      mergeScan(this.#engine.scan(rest, options), buffered, range.reverse === true, limit ?? Infinity),
    );
  }

  ops(): BatchOp[] {
    const ops: BatchOp[] = [];
    for (const [k, v] of this.#writes) {
      const key = this.#keyBytes.get(k) ?? keyBytes(k);
      ops.push(v === null ? { type: 'delete', key } : { type: 'put', key, value: v });
    }
    return ops;
  }

  writtenKeys(): KeyString[] {
    return [...this.#writes.keys()];
  }
}

async function* mergeScan(
  engine: AsyncIterable<KeyValue>,
  buffered: [KeyString, Uint8Array | null][],
  reverse: boolean,
  limit: number,
): AsyncIterable<KeyValue> {
  let i = 0;
  let n = 0;
  const before = (a: KeyString, b: KeyString) => (reverse ? a > b : a < b);
  const emitBuffered = function* (upTo: KeyString | undefined): Generator<KeyValue> {
    while (i < buffered.length && (upTo === undefined || before(buffered[i]![0], upTo))) {
      const [k, v] = buffered[i++]!;
      if (v !== null && n < limit) {
        n++;
        yield { key: keyBytes(k), value: v };
      }
    }
  };
  for await (const kv of engine) {
    if (n >= limit) return;
    const k = keyString(kv.key);
    yield* emitBuffered(k);
    if (i < buffered.length && buffered[i]![0] === k) {
      const v = buffered[i++]![1];
      if (v !== null && n < limit) {
        n++;
        yield { key: kv.key, value: v };
      }
      continue;
    }
    if (n >= limit) return;
    n++;
    yield kv;
  }
  yield* emitBuffered(undefined);
}
