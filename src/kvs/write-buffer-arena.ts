/**
 * Memory for a write buffer's log records (write-buffer.ts keeps each batch's record as it is and
 * its values as views of it): large chunks, bump-allocated, handed back when the layer holding the
 * records has been folded, and reused by the next layer.
 *
 * Why: V8 runs a full garbage collection each time the memory held outside its heap grows by about
 * 64 MiB. A buffer filling up with a round of a million readings (about 1.1 GB of records) grew it
 * by that much some 17 times per round, and each collection marked a heap of several GiB: a
 * CPU profile of the MDC over such a round spent a third of its time in the collector. With reused
 * chunks, and chunks reserved when the buffer opens (their pages are only mapped when written), the
 * memory outside the heap stays the same from round to round.
 *
 * Chunks handed back are zeroed where they were written (the records are plaintext).
 */

/** Default chunk size. */
export const ARENA_CHUNK_BYTES = 32 * 1024 * 1024;

/** Chunks of memory for records; see the module comment. */
export class RecordArena {
  readonly chunkBytes: number;
  readonly #free: Buffer[] = [];
  #chunks = 0;

  /** `reserveBytes`: chunks allocated now, to be used before any new one. */
  constructor(chunkBytes = ARENA_CHUNK_BYTES, reserveBytes = 0) {
    if (!Number.isSafeInteger(chunkBytes) || chunkBytes < 1024)
      throw new TypeError(`chunkBytes must be an integer of at least 1024, got ${String(chunkBytes)}`);
    if (!Number.isSafeInteger(reserveBytes) || reserveBytes < 0)
      throw new TypeError(`reserveBytes must be a non-negative integer, got ${String(reserveBytes)}`);
    this.chunkBytes = chunkBytes;
    for (let n = 0; n * chunkBytes < reserveBytes; n++) this.#free.push(this.#newChunk());
  }

  /** Chunks allocated so far (in use or free). */
  get chunks(): number {
    return this.#chunks;
  }

  /** Chunks free for the next layers. */
  get freeChunks(): number {
    return this.#free.length;
  }

  /** A new layer's allocator. */
  layer(): ArenaLayer {
    return new ArenaLayer(this);
  }

  /** @internal A free chunk, or a new one. */
  take(): Buffer {
    return this.#free.pop() ?? this.#newChunk();
  }

  /** @internal Takes back a chunk whose first `used` bytes were written. */
  give(chunk: Buffer, used: number): void {
    chunk.fill(0, 0, used);
    this.#free.push(chunk);
  }

  #newChunk(): Buffer {
    this.#chunks += 1;
    // Not zeroed: the pages are mapped when first written.
    return Buffer.allocUnsafeSlow(this.chunkBytes);
  }
}

/** The records of one layer of the buffer. */
export class ArenaLayer {
  readonly #arena: RecordArena;
  /** Chunks in use, each with the bytes written to it; the last one is being filled. */
  readonly #chunks: Array<{ chunk: Buffer; used: number }> = [];
  #pins = 0;
  #released = false;

  constructor(arena: RecordArena) {
    this.#arena = arena;
  }

  /**
   * `size` bytes valid until {@link release}. A record larger than a quarter of a chunk gets a
   * buffer of its own.
   */
  alloc(size: number): Buffer {
    if (this.#released) throw new Error('this write-buffer layer was released');
    const chunkBytes = this.#arena.chunkBytes;
    if (size > chunkBytes / 4) return Buffer.allocUnsafe(size);
    let last = this.#chunks[this.#chunks.length - 1];
    if (last === undefined || last.used + size > chunkBytes) {
      last = { chunk: this.#arena.take(), used: 0 };
      this.#chunks.push(last);
    }
    const out = last.chunk.subarray(last.used, last.used + size);
    last.used += size;
    return out;
  }

  /**
   * Keeps the records readable (a scan reading them lazily) until the returned function is called,
   * even if the layer is released meanwhile.
   */
  pin(): () => void {
    this.#pins += 1;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#pins -= 1;
      if (this.#pins === 0 && this.#released) this.#giveBack();
    };
  }

  /** Hands every chunk back to the arena once no pin holds it: nothing may use the records after. */
  release(): void {
    this.#released = true;
    if (this.#pins === 0) this.#giveBack();
  }

  #giveBack(): void {
    for (const { chunk, used } of this.#chunks) this.#arena.give(chunk, used);
    this.#chunks.length = 0;
  }
}
