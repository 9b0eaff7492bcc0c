import type { FileHandle } from 'node:fs/promises';
import { crc32 } from './queue-crc32.ts';
import { crcSeed, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './queue-format.ts';

/** Why parsing stopped: all bytes used, a record continues past the chunk, a bad record, or the visitor. */
export type ParseStop = 'end' | 'partial' | 'corrupt' | 'enough';

/** Outcome of {@link parseRecords}. */
export interface ParseResult {
  /** Bytes of whole, valid records parsed from the start of the chunk. */
  consumed: number;
  records: number;
  stop: ParseStop;
  /** With 'partial': bytes the next record needs in all (header and data). */
  need?: number;
  /** With 'corrupt': what was wrong. */
  reason?: string;
}

/**
 * Parses framed records from `chunk`, which starts at a record boundary, the first with id `firstId`.
 * `visit(k, at, length)` gets each valid record — the k-th of the chunk, its data at `at` — and
 * returns false to stop after it. A record failing its CRC stops parsing, unless `passBad(k)` says
 * to step over it by its length.
 */
export function parseRecords(
  chunk: Buffer,
  firstId: bigint,
  visit: (k: number, at: number, length: number) => boolean,
  passBad?: (k: number) => boolean,
): ParseResult {
  let at = 0;
  let k = 0;
  let seed = crcSeed(firstId);
  while (at < chunk.length) {
    if (chunk.length - at < RECORD_HEADER_BYTES)
      return { consumed: at, records: k, stop: 'partial', need: RECORD_HEADER_BYTES };
    const length = chunk.readUInt32LE(at + 4);
    const need = RECORD_HEADER_BYTES + length;
    if (chunk.length - at < need) return { consumed: at, records: k, stop: 'partial', need };
    if (crc32(chunk.subarray(at + 4, at + need), seed) !== chunk.readUInt32LE(at) && passBad?.(k) !== true)
      return {
        consumed: at,
        records: k,
        stop: 'corrupt',
        reason: `CRC mismatch in record ${firstId + BigInt(k)} (${length} bytes)`,
      };
    const more = visit(k, at + RECORD_HEADER_BYTES, length);
    at += need;
    k++;
    seed = (seed + 1) >>> 0;
    if (!more) return { consumed: at, records: k, stop: 'enough' };
  }
  return { consumed: at, records: k, stop: 'end' };
}

/** Outcome of {@link scanSegment}: the valid prefix, and where and why it ends early if it does. */
export interface ScanResult {
  validBytes: number;
  records: number;
  bad?: { offset: number; reason: string };
}

const SCAN_CHUNK = 1 << 20;

/**
 * Reads a segment file of `fileSize` bytes from after its header to the end, checking every record's
 * framing and CRC, and calls `onRecord` with each valid record's length. Stops at the first bad one,
 * or after `maxRecords` records (bytes after them are reported as bad).
 */
export async function scanSegment(
  handle: FileHandle,
  firstId: bigint,
  fileSize: number,
  maxRecords: number,
  onRecord: (length: number) => void,
): Promise<ScanResult> {
  let pos = SEGMENT_HEADER_BYTES;
  let records = 0;
  let seen = 0;
  let buf = Buffer.allocUnsafe(SCAN_CHUNK);
  const visit = (_k: number, _at: number, length: number) => {
    onRecord(length);
    return ++seen < maxRecords;
  };
  while (pos < fileSize) {
    if (records >= maxRecords)
      return {
        validBytes: pos,
        records,
        bad: { offset: pos, reason: `${fileSize - pos} bytes after the last id of the segment` },
      };
    const want = Math.min(buf.length, fileSize - pos);
    const { bytesRead } = await handle.read(buf, 0, want, pos);
    if (bytesRead < want)
      return { validBytes: pos, records, bad: { offset: pos, reason: 'file shrank while read' } };
    const r = parseRecords(buf.subarray(0, want), firstId + BigInt(records), visit);
    pos += r.consumed;
    records += r.records;
    if (r.stop === 'corrupt') return { validBytes: pos, records, bad: { offset: pos, reason: r.reason! } };
    if (r.stop === 'partial') {
      const need = r.need!;
      if (pos + need > fileSize) {
        const reason =
          need === RECORD_HEADER_BYTES
            ? `record header cut off (${fileSize - pos} of ${RECORD_HEADER_BYTES} bytes)`
            : `record of ${need - RECORD_HEADER_BYTES} bytes runs past the end of the file (${fileSize - pos} bytes left)`;
        return { validBytes: pos, records, bad: { offset: pos, reason } };
      }
      if (need > buf.length) buf = Buffer.allocUnsafe(need);
    }
  }
  return { validBytes: pos, records };
}
