import { type FileHandle, open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AckLog } from './queue-ack-log.ts';
import { ioError, QueueError } from './queue-errors.ts';
import {
  type AckRange,
  bigMax,
  bigMin,
  encodeSegmentHeader,
  isSegmentHeader,
  parseSegmentName,
  SEGMENT_HEADER_BYTES,
} from './queue-format.ts';
import { scanSegment } from './queue-scan.ts';
import { ackIdRange, Segment } from './queue-segment.ts';

/** What to do with a damaged older segment: refuse to open (default), or drop its unreadable records. */
export type CorruptionPolicy = 'fail' | 'skip';

/** One damaged place found when opening. */
export interface RecoveryProblem {
  readonly file: string;
  readonly offset: number;
  readonly reason: string;
  /** Unacknowledged records lost there (0 for a torn tail of the last segment: never acknowledged as durable). */
  readonly lostRecords: number;
}

/** What opening the queue found and repaired. All zero and empty after a clean shutdown. */
export interface RecoveryReport {
  /** Bytes cut from the tail of the last segment (a write torn by a crash). */
  readonly truncatedBytes: number;
  /** Unacknowledged records dropped from damaged older segments (only with `onCorrupt: 'skip'`). */
  readonly droppedRecords: number;
  /** Bytes dropped from the ack log's tail: those acks are lost, their records are delivered again. */
  readonly ackLogDroppedBytes: number;
  readonly problems: readonly RecoveryProblem[];
}

/** State rebuilt from the directory. */
export interface Recovered {
  segments: Segment[];
  ackLog: AckLog;
  report: RecoveryReport;
  /** The ack log holds entries that are stale or must be rewritten (ids past the end, dropped gaps). */
  mustCompact: boolean;
}

// A sealed segment that ends (cleanly or at a bad record) before the next segment's first id. The
// missing ids are fine when the ack log acknowledges them all (a tail already dropped before).
interface Damage {
  seg: Segment;
  size: number;
  validBytes: number;
  offset: number;
  reason: string;
  end: bigint;
  covered: AckRange[];
}

async function loadSegment(
  dir: string,
  firstId: bigint,
  limit: bigint | undefined,
): Promise<{ seg: Segment; size: number; validBytes: number; bad?: { offset: number; reason: string } }> {
  const seg = new Segment(firstId);
  const path = join(dir, seg.name);
  let fh: FileHandle;
  try {
    fh = await open(path, 'r+');
  } catch (e) {
    throw ioError('open', path, e);
  }
  seg.handle = fh;
  seg.created = true;
  try {
    const size = (await fh.stat()).size;
    const header = Buffer.alloc(SEGMENT_HEADER_BYTES);
    await fh.read(header, 0, Math.min(size, SEGMENT_HEADER_BYTES), 0);
    if (!isSegmentHeader(header, firstId))
      return {
        seg,
        size,
        validBytes: 0,
        bad: { offset: 0, reason: 'bad segment header (magic or first id)' },
      };
    if (size > 0xffffffff)
      return { seg, size, validBytes: 0, bad: { offset: 0, reason: 'segment larger than 4 GiB' } };
    const max = limit === undefined ? Number.POSITIVE_INFINITY : Number(limit - firstId);
    const r = await scanSegment(fh, firstId, size, max, (length) => seg.add(length));
    return { seg, size, validBytes: r.validBytes, ...(r.bad === undefined ? {} : { bad: r.bad }) };
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw ioError('read', path, e);
  }
}

async function resetSegment(seg: Segment, validBytes: number, dir: string): Promise<void> {
  const fh = seg.handle!;
  const path = join(dir, seg.name);
  try {
    if (validBytes < SEGMENT_HEADER_BYTES) {
      await fh.truncate(0);
      await fh.write(encodeSegmentHeader(seg.firstId), 0, SEGMENT_HEADER_BYTES, 0);
    } else await fh.truncate(validBytes);
    await fh.sync();
  } catch (e) {
    throw ioError('truncate', path, e);
  }
}

async function closeAll(segments: readonly Segment[]): Promise<void> {
  await Promise.all(segments.map((s) => s.handle?.close().catch(() => undefined)));
}

/**
 * Rebuilds the queue's state from `dir`: scans every segment (framing and CRC of each record), cuts
 * a torn tail off the last one, replays the ack log, and checks that every older segment holds all
 * the ids up to the next one — or that the missing ones are acknowledged. Otherwise, with 'fail',
 * throws ERR_QUEUE_CORRUPT naming file and offset; with 'skip', drops them and reports it.
 */
