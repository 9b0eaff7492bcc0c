import { join } from 'node:path';
import { ioError, QueueError } from './queue-errors.ts';
import { SEGMENT_HEADER_BYTES } from './queue-format.ts';
import { parseRecords } from './queue-scan.ts';
import { BLOCK, type Segment } from './queue-segment.ts';

/** A record read back: its id and a copy of its bytes. */
export interface QueueRecord {
  readonly id: bigint;
  readonly data: Buffer;
}

/** Where the previous read stopped: lets the next one go on without rescanning from a block start. */
export interface ReadCursor {
  readonly seg: Segment;
  readonly index: number;
  readonly offset: number;
}

/** Limits of one read call, and the payload bytes collected so far. */
export interface ReadBudget {
  bytes: number;
  readonly maxRecords: number;
  readonly maxBytes: number;
}

const MIN_READ = 16 * 1024;
const MAX_READ = 1 << 20;

/** The first unacked, already written record with id >= `fromId` in `segments`, or undefined. */
export function nextReadable(
  segments: readonly Segment[],
  fromId: bigint,
): { seg: Segment; index: number } | undefined {
  for (const seg of segments) {
    if (seg.endId <= fromId) continue;
    const start = fromId > seg.firstId ? Number(fromId - seg.firstId) : 0;
    const index = seg.nextUnacked(start, seg.writtenCount);
    if (index >= 0) return { seg, index };
    if (seg.writtenCount < seg.count) return undefined; // later segments are not written either
  }
  return undefined;
}

/** ERR_QUEUE_CORRUPT for a record (index >= 0) or a place in a segment found bad while reading. */
export function corruptRecord(
  dir: string,
  seg: Segment,
  offset: number,
  index: number,
  reason: string,
): QueueError {
  const id = index >= 0 ? seg.firstId + BigInt(index) : undefined;
  return new QueueError(
    'ERR_QUEUE_CORRUPT',
    `disk queue segment ${join(dir, seg.name)} is damaged at offset ${offset}` +
      `${id === undefined ? '' : ` (record ${id})`}: ${reason}; the disk altered it after it was written. ` +
      'Ack that id to skip the record (the meter resends what the MDC never acknowledged) and check the disk',
    id === undefined ? { file: seg.name, offset } : { file: seg.name, offset, id },
  );
}

async function readAt(dir: string, seg: Segment, pos: number, length: number): Promise<Buffer> {
  const chunk = Buffer.allocUnsafe(length);
  let bytesRead: number;
  try {
    ({ bytesRead } = await seg.handle!.read(chunk, 0, length, pos));
  } catch (e) {
    throw ioError('read', join(dir, seg.name), e);
  }
  if (bytesRead < length)
    throw corruptRecord(dir, seg, pos + bytesRead, -1, `file ends ${length - bytesRead} bytes early`);
  return chunk;
}

/**
 * Reads one chunk of `seg` holding record `index` (from the cursor when it is close behind, else from
 * the index block's offset) and appends its unacked records from `index` on to `out`. Returns the id
 * to go on from (undefined once the budget is spent) and the new cursor.
 */
export async function readRun(
  dir: string,
  seg: Segment,
  index: number,
  out: QueueRecord[],
  budget: ReadBudget,
  cursor: ReadCursor | undefined,
): Promise<{ next: bigint | undefined; cursor: ReadCursor }> {
  const c = cursor;
  const { index: startIdx, offset: pos } =
    c !== undefined && c.seg === seg && c.index <= index && index - c.index < BLOCK
      ? c
      : seg.blockStart(index);
  const avg = Math.ceil((seg.writtenBytes - SEGMENT_HEADER_BYTES) / Math.max(1, seg.writtenCount));
  const estimate = (index - startIdx + budget.maxRecords - out.length) * avg;
  let want = Math.min(seg.writtenBytes - pos, Math.max(MIN_READ, Math.min(MAX_READ, estimate)));
  const stop: { full: boolean; jump: bigint | undefined } = { full: false, jump: undefined };
  let chunk: Buffer = Buffer.alloc(0);
  const visit = (k: number, at: number, length: number): boolean => {
    const i = startIdx + k;
    if (i < index) return true;
    if (seg.isAcked(i)) {
      const j = seg.nextUnacked(i + 1, seg.writtenCount);
      if (j >= 0 && j - i <= BLOCK) return true;
      stop.jump = j < 0 ? seg.endId : seg.firstId + BigInt(j); // skip a long acked run by its block offset
      return false;
    }
    if (out.length > 0 && budget.bytes + length > budget.maxBytes) {
      stop.full = true;
      return false;
    }
    out.push({ id: seg.firstId + BigInt(i), data: Buffer.from(chunk.subarray(at, at + length)) });
    budget.bytes += length;
    stop.full = out.length >= budget.maxRecords || budget.bytes >= budget.maxBytes;
    return !stop.full;
  };
  // An acked record damaged after open is stepped over by its length (only its data can be trusted
  // to be bad: a damaged length shows up as a CRC error of the record after it).
  const passAcked = (k: number) => seg.isAcked(startIdx + k);
  for (;;) {
    chunk = await readAt(dir, seg, pos, want);
    const r = parseRecords(chunk, seg.firstId + BigInt(startIdx), visit, passAcked);
    if (r.stop === 'corrupt')
      throw corruptRecord(dir, seg, pos + r.consumed, startIdx + r.records, r.reason!);
    if (r.stop === 'partial' && r.records === 0) {
      if (pos + r.need! > seg.writtenBytes)
        throw corruptRecord(dir, seg, pos, startIdx, 'record runs past the written end');
      want = r.need!; // a record larger than the chunk: read it whole
      continue;
    }
    if (r.records === 0) throw corruptRecord(dir, seg, pos, startIdx, 'index points past the written end');
    const next = stop.full ? undefined : (stop.jump ?? seg.firstId + BigInt(startIdx + r.records));
    return { next, cursor: { seg, index: startIdx + r.records, offset: pos + r.consumed } };
  }
}
