/**
 * The secure store's `blocks` layout: consecutive entries are sealed together, one AES-256-GCM
 * frame (format 2, see `keyring.ts`) per block of at most `blockBytes` sealed, so that the
 * cost of an AEAD operation (a fresh cipher context per frame in node:crypto) is paid once per
 * block instead of once per entry. Blocks partition the key space: each is stored under its lower
 * bound, holds its exclusive upper bound and its entries (`sealed-block.ts`), and is bound to the
 * namespace and its engine key. Writes are read-modify-write of whole blocks, serialized within
 * the store object; one store object must own the engine's key space for writing.
 */
import { BlockCache } from './block-cache.ts';
import { BlockDirectory } from './block-directory.ts';
import { gapBetween, type Picking, pick } from './block-picking.ts';
import { type Changes, mergeChanges, type Rewrite, sortedChanges, splitRewrite } from './block-writes.ts';
import {
  asBuffer,
  assertBatch,
  assertKey,
  assertSortedBatch,
  assertValue,
  checkOpen,
  closedError,
  reencryptChunkSize,
  throwIfAborted,
} from './engine-guards.ts';
import { KvsError } from './errors.ts';
import {
  AssociatedData,
  BLOCK_FORMAT,
  encodeNamespace,
  type Keyring,
  sealedKeyId,
  VALUE_OVERHEAD,
} from './keyring.ts';
import { keySuccessor, type ResolvedScan, resolveScan } from './range.ts';
import {
  type Block,
  blockCovers,
  blockEntries,
  copyOut,
  decodeBlock,
  encodeBlock,
  findKey,
  type KeyText,
  keyBytes,
  keyText,
} from './sealed-block.ts';
import type { ReencryptOptions, ReencryptProgress } from './secure-store.ts';
import {
  type BatchOp,
  type KeyValue,
  NOT_NOW,
  type OpOptions,
  type ScanRange,
  type StorageEngine,
} from './types.ts';

/** Settings of a block store, validated by `createSecureStore`. */
export interface BlockStoreSettings {
  readonly namespace: string;
  readonly closeEngine: boolean;
  /** The most bytes a sealed block takes (frame included) before it is split. */
  readonly blockBytes: number;
  readonly cacheBytes: number;
}

