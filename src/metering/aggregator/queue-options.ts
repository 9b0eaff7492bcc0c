import { RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES } from './queue-format.ts';
import type { CorruptionPolicy } from './queue-recovery.ts';

/**
 * When appends reach stable storage: 'always' — fsync before each append resolves (concurrent appends
 * share one fsync); 'interval' — appends resolve after the next group fsync, at most `fsyncIntervalMs`
 * later; 'never' — resolve once written to the OS (survives a process crash, not a power loss).
 */
export type FsyncPolicy = 'always' | 'interval' | 'never';

/** Options of {@link DiskQueue.open}. */
export interface DiskQueueOptions {
  /** A segment file is closed and a new one started past this size. Default 64 MiB. */
  maxSegmentBytes?: number;
  /** Bytes of segment files on disk; an append beyond refuses with ERR_QUEUE_FULL. Default 4 GiB. */
  maxBytes?: number;
  /** Default 'interval'. */
  fsync?: FsyncPolicy;
  /** Group-commit period of the 'interval' policy. Default 50 ms. */
  fsyncIntervalMs?: number;
  /** Longer records refuse with ERR_QUEUE_RECORD_TOO_LARGE. Default 64 KiB. */
  maxRecordBytes?: number;
  /** A damaged older segment: 'fail' (default) refuses to open, 'skip' drops its unreadable records. */
  onCorrupt?: CorruptionPolicy;
  /** The ack log is rewritten once past this size and twice its last compacted size. Default 1 MiB. */
  ackLogCompactBytes?: number;
}

/** Options with every default filled in. */
export type ResolvedOptions = Required<DiskQueueOptions>;

const MiB = 1 << 20;

function positiveInt(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
    throw new TypeError(
      `DiskQueue option ${name} is ${String(value)}, expected an integer from ${min} to ${max}`,
    );
  return value;
}

/** Checks `o` (TypeError naming the option) and fills in the defaults. */
export function resolveOptions(o: DiskQueueOptions): ResolvedOptions {
  const oneOf = <T extends string>(name: string, v: unknown, allowed: readonly T[], fallback: T): T => {
    if (v === undefined) return fallback;
    if (!allowed.includes(v as T))
      throw new TypeError(`DiskQueue option ${name} is ${String(v)}, expected one of ${allowed.join(', ')}`);
    return v as T;
  };
  const maxRecordBytes = positiveInt('maxRecordBytes', o.maxRecordBytes, 64 * 1024, 1, 256 * MiB);
  // Offsets in a segment are 32-bit: a segment may exceed maxSegmentBytes by one record.
  const maxSegmentLimit = 0xffffffff - maxRecordBytes - SEGMENT_HEADER_BYTES - RECORD_HEADER_BYTES;
  return {
    maxSegmentBytes: positiveInt('maxSegmentBytes', o.maxSegmentBytes, 64 * MiB, 64, maxSegmentLimit),
    maxBytes: positiveInt('maxBytes', o.maxBytes, 4096 * MiB, 64, Number.MAX_SAFE_INTEGER),
    fsync: oneOf('fsync', o.fsync, ['always', 'interval', 'never'], 'interval'),
    fsyncIntervalMs: positiveInt('fsyncIntervalMs', o.fsyncIntervalMs, 50, 0, 60_000),
    maxRecordBytes,
    onCorrupt: oneOf('onCorrupt', o.onCorrupt, ['fail', 'skip'], 'fail'),
    ackLogCompactBytes: positiveInt(
      'ackLogCompactBytes',
      o.ackLogCompactBytes,
      MiB,
      0,
      Number.MAX_SAFE_INTEGER,
    ),
  };
}
