/**
 * The secure store's `values` layout: every value sealed on its own with AES-256-GCM (format 1,
 * see `keyring.ts`), bound to the store's namespace and the value's full key. Keys pass through
 * unchanged, so ranges and prefixes work as on the raw engine, and several processes may write
 * different keys of one engine. It costs one AEAD operation per value (see `block-store.ts` for
 * the default layout, which seals blocks of entries).
 */
import {
  assertBatch,
  assertKey,
  assertValue,
  checkOpen,
  closedError,
  reencryptChunkSize,
  throwIfAborted,
} from './engine-guards.ts';
import { AssociatedData, encodeNamespace, type Keyring, sealedKeyId, VALUE_FORMAT } from './keyring.ts';
import { keySuccessor, resolveScan } from './range.ts';
import type { ReencryptOptions, ReencryptProgress } from './secure-store.ts';
import type { BatchOp, KeyValue, OpOptions, ScanRange, StorageEngine } from './types.ts';
import { WriteGate } from './write-gate.ts';

/** Settings of a value store, validated by `createSecureStore`. */
export interface ValueStoreSettings {
  readonly namespace: string;
  readonly closeEngine: boolean;
}

/** A {@link StorageEngine} whose values are each authenticated-encrypted and bound to key and namespace. */
export class ValueStore implements StorageEngine {
  readonly name: string;
  readonly layout = 'values' as const;
  readonly #engine: StorageEngine;
  readonly #keyring: Keyring;
  readonly #aad: AssociatedData;
  readonly #closeEngine: boolean;
  readonly #gate = new WriteGate();
  #closed = false;

  constructor(engine: StorageEngine, keyring: Keyring, settings: ValueStoreSettings) {
    this.#engine = engine;
    this.#keyring = keyring;
    this.#aad = new AssociatedData(encodeNamespace(settings.namespace), 64, VALUE_FORMAT);
    this.#closeEngine = settings.closeEngine;
    this.name = `secure(${engine.name})`;
  }

  async get(key: Uint8Array, options?: OpOptions): Promise<Uint8Array | undefined> {
    assertKey(key);
    checkOpen(this.#closed, this.name, options);
    const sealed = await this.#engine.get(key, options);
    return sealed === undefined ? undefined : this.#keyring.open(sealed, this.#aad, key);
  }

  async put(key: Uint8Array, value: Uint8Array, options?: OpOptions): Promise<void> {
    assertKey(key);
    assertValue(value);
    checkOpen(this.#closed, this.name, options);
    const sealed = this.#keyring.seal(value, this.#aad, key);
    await this.#gate.write([key], () => this.#engine.put(key, sealed, options));
  }

  async delete(key: Uint8Array, options?: OpOptions): Promise<boolean> {
    assertKey(key);
    checkOpen(this.#closed, this.name, options);
    return this.#gate.write([key], () => this.#engine.delete(key, options));
  }

  async batch(ops: readonly BatchOp[], options?: OpOptions): Promise<void> {
    assertBatch(ops);
    checkOpen(this.#closed, this.name, options);
    const sealed = ops.map(
      (op): BatchOp =>
        op.type === 'put'
          ? { type: 'put', key: op.key, value: this.#keyring.seal(op.value, this.#aad, op.key) }
          : op,
    );
    await this.#gate.write(
      ops.map((op) => op.key),
      () => this.#engine.batch(sealed, options),
    );
  }

  scan(range: ScanRange, options?: OpOptions): AsyncIterable<KeyValue> {
    resolveScan(range);
    return this.#scan(range, options);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#closeEngine) await this.#engine.close();
  }

  /**
   * Rewrites every value not sealed under the keyring's current key, in chunks, while the store
   * stays in use: reads accept every key the keyring holds, and values this store writes during
   * the walk are never overwritten with older data. Afterwards the old keys can be removed.
   * Writers that bypass this store object (another process on the same database) are not
   * coordinated: run it where all writes go through this store. A value that fails
   * authentication stops the walk with `ERR_KVS_INTEGRITY`.
   */
  async reencrypt(options: ReencryptOptions = {}): Promise<ReencryptProgress> {
    const { signal, onProgress } = options;
    const chunkSize = reencryptChunkSize(options.chunkSize);
    checkOpen(this.#closed, this.name, options);
    const stop = await this.#gate.track();
    const progress = { scanned: 0, rewritten: 0, skipped: 0 };
    try {
      let start: Uint8Array | undefined;
      for (;;) {
        throwIfAborted(signal);
        this.#gate.beginChunk();
        const chunk = await collect(
          this.#engine.scan({ ...(start && { start }), limit: chunkSize }, { signal }),
        );
        const last = chunk.at(-1);
        if (!last) break;
        await this.#rewrite(chunk, progress, signal);
        onProgress?.({ ...progress });
        start = keySuccessor(last.key);
      }
    } finally {
      stop();
    }
    return progress;
  }

  async #rewrite(
    chunk: KeyValue[],
    progress: { scanned: number; rewritten: number; skipped: number },
    signal?: AbortSignal,
  ): Promise<void> {
    const current = this.#keyring.currentId;
    const stale = chunk.filter((e) => sealedKeyId(e.value, VALUE_FORMAT) !== current);
    const reopened = stale.map((e) => ({
      key: e.key,
      value: this.#keyring.open(e.value, this.#aad, e.key),
    }));
    progress.scanned += chunk.length;
    if (reopened.length === 0) return;
    await this.#gate.exclusive(async () => {
      if (this.#closed) throw closedError(this.name);
      throwIfAborted(signal);
      const ops: BatchOp[] = [];
      for (const { key, value } of reopened) {
        if (this.#gate.isDirty(key)) progress.skipped++;
        else ops.push({ type: 'put', key, value: this.#keyring.seal(value, this.#aad, key) });
        value.fill(0);
      }
      if (ops.length > 0) await this.#engine.batch(ops, { ...(signal && { signal }) });
      progress.rewritten += ops.length;
    });
  }

  async *#scan(range: ScanRange, options: OpOptions | undefined): AsyncGenerator<KeyValue> {
    checkOpen(this.#closed, this.name, options);
    for await (const { key, value } of this.#engine.scan(range, options)) {
      if (this.#closed) throw closedError(this.name);
      yield { key, value: this.#keyring.open(value, this.#aad, key) };
    }
  }
}

async function collect(it: AsyncIterable<KeyValue>): Promise<KeyValue[]> {
  const out: KeyValue[] = [];
  for await (const e of it) out.push(e);
  return out;
}
