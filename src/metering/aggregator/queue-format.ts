// On-disk format of the disk queue. All integers little-endian.
//
// Segment file `<first id, 20 digits>.seg`:
//   header  16 bytes: magic "SCQSEG01" (8), first id u64 (8) — must match the file name
//   record  8 + n bytes: crc u32, length n u32, n data bytes
//           crc = CRC-32 of (n u32 ‖ data), its register started from the low 32 bits of the record's
//           id: the id is implied by the position, so a record copied elsewhere fails its check. One
//           contiguous CRC call per record (half the cost of hashing the id separately).
// Ack log `acks.log`:
//   header  8 bytes: magic "SCQACK01"
//   entry   16 bytes: first id u64, count u32 (>= 1), crc u32 = CRC-32 of the first 12 bytes
import { crc32 } from './queue-crc32.ts';

export const SEGMENT_MAGIC = Buffer.from('SCQSEG01', 'latin1');
export const ACK_MAGIC = Buffer.from('SCQACK01', 'latin1');
export const SEGMENT_HEADER_BYTES = 16;
export const RECORD_HEADER_BYTES = 8;
export const ACK_HEADER_BYTES = 8;
export const ACK_ENTRY_BYTES = 16;
export const ACK_LOG_NAME = 'acks.log';
export const LOCK_NAME = 'lock';

const SEGMENT_NAME = /^(\d{20})\.seg$/;

/** File name of the segment whose first record has id `firstId`. */
export function segmentName(firstId: bigint): string {
  return `${firstId.toString().padStart(20, '0')}.seg`;
}

/** First id named by a segment file name, or undefined when `name` is not a segment file. */
export function parseSegmentName(name: string): bigint | undefined {
  const m = SEGMENT_NAME.exec(name);
  return m === null ? undefined : BigInt(m[1]!);
}

/** The 16-byte header of a segment starting at `firstId`. */
export function encodeSegmentHeader(firstId: bigint): Buffer {
  const b = Buffer.allocUnsafe(SEGMENT_HEADER_BYTES);
  SEGMENT_MAGIC.copy(b, 0);
  b.writeBigUInt64LE(firstId, 8);
  return b;
}

/** True when `b` starts with a segment header for `firstId`. */
export function isSegmentHeader(b: Buffer, firstId: bigint): boolean {
  return (
    b.length >= SEGMENT_HEADER_BYTES &&
    b.subarray(0, 8).equals(SEGMENT_MAGIC) &&
    b.readBigUInt64LE(8) === firstId
  );
}

/** Low 32 bits of `id`: the start of its record's CRC register. */
export const crcSeed = (id: bigint): number => Number(BigInt.asUintN(32, id));

/** Frames `records` (ids from `firstId` on) into one buffer ready to append to a segment. */
export function encodeRecords(records: readonly Uint8Array[], firstId: bigint, totalBytes: number): Buffer {
  const out = Buffer.allocUnsafe(totalBytes);
  let at = 0;
  let seed = crcSeed(firstId);
  for (const r of records) {
    const end = at + RECORD_HEADER_BYTES + r.length;
    out.writeUInt32LE(r.length, at + 4);
    out.set(r, at + RECORD_HEADER_BYTES);
    out.writeUInt32LE(crc32(out.subarray(at + 4, end), seed), at);
    at = end;
    seed = (seed + 1) >>> 0;
  }
  return out;
}

/** One ack log entry: ids `first` … `first + count - 1` are acknowledged. */
export interface AckRange {
  first: bigint;
  count: number;
}

/** Encodes ack ranges as log entries. Ranges longer than 2^32-1 ids are split. */
export function encodeAckEntries(ranges: readonly AckRange[]): Buffer {
  const entries: AckRange[] = [];
  for (const r of ranges) {
    let { first, count } = r;
    while (count > 0) {
      const n = Math.min(count, 0xffffffff);
      entries.push({ first, count: n });
      first += BigInt(n);
      count -= n;
    }
  }
  const out = Buffer.allocUnsafe(entries.length * ACK_ENTRY_BYTES);
  entries.forEach((e, i) => {
    const at = i * ACK_ENTRY_BYTES;
    out.writeBigUInt64LE(e.first, at);
    out.writeUInt32LE(e.count, at + 8);
    out.writeUInt32LE(crc32(out.subarray(at, at + 12)), at + 12);
  });
  return out;
}

/** Decodes the entry at `at`, or undefined when its CRC or count is wrong (a torn or damaged entry). */
export function decodeAckEntry(b: Buffer, at: number): AckRange | undefined {
  const count = b.readUInt32LE(at + 8);
  if (count === 0 || crc32(b.subarray(at, at + 12)) !== b.readUInt32LE(at + 12)) return undefined;
  return { first: b.readBigUInt64LE(at), count };
}

/** Sorts and merges ack ranges (overlapping or adjacent ranges become one). */
export function mergeAckRanges(ranges: readonly AckRange[]): AckRange[] {
  const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: AckRange[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.first <= last.first + BigInt(last.count)) {
      const end = r.first + BigInt(r.count);
      const lastEnd = last.first + BigInt(last.count);
      if (end > lastEnd) last.count = Number(end - last.first);
    } else out.push({ ...r });
  }
  return out;
}

/** The larger of two bigints (Math.max does not take bigints). */
export const bigMax = (a: bigint, b: bigint): bigint => (a > b ? a : b);

/** The smaller of two bigints. */
export const bigMin = (a: bigint, b: bigint): bigint => (a < b ? a : b);
