/**
 * The secure store's cache of opened blocks, so that reading a block again costs a byte
 * comparison instead of an AES-GCM open. An entry keeps the sealed bytes it was opened from, and
 * is used only when the engine hands back exactly those bytes again: anything altered on the
 * engine misses the cache and is authenticated afresh (and refused), so the cache never serves
 * data the engine no longer holds. Past `maxBytes` (which counts sealed and opened bytes) entries
 * go oldest first, except that one used since it was last passed over gets a second chance
 * (CLOCK): a hit only sets a flag, it does not reorder. It holds plaintext: it lives where the
 * keys live (the TEE).
 */
import type { Block, KeyText } from './sealed-block.ts';

interface CacheEntry {
  readonly sealed: Buffer;
  readonly block: Block;
  readonly bytes: number;
  /** Used since it was added or last given a second chance. */
  used: boolean;
}

/** Per-entry bookkeeping beyond its buffers (strings, arrays), roughly. */
const ENTRY_OVERHEAD = 64;

export class BlockCache {
  readonly #entries = new Map<KeyText, CacheEntry>();
  readonly #maxBytes: number;
  readonly #maxSealedBytes: number;
  #bytes = 0;

  /**
   * `maxSealedBytes`: blocks sealed larger than this are not kept (a block of one oversized entry,
   * such as a write buffer's log record of about a megabyte, read back only on replay: it would
   * push out the blocks reads come back to, and V8 runs a full collection at each 64 MiB of growth
   * of the memory outside its heap, which such buffers held here counted towards).
   */
  constructor(maxBytes: number, maxSealedBytes = Number.POSITIVE_INFINITY) {
    this.#maxBytes = maxBytes;
    this.#maxSealedBytes = maxSealedBytes;
  }

  /** The block opened from `sealed` under engine key `lower`, if it was opened before. */
  get(lower: KeyText, sealed: Uint8Array): Block | undefined {
    const entry = this.#entries.get(lower);
    if (entry === undefined) return undefined;
    if (entry.sealed.length !== sealed.length || !entry.sealed.equals(sealed)) return undefined;
    entry.used = true;
    return entry.block;
  }

  /** Remembers the block opened from (or sealed into) `sealed`; the buffers must not change. */
  set(lower: KeyText, sealed: Buffer, block: Block): void {
    this.delete(lower);
    const bytes = sealed.length + block.body.length + block.keys.length * ENTRY_OVERHEAD;
    if (bytes > this.#maxBytes || sealed.length > this.#maxSealedBytes) return;
    this.#entries.set(lower, { sealed, block, bytes, used: false });
    this.#bytes += bytes;
    while (this.#bytes > this.#maxBytes) {
      const [oldest, entry] = this.#entries.entries().next().value as [KeyText, CacheEntry];
      this.#entries.delete(oldest);
      if (entry.used && oldest !== lower) {
        entry.used = false;
        this.#entries.set(oldest, entry);
      } else this.#bytes -= entry.bytes;
    }
  }

  delete(lower: KeyText): void {
    const entry = this.#entries.get(lower);
    if (entry === undefined) return;
    this.#entries.delete(lower);
    this.#bytes -= entry.bytes;
  }

  /** Drops every entry, zeroing the plaintext it held. */
  clear(): void {
    for (const entry of this.#entries.values()) entry.block.body.fill(0);
    this.#entries.clear();
    this.#bytes = 0;
  }
}