export async function recover(dir: string, onCorrupt: CorruptionPolicy): Promise<Recovered> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw ioError('list', dir, e);
  }
  for (const n of names.filter((n) => n.endsWith('.tmp'))) await unlink(join(dir, n)).catch(() => undefined);
  const ids = names
    .map(parseSegmentName)
    .filter((id): id is bigint => id !== undefined)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const segments: Segment[] = [];
  const damages: Damage[] = [];
  const problems: RecoveryProblem[] = [];
  let truncatedBytes = 0;
  try {
    for (let k = 0; k < ids.length; k++) {
      const next = ids[k + 1];
      const r = await loadSegment(dir, ids[k]!, next);
      segments.push(r.seg);
      if (next === undefined) {
        if (r.bad !== undefined) {
          await resetSegment(r.seg, r.validBytes, dir);
          truncatedBytes += r.size - r.validBytes;
          problems.push({ file: r.seg.name, offset: r.bad.offset, reason: r.bad.reason, lostRecords: 0 });
        }
        r.seg.writtenBytes = Math.max(r.validBytes, SEGMENT_HEADER_BYTES);
      } else {
        r.seg.writtenBytes = r.validBytes;
        if (r.bad !== undefined || r.seg.endId < next) {
          const bad = r.bad ?? {
            offset: r.size,
            reason: `segment ends after ${r.seg.count} records, but the next segment starts at id ${next}`,
          };
          damages.push({
            seg: r.seg,
            size: r.size,
            validBytes: r.validBytes,
            ...bad,
            end: next,
            covered: [],
          });
        }
      }
      r.seg.writtenCount = r.seg.count;
    }
    if (segments.length === 0) segments.push(await createFirstSegment(dir));
    const last = segments[segments.length - 1]!;
    let mustCompact = false;
    const { log, replay } = await AckLog.open(dir, (range) => {
      const end = range.first + BigInt(range.count);
      if (end > last.endId) mustCompact = true;
      ackIdRange(segments, range.first, end);
      for (const d of damages) {
        const from = bigMax(range.first, d.seg.endId);
        const to = bigMin(end, d.end);
        if (from < to) d.covered.push({ first: from, count: Number(to - from) });
      }
    });
    const dropped = await settleDamages(dir, damages, onCorrupt, problems, log);
    if (replay.droppedBytes > 0 || dropped > 0) mustCompact = true;
    return {
      segments,
      ackLog: log,
      report: { truncatedBytes, droppedRecords: dropped, ackLogDroppedBytes: replay.droppedBytes, problems },
      mustCompact,
    };
  } catch (e) {
    await closeAll(segments);
    throw e;
  }
}

async function createFirstSegment(dir: string): Promise<Segment> {
  const seg = new Segment(1n);
  const path = join(dir, seg.name);
  try {
    seg.handle = await open(path, 'wx+');
    await seg.handle.write(encodeSegmentHeader(seg.firstId), 0, SEGMENT_HEADER_BYTES, 0);
    await seg.handle.sync();
  } catch (e) {
    throw ioError('create', path, e);
  }
  seg.created = true;
  return seg;
}

function coveredCount(ranges: AckRange[]): number {
  let n = 0;
  let end = -1n;
  for (const r of [...ranges].sort((a, b) => (a.first < b.first ? -1 : 1))) {
    const rEnd = r.first + BigInt(r.count);
    const from = r.first > end ? r.first : end;
    if (rEnd > from) n += Number(rEnd - from);
    if (rEnd > end) end = rEnd;
  }
  return n;
}

async function settleDamages(
  dir: string,
  damages: readonly Damage[],
  onCorrupt: CorruptionPolicy,
  problems: RecoveryProblem[],
  log: AckLog,
): Promise<number> {
  let dropped = 0;
  for (const d of damages) {
    const missing = Number(d.end - d.seg.endId);
    const lost = missing - coveredCount(d.covered);
    if (lost > 0 && onCorrupt === 'fail') {
      await log.close();
      throw new QueueError(
        'ERR_QUEUE_CORRUPT',
        `disk queue segment ${join(dir, d.seg.name)} is damaged at offset ${d.offset}: ${d.reason}; ` +
          `${lost} unacknowledged records (ids ${d.seg.endId} to ${d.end - 1n}) cannot be read. Restore the ` +
          `file from a backup, or open the queue with onCorrupt: 'skip' to drop them (meters resend what ` +
          'the MDC never acknowledged); check the disk',
        { file: d.seg.name, offset: d.offset, id: d.seg.endId },
      );
    }
    // Cut what cannot be read, so that the next open finds a clean, shorter segment whose missing ids
    // the ack log acknowledges (the caller compacts it, which records the gap).
    const damagedBytes = d.size - d.validBytes;
    if (damagedBytes > 0) await resetSegment(d.seg, d.validBytes, dir);
    d.seg.writtenBytes = Math.max(d.validBytes, SEGMENT_HEADER_BYTES);
    if (lost > 0 || damagedBytes > 0) {
      problems.push({ file: d.seg.name, offset: d.offset, reason: d.reason, lostRecords: lost });
      dropped += lost;
    }
  }
  return dropped;
}
