import type { FileHandle } from 'node:fs/promises';
import type { AckRange } from './queue-format.ts';
import { bigMax, bigMin, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES, segmentName } from './queue-format.ts';

/** Records per index block: the offset of every 64th record is kept, the others are found by scanning. */
export const BLOCK = 64;
const SHIFT = 6;

// Bytes of a block's payload attributed to its first k acked records (of n): floor(P·k/n). Summed over
// a block's acks it telescopes to exactly P, so pendingBytes is exact for untouched and fully acked
// blocks and proportional within a partly acked one — without a length per record in memory.
const share = (payload: number, k: number, n: number) => (n === 0 ? 0 : Math.floor((payload * k) / n));

function grow<T extends Uint8Array | Uint32Array>(a: T, need: number, make: (n: number) => T): T {
  if (need <= a.length) return a;
  const b = make(Math.max(need, a.length * 2));
  b.set(a);
  return b;
}

/**
 * In-memory index of one segment file: per record one bit (acked), per 64 records a 4-byte offset and
 * a 1-byte acked count — about 0.2 bytes per record — plus counters. Never the records themselves.
 */
export class Segment {
  readonly firstId: bigint;
  readonly name: string;
  /** Records assigned to this segment (written or about to be). */
  count = 0;
  /** File size once every assigned record is written: header plus framed records. */
  bytes = SEGMENT_HEADER_BYTES;
  /** Records and bytes already written to the file (what reads may touch). */
  writtenCount = 0;
  writtenBytes = SEGMENT_HEADER_BYTES;
  acked = 0;
  /** Payload bytes of unacknowledged records (see `share` above for partly acked blocks). */
  pendingBytes = 0;
  /** Open handle (read and write) once the file exists. */
  handle: FileHandle | undefined;
  created = false;
  /** Fully acked and no longer the active segment: waiting for in-flight reads, then deleted. */
  retired = false;
  readers = 0;
  #acked = new Uint8Array(8);
  #offsets = new Uint32Array(2);
  #blockAcked = new Uint8Array(2);
  #ackedPrefix = 0; // every record before this index is acked

  constructor(firstId: bigint) {
    this.firstId = firstId;
    this.name = segmentName(firstId);
  }

  /** One past the id of the last assigned record. */
  get endId(): bigint {
    return this.firstId + BigInt(this.count);
  }

  /** True when every assigned record is acked (and there is at least one). */
  get fullyAcked(): boolean {
    return this.count > 0 && this.acked === this.count;
  }

  /** Records the next record (of `length` payload bytes) as assigned to this segment. */
  add(length: number): void {
    const i = this.count;
    const b = i >>> SHIFT;
    if ((i & (BLOCK - 1)) === 0) {
      this.#offsets = grow(this.#offsets, b + 1, (n) => new Uint32Array(n));
      this.#blockAcked = grow(this.#blockAcked, b + 1, (n) => new Uint8Array(n));
      this.#acked = grow(this.#acked, (b + 1) * (BLOCK / 8), (n) => new Uint8Array(n));
      this.#offsets[b] = this.bytes;
    }
    const n = i - (b << SHIFT);
    const k = this.#blockAcked[b]!;
    const before = this.#payload(b, n);
    this.bytes += RECORD_HEADER_BYTES + length;
    this.count++;
    this.pendingBytes += length - (share(before + length, k, n + 1) - share(before, k, n));
  }

  /** True when record `i` (index in this segment) is acked. */
  isAcked(i: number): boolean {
    return ((this.#acked[i >>> 3]! >>> (i & 7)) & 1) === 1;
  }

  /** Marks record `i` acked; false when it already was. */
  ack(i: number): boolean {
    if (this.isAcked(i)) return false;
    this.#acked[i >>> 3]! |= 1 << (i & 7);
    const b = i >>> SHIFT;
    const n = this.#blockCount(b);
    const k = this.#blockAcked[b]!;
    const payload = this.#payload(b, n);
    this.pendingBytes -= share(payload, k + 1, n) - share(payload, k, n);
    this.#blockAcked[b] = k + 1;
    this.acked++;
    return true;
  }

  /** Index of the first unacked record, or -1. Remembers where the acked prefix ends. */
  firstUnacked(): number {
    const i = this.nextUnacked(this.#ackedPrefix, this.count);
    this.#ackedPrefix = i < 0 ? this.count : i;
    return i;
  }

  /** Index of the first unacked record in [from, limit), or -1. Skips fully acked blocks and bytes. */
  nextUnacked(from: number, limit: number): number {
    let i = from;
    while (i < limit) {
      if ((i & (BLOCK - 1)) === 0 && this.#blockAcked[i >>> SHIFT] === this.#blockCount(i >>> SHIFT)) {
        i += BLOCK;
        continue;
      }
      const byte = this.#acked[i >>> 3]!;
      if ((i & 7) === 0 && byte === 0xff) {
        i += 8;
        continue;
      }
      if (((byte >>> (i & 7)) & 1) === 0) return i;
      i++;
    }
    return -1;
  }

  /** File offset and index of the first record of the block holding record `i`. */
  blockStart(i: number): { index: number; offset: number } {
    const b = i >>> SHIFT;
    return { index: b << SHIFT, offset: this.#offsets[b]! };
  }

  /** Acked ids of this segment as ranges (for compacting the ack log). */
  ackedRanges(): AckRange[] {
    const out: AckRange[] = [];
    let runStart = -1;
    for (let i = 0; i <= this.count; i++) {
      const acked = i < this.count && this.isAcked(i);
      if (acked && runStart < 0) runStart = i;
      else if (!acked && runStart >= 0) {
        out.push({ first: this.firstId + BigInt(runStart), count: i - runStart });
        runStart = -1;
      }
    }
    return out;
  }

  /** Bytes of memory the index uses (for the memory figures in the documentation). */
  get indexBytes(): number {
    return this.#acked.byteLength + this.#offsets.byteLength + this.#blockAcked.byteLength;
  }

  #blockCount(b: number): number {
    return Math.min(BLOCK, this.count - (b << SHIFT));
  }

  // Payload bytes of block b, which holds n records.
  #payload(b: number, n: number): number {
    if (n === 0) return 0;
    const end = (b + 1) << SHIFT < this.count ? this.#offsets[b + 1]! : this.bytes;
    return end - this.#offsets[b]! - n * RECORD_HEADER_BYTES;
  }
}

/** The segment of `segments` (sorted by first id) whose id range holds `id`, or undefined. */
export function findSegment(segments: readonly Segment[], id: bigint): Segment | undefined {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = segments[mid]!;
    if (id < s.firstId) hi = mid - 1;
    else if (id >= s.endId) lo = mid + 1;
    else return s;
  }
  return undefined;
}

/** Acks every record of `segments` (sorted) with an id in [first, end). */
export function ackIdRange(segments: readonly Segment[], first: bigint, end: bigint): void {
  for (const s of segments) {
    if (s.endId <= first) continue;
    if (s.firstId >= end) break;
    const from = Number(bigMax(first, s.firstId) - s.firstId);
    const to = Number(bigMin(end, s.endId) - s.firstId);
    for (let i = s.nextUnacked(from, to); i >= 0; i = s.nextUnacked(i + 1, to)) s.ack(i);
  }
}