/** A {@link StorageEngine} whose entries are sealed in blocks; see the file comment. */
export class BlockStore implements StorageEngine {
  readonly name: string;
  readonly layout = 'blocks' as const;
  readonly #engine: StorageEngine;
  readonly #keyring: Keyring;
  readonly #aad: AssociatedData;
  readonly #closeEngine: boolean;
  readonly #blockBytes: number;
  readonly #cache: BlockCache;
  readonly #directory = new BlockDirectory();
  #writes: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(engine: StorageEngine, keyring: Keyring, settings: BlockStoreSettings) {
    this.#engine = engine;
    this.#keyring = keyring;
    this.#aad = new AssociatedData(encodeNamespace(settings.namespace), 64, BLOCK_FORMAT);
    this.#closeEngine = settings.closeEngine;
    this.#blockBytes = settings.blockBytes;
    // Blocks of one entry larger than a block are not cached (block-cache.ts).
    this.#cache = new BlockCache(settings.cacheBytes, settings.blockBytes);
    this.name = `secure(${engine.name})`;
  }

  get(key: Uint8Array, options?: OpOptions): Promise<Uint8Array | undefined> {
    try {
      assertKey(key);
      checkOpen(this.#closed, this.name, options);
      const k = keyText(key);
      const scoped = options?.scope?.stateFor(this, newScopeState);
      const now = this.#now(k, scoped);
      return now === NOT_NOW ? this.#getRead(key, k, scoped, options) : Promise.resolve(now);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  getNow(key: Uint8Array, options?: OpOptions): Uint8Array | undefined | typeof NOT_NOW {
    assertKey(key);
    checkOpen(this.#closed, this.name, options);
    return this.#now(keyText(key), options?.scope?.stateFor(this, newScopeState));
  }

  /** The value of `k` when it is known without an engine read, else NOT_NOW. */
  #now(k: KeyText, scoped: ScopeState | undefined): Uint8Array | undefined | typeof NOT_NOW {
    // The block this read scope read last, if it holds the key: no engine read at all.
    const block = scoped?.block;
    if (block !== undefined && blockCovers(block, k)) return copyValue(block, k);
    // A key the directory knows no block holds (an append, a new key): no read at all.
    if (this.#directory.absent(k)) return undefined;
    return NOT_NOW;
  }

  async #getRead(
    key: Uint8Array,
    k: KeyText,
    scoped: ScopeState | undefined,
    options: OpOptions | undefined,
  ): Promise<Uint8Array | undefined> {
    // The hot path inline (one asynchronous step): the directory's block, compared in place.
    const directory = this.#directory;
    const at = directory.find(k);
    let block: Block | undefined;
    if (at >= 0 && this.#engine.peek !== undefined) {
      const lower = directory.lowerAt(at);
      const lowerBytes = directory.bytesAt(at);
      block = await this.#engine.peek(
        lowerBytes,
        (view) => this.#cachedOrOpen(lower, view, lowerBytes, true),
        options,
      );
    }
    if (block === undefined || !blockCovers(block, k)) block = await this.#blockFor(k, key, options);
    if (block === undefined) return undefined;
    if (scoped !== undefined) scoped.block = block;
    return copyValue(block, k);
  }

  async put(key: Uint8Array, value: Uint8Array, options?: OpOptions): Promise<void> {
    assertKey(key);
    assertValue(value);
    checkOpen(this.#closed, this.name, options);
    const changes: Changes = { keys: [keyText(key)], values: [copyOut(value)] };
    await this.#locked(() => this.#apply(changes, options));
  }

  async delete(key: Uint8Array, options?: OpOptions): Promise<boolean> {
    assertKey(key);
    checkOpen(this.#closed, this.name, options);
    const changes: Changes = { keys: [keyText(key)], values: [null] };
    return (await this.#locked(() => this.#apply(changes, options))) > 0;
  }

  async batch(ops: readonly BatchOp[], options?: OpOptions): Promise<void> {
    assertBatch(ops);
    checkOpen(this.#closed, this.name, options);
    if (ops.length === 0) return;
    // Copied in now: the caller may reuse its buffers once the call returns.
    const changes = sortedChanges(ops);
    await this.#locked(() => this.#apply(changes, options));
  }

  /** See {@link StorageEngine.batchSorted}: the changes as they are, without a copy or a sort. */
  async batchSorted(
    keys: readonly KeyText[],
    values: readonly (Uint8Array | null)[],
    options?: OpOptions,
  ): Promise<void> {
    assertSortedBatch(keys, values);
    checkOpen(this.#closed, this.name, options);
    if (keys.length === 0) return;
    const changes: Changes = { keys, values };
    await this.#locked(() => this.#apply(changes, options));
  }

  scan(range: ScanRange, options?: OpOptions): AsyncIterable<KeyValue> {
    return this.#entries(resolveScan(range), options);
  }

  /**
   * The entries of `range` in arrays, one per block read: one asynchronous step per block, not
   * per entry. Keys and values are views into the opened (and cached) block: read-only.
   */
  scanChunks(range: ScanRange, options?: OpOptions): AsyncIterable<readonly KeyValue[]> {
    return this.#chunks(resolveScan(range), options, false);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#cache.clear();
    this.#directory.clear();
    if (this.#closeEngine) await this.#engine.close();
  }

  /** Reseals every block not under the keyring's current key, a chunk of blocks at a time. */
  async reencrypt(options: ReencryptOptions = {}): Promise<ReencryptProgress> {
    const { signal, onProgress } = options;
    const chunkSize = reencryptChunkSize(options.chunkSize);
    checkOpen(this.#closed, this.name, options);
    const progress = { scanned: 0, rewritten: 0, skipped: 0 };
    let start: Uint8Array | undefined;
    for (;;) {
      throwIfAborted(signal);
      // Under the write lock, so that no write lands between reading a block and resealing it.
      const last = await this.#locked(() => this.#reseal(start, chunkSize, progress, signal));
      if (last === undefined) break;
      onProgress?.({ ...progress });
      start = keySuccessor(last);
    }
    return progress;
  }

  async #reseal(
    start: Uint8Array | undefined,
    chunkSize: number,
    progress: { scanned: number; rewritten: number },
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array | undefined> {
    if (this.#closed) throw closedError(this.name);
    const options = signal === undefined ? undefined : { signal };
    const chunk: KeyValue[] = [];
    for await (const kv of this.#engine.scan({ ...(start && { start }), limit: chunkSize }, options))
      chunk.push(kv);
    const current = this.#keyring.currentId;
    const ops: BatchOp[] = [];
    const resealed: [KeyText, Buffer, Block][] = [];
    for (const { key, value } of chunk) {
      const lower = keyText(key);
      const block = this.#open(lower, value, key);
      progress.scanned += block.keys.length;
      if (sealedKeyId(value, BLOCK_FORMAT) === current) continue;
      const sealed = asBuffer(this.#keyring.seal(block.body, this.#aad, key));
      ops.push({ type: 'put', key, value: sealed });
      resealed.push([lower, sealed, block]);
      progress.rewritten += block.keys.length;
    }
    if (ops.length > 0) await this.#engine.batch(ops, options);
    for (const [lower, sealed, block] of resealed) this.#cache.set(lower, sealed, block);
    return chunk.at(-1)?.key;
  }

  #locked<T>(f: () => Promise<T>): Promise<T> {
    const run = this.#writes.then(f, f);
    this.#writes = run.catch(() => undefined);
    return run;
  }

  /** Authenticates and parses the block stored under `lower`, or takes it from the cache. */
  #open(lower: KeyText, sealed: Uint8Array, lowerBytes?: Uint8Array): Block {
    const cached = this.#cache.get(lower, sealed);
    if (cached !== undefined) return cached;
    const body = this.#keyring.open(sealed, this.#aad, lowerBytes ?? keyBytes(lower));
    const block = decodeBlock(lower, body);
    this.#cache.set(lower, asBuffer(sealed), block);
    this.#directory.learn(lower, block.upper, block.keys);
    return block;
  }

  /** The block stored under `lower`, read without a copy when the cache has it. */
  async #read(
    lower: KeyText,
    lowerBytes: Uint8Array,
    options: OpOptions | undefined,
  ): Promise<Block | undefined> {
    if (this.#engine.peek === undefined)
      return this.#cachedOrOpen(lower, await this.#engine.get(lowerBytes, options), lowerBytes);
    // An inline arrow: a named closure here would cost a name-keeping call per read under tsx.
    return this.#engine.peek(
      lowerBytes,
      (view) => this.#cachedOrOpen(lower, view, lowerBytes, true),
      options,
    );
  }

  #cachedOrOpen(
    lower: KeyText,
    sealed: Uint8Array | undefined,
    lowerBytes: Uint8Array,
    borrowed = false,
  ): Block | undefined {
    if (sealed === undefined) return undefined;
    return (
      this.#cache.get(lower, sealed) ?? this.#open(lower, borrowed ? copyOut(sealed) : sealed, lowerBytes)
    );
  }

  /** The block whose range holds `k`, or undefined when `k` is below every block. */
  async #blockFor(k: KeyText, key: Uint8Array, options: OpOptions | undefined): Promise<Block | undefined> {
    const at = this.#directory.find(k);
    if (at >= 0) {
      const block = await this.#read(this.#directory.lowerAt(at), this.#directory.bytesAt(at), options);
      if (block !== undefined && blockCovers(block, k)) return block;
    }
    const floor = await this.#floor(keySuccessor(key), options);
    if (floor !== undefined && !blockCovers(floor, k)) throw missingBlock();
    return floor;
  }

  /** The last block stored below `end` (the block covering the key just below it), if any. */
  async #floor(end: Uint8Array, options: OpOptions | undefined): Promise<Block | undefined> {
    for await (const kv of this.#engine.scan({ end, reverse: true, limit: 1 }, options)) {
      const block = this.#open(keyText(kv.key), kv.value, kv.key);
      this.#directory.learn(block.lower, block.upper, block.keys);
      return block;
    }
    return undefined;
  }

  async #first(options: OpOptions | undefined): Promise<Block | undefined> {
    for await (const kv of this.#engine.scan({ limit: 1 }, options))
      return this.#open(keyText(kv.key), kv.value, kv.key);
    return undefined;
  }

  async *#entries(scan: ResolvedScan, options: OpOptions | undefined): AsyncGenerator<KeyValue> {
    for await (const chunk of this.#chunks(scan, options, true)) {
      for (const entry of chunk) {
        yield entry;
        if (this.#closed) throw closedError(this.name);
        throwIfAborted(options?.signal);
      }
    }
  }

  async *#chunks(
    scan: ResolvedScan,
    options: OpOptions | undefined,
    copy: boolean,
  ): AsyncGenerator<KeyValue[]> {
    checkOpen(this.#closed, this.name, options);
    if (scan.empty) return;
    const picking: Picking = {
      start: scan.start === undefined ? undefined : keyText(scan.start),
      end: scan.end === undefined ? undefined : keyText(scan.end),
      reverse: scan.reverse,
      copy,
      remaining: scan.limit,
      last: undefined,
    };
    const blocks = scan.reverse
      ? this.#blocksBackward(scan, picking.start, options)
      : this.#blocksForward(scan, picking.start, options);
    let previous: Block | undefined;
    for await (const block of blocks) {
      if (this.#closed) throw closedError(this.name);
      throwIfAborted(options?.signal);
      // Consecutive blocks must meet: a gap is a deleted block, or (on an engine whose scans are
      // not snapshots) a block merged meanwhile, whose range the block before it now covers.
      const gap = previous === undefined ? undefined : gapBetween(previous, block, scan.reverse);
      if (gap !== undefined) {
        const filler = await this.#covering(gap[0], options);
        const out = pick(filler, picking, gap);
        if (out.length > 0) yield out;
        if (picking.remaining <= 0) return;
      }
      previous = block;
      const out = pick(block, picking, undefined);
      if (out.length > 0) yield out;
      if (picking.remaining <= 0) return;
    }
    // Forwards, the block after the last one read must start at or beyond the scan's end.
    const tail = previous?.upper;
    if (!scan.reverse && tail !== undefined && (picking.end === undefined || tail < picking.end)) {
      const filler = await this.#covering(tail, options);
      const out = pick(filler, picking, [tail, picking.end]);
      if (out.length > 0) yield out;
    }
  }

  /** The block that covers `k` now; `ERR_KVS_INTEGRITY` when none does (a block is missing). */
  async #covering(k: KeyText, options: OpOptions | undefined): Promise<Block> {
    const block = await this.#floor(keySuccessor(keyBytes(k)), options);
    if (block === undefined || !blockCovers(block, k)) throw missingBlock();
    return block;
  }

  /**
   * The blocks that may hold keys of a forward scan, in order: from the block covering its start.
   * The engine scan must begin at that block: when a concurrent write moved the block (the scan's
   * snapshot starts elsewhere), it starts over, the last time from the first block.
   */
  async *#blocksForward(
    scan: ResolvedScan,
    start: KeyText | undefined,
    options: OpOptions | undefined,
  ): AsyncGenerator<Block> {
    for (let attempt = 0; ; attempt++) {
      let from: Block | undefined;
      if (start !== undefined && attempt < 3) from = await this.#blockFor(start, scan.start!, options);
      const range = {
        ...(from && { start: keyBytes(from.lower) }),
        ...(scan.end && { end: scan.end }),
      };
      let first = true;
      let restart = false;
      for await (const kv of this.#engine.scan(range, options)) {
        const lower = keyText(kv.key);
        if (first && from !== undefined && lower !== from.lower) {
          restart = true;
          break;
        }
        first = false;
        const block = this.#open(lower, kv.value, kv.key);
        if (start !== undefined && block.upper !== undefined && block.upper <= start) continue;
        yield block;
      }
      if (!restart) return;
    }
  }

  /** The blocks that may hold keys of a backward scan: from the last one below its end, downwards. */
  async *#blocksBackward(
    scan: ResolvedScan,
    start: KeyText | undefined,
    options: OpOptions | undefined,
  ): AsyncGenerator<Block> {
    const range = { ...(scan.end && { end: scan.end }), reverse: true };
    for await (const kv of this.#engine.scan(range, options)) {
      const lower = keyText(kv.key);
      yield this.#open(lower, kv.value, kv.key);
      if (start !== undefined && lower <= start) return;
    }
  }

  /** Applies changes (under the write lock); resolves to how many existing keys were deleted. */
  async #apply(changes: Changes, options: OpOptions | undefined): Promise<number> {
    if (this.#closed) throw closedError(this.name);
    const { keys } = changes;
    const rewrites: Rewrite[] = [];
    let deleted = 0;
    for (let i = 0; i < keys.length; ) {
      const k = keys[i]!;
      const block = (await this.#blockFor(k, keyBytes(k), options)) ?? (await this.#first(options));
      const upper = block?.upper;
      let j = i + 1;
      while (j < keys.length && (upper === undefined || keys[j]! < upper)) j++;
      const merged = mergeChanges(block === undefined ? [] : blockEntries(block), changes, i, j);
      deleted += merged.deleted;
      const lowest = merged.entries[0]?.key;
      const lower =
        block === undefined ? lowest : lowest !== undefined && lowest < block.lower ? lowest : block.lower;
      if (lower !== undefined)
        rewrites.push({
          oldLower: block?.lower,
          lower,
          upper,
          entries: merged.entries,
          appended: merged.appended,
        });
      i = j;
    }
    await this.#giveUpEmpty(rewrites, options);
    await this.#store(rewrites, options);
    return deleted;
  }

  /** A block left empty is deleted, and its range goes to the block before it (rewritten too). */
  async #giveUpEmpty(rewrites: Rewrite[], options: OpOptions | undefined): Promise<void> {
    for (let r = 0; r < rewrites.length; r++) {
      const emptied = rewrites[r]!;
      if (emptied.entries.length > 0 || emptied.oldLower === undefined) continue;
      // The nearest rewrite before it that keeps entries, if it ends where the emptied block begins
      // (emptied rewrites in between already gave their ranges to it).
      let before: Rewrite | undefined;
      for (let p = r - 1; p >= 0; p--) {
        const candidate = rewrites[p]!;
        if (candidate.entries.length === 0) continue;
        if (candidate.upper === emptied.oldLower) before = candidate;
        break;
      }
      if (before === undefined) {
        const block = await this.#floor(keyBytes(emptied.oldLower), options);
        if (block === undefined) continue;
        if (block.upper !== emptied.oldLower) throw missingBlock();
        before = {
          oldLower: block.lower,
          lower: block.lower,
          upper: block.upper,
          entries: blockEntries(block),
        };
        rewrites.splice(r, 0, before);
        r++;
      }
      before.upper = emptied.upper;
    }
  }

  /** Seals the rewrites' blocks and writes them, with the deletions, in one engine batch. */
  async #store(rewrites: readonly Rewrite[], options: OpOptions | undefined): Promise<void> {
    const deletes: KeyText[] = [];
    const puts: [KeyText, Buffer, Block][] = [];
    for (const rewrite of rewrites) {
      const moved = rewrite.oldLower !== undefined && rewrite.oldLower !== rewrite.lower;
      if (rewrite.entries.length === 0 || moved) deletes.push(rewrite.oldLower!);
      if (rewrite.entries.length === 0) continue;
      for (const part of splitRewrite(rewrite, this.#blockBytes - VALUE_OVERHEAD)) {
        const block = encodeBlock(part.lower, part.upper, part.entries);
        const sealed = asBuffer(this.#keyring.seal(block.body, this.#aad, keyBytes(part.lower)));
        puts.push([part.lower, sealed, block]);
      }
    }
    const ops: BatchOp[] = deletes.map((k) => ({ type: 'delete', key: keyBytes(k) }));
    for (const [lower, sealed] of puts) ops.push({ type: 'put', key: keyBytes(lower), value: sealed });
    if (ops.length === 0) return;
    await this.#engine.batch(ops, options);
    for (const lower of deletes) {
      this.#cache.delete(lower);
      this.#directory.forget(lower);
    }
    for (const [lower, sealed, block] of puts) {
      this.#cache.set(lower, sealed, block);
      this.#directory.learn(lower, block.upper, block.keys);
    }
  }
}

/** What a read scope remembers for the store: the last block it read. */
interface ScopeState {
  block: Block | undefined;
}

function newScopeState(): ScopeState {
  return { block: undefined };
}

/** A copy of the value of `k` in `block`, or undefined. */
function copyValue(block: Block, k: KeyText): Buffer | undefined {
  const i = findKey(block.keys, k);
  if (i < 0) return undefined;
  const out = Buffer.allocUnsafe(block.ends[i]! - block.starts[i]!);
  block.body.copy(out, 0, block.starts[i]!, block.ends[i]!);
  return out;
}

function missingBlock(): KvsError {
  return new KvsError(
    'ERR_KVS_INTEGRITY',
    'a block of the secure store is missing: the block before the gap ends where no block begins (blocks were deleted or replaced by older copies)',
  );
}
