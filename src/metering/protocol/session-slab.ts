/**
 * Fixed-size slots in shared slabs, for what every session holds for hours: its two keys and its
 * replay bitmap. A Buffer of its own costs a session about 300 bytes of objects besides its bytes (the
 * view, its ArrayBuffer, the backing store's bookkeeping), and a million sessions are a million of
 * them for the garbage collector to trace; a slot is a number. Freed slots are zeroed and reused.
 */
export class SlotSlab {
  /** Bytes per slot. */
  readonly slotBytes: number;
  readonly #perSlab: number;
  readonly #slabs: Buffer[] = [];
  #free: Int32Array = new Int32Array(64);
  #freeCount = 0;
  #next = 0;
  #live = 0;

  constructor(slotBytes: number, slotsPerSlab = 1024) {
    if (!Number.isInteger(slotBytes) || slotBytes < 1)
      throw new TypeError('slotBytes must be a positive integer');
    this.slotBytes = slotBytes;
    this.#perSlab = slotsPerSlab;
  }

  /** Slots in use. */
  get live(): number {
    return this.#live;
  }

  /** A zeroed slot. */
  alloc(): number {
    this.#live++;
    if (this.#freeCount > 0) return this.#free[--this.#freeCount]!;
    const slot = this.#next++;
    if (slot % this.#perSlab === 0) this.#slabs.push(Buffer.alloc(this.#perSlab * this.slotBytes));
    return slot;
  }

  /** The slab holding `slot` and the slot's offset in it. */
  slab(slot: number): Buffer {
    return this.#slabs[Math.floor(slot / this.#perSlab)]!;
  }

  /** Offset of `slot` in its {@link slab}. */
  offset(slot: number): number {
    return (slot % this.#perSlab) * this.slotBytes;
  }

  /** A view of `length` bytes of `slot` from `at` (valid until the slot is freed). */
  view(slot: number, at: number, length: number): Buffer {
    const start = this.offset(slot) + at;
    return this.slab(slot).subarray(start, start + length);
  }

  /** Zeroes `slot` and makes it available again. */
  free(slot: number): void {
    const start = this.offset(slot);
    this.slab(slot).fill(0, start, start + this.slotBytes);
    if (this.#freeCount === this.#free.length) {
      const grown = new Int32Array(this.#free.length * 2);
      grown.set(this.#free);
      this.#free = grown;
    }
    this.#free[this.#freeCount++] = slot;
    this.#live--;
  }
}
