// The aggregator's durable store-and-forward queue: envelopes wait on disk while the MDC is
// unreachable and leave once acknowledged. Format: queue-format.ts. Recovery: queue-recovery.ts.
import { mkdir } from 'node:fs/promises';
import type { AckLog } from './queue-ack-log.ts';
import { CommitScheduler, type Waiter } from './queue-commit.ts';
import { ioError, QueueError } from './queue-errors.ts';
import {
  type AppendRun,
  createSegmentFile,
  deleteSegmentFile,
  syncDir,
  syncSegment,
  writeRuns,
} from './queue-files.ts';
import { type AckRange, encodeRecords, mergeAckRanges, RECORD_HEADER_BYTES } from './queue-format.ts';
import { acquireLock } from './queue-lock.ts';
import { type DiskQueueOptions, type ResolvedOptions, resolveOptions } from './queue-options.ts';
import { nextReadable, type QueueRecord, type ReadBudget, type ReadCursor, readRun } from './queue-reader.ts';
import { type RecoveryReport, recover } from './queue-recovery.ts';
import { ackIdRange, findSegment, Segment } from './queue-segment.ts';

export { isQueueError, QUEUE_ERROR_CODES, QueueError, type QueueErrorCode } from './queue-errors.ts';
export type { DiskQueueOptions, FsyncPolicy } from './queue-options.ts';
export type { QueueRecord } from './queue-reader.ts';
export type { CorruptionPolicy, RecoveryProblem, RecoveryReport } from './queue-recovery.ts';

interface Deferred extends Waiter {
  promise: Promise<void>;
}

function deferred(): Deferred {
  const d = {} as Deferred;
  d.promise = new Promise<void>((resolve, reject) => {
    d.resolve = resolve;
    d.reject = reject;
  });
  return d;
}

interface ReadWaiter extends Waiter {
  fromId: bigint;
}

/**
 * A disk-backed FIFO of opaque records with sequential bigint ids, acknowledged individually and in
 * any order. Records live in segment files (`<first id>.seg`, each record framed with its length and a
 * CRC-32 over length and data seeded by its id); acks in an append-only ack log, rewritten compactly
 * once it has grown. A segment is deleted once all its records are acked; the last segment is never
 * deleted but replaced by an empty one, so ids never repeat. One process per directory (lock file; a
 * dead owner's lock is taken over).
 *
 * Memory: an index per segment, never the records — per record one acked bit, per 64 records a 4-byte
 * offset and a 1-byte acked count: about 0.2 bytes per record (0.27 measured with growth slack), i.e.
 * about 4 MB for 4 GiB of 300-byte envelopes. Plus the records between an append and its group commit.
 *
 * Delivery is at least once: a record whose append resolved survives a crash (with 'always' or
 * 'interval'; 'never' survives a process crash, not a power loss); an ack is durable at the next group
 * commit, so a record acked just before a crash may be returned again.
 *
 * Damage, found when opening: a bad or cut record in the LAST segment is a torn write — it and what
 * follows are truncated (they were never reported durable). In an older segment, which was complete
 * on disk before a newer one was created, damage means the disk altered data: opening refuses with
 * ERR_QUEUE_CORRUPT naming file and offset, unless every record it spoils is already acked, or the
 * caller chose `onCorrupt: 'skip'` (the records are dropped and counted in `recovery`, and the ack log
 * records the drop so that later opens do not refuse again). Found when reading: ERR_QUEUE_CORRUPT
 * with the record's id. Refusing by default, because an operator should learn that a disk is failing;
 * dropping is safe end to end, since meters resend what the MDC never acknowledged.
 *
 * @example
 * const q = await DiskQueue.open('/var/lib/aggregator/queue');
 * const { first } = await q.append([envelope]);
 * for (const r of await q.read(q.firstUnacked() ?? q.nextId, 100)) { await send(r.data); q.ack(r.id); }
 * await q.close();
 */
export class DiskQueue {
  /** The queue's directory. */
  readonly dir: string;
  /** What opening found and repaired (torn tail, damaged segments, lost acks). */
  readonly recovery: RecoveryReport;
  #o: ResolvedOptions;
  #segments: Segment[];
  #retired: Segment[] = [];
  #ackLog: AckLog;
  #release: () => Promise<void>;
  #nextId: bigint;
  #diskBytes: number;
  #ops: AppendRun[] = [];
  #durable: Deferred | undefined;
  #acks: AckRange[] = [];
  #readWaiters = new Set<ReadWaiter>();
  #commits: CommitScheduler;
  #compactedSize = 0;
  #mustCompact: boolean;
  #failure: QueueError | undefined;
  #closing: Promise<void> | undefined;
  #reads = 0;
  #readsIdle: (() => void) | undefined;
  #cursor: ReadCursor | undefined;

  private constructor(
    dir: string,
    o: ResolvedOptions,
    r: Awaited<ReturnType<typeof recover>>,
    release: () => Promise<void>,
  ) {
    this.dir = dir;
    this.#o = o;
    this.#segments = r.segments;
    this.#ackLog = r.ackLog;
    this.recovery = r.report;
    this.#mustCompact = r.mustCompact;
    this.#release = release;
    this.#nextId = this.#last.endId;
    this.#diskBytes = r.segments.reduce((n, s) => n + s.bytes, 0);
    this.#commits = new CommitScheduler(
      { flushOnce: () => this.#flushOnce(), hasWork: () => this.#hasWork(), fail: (e) => this.#fail(e) },
      o.fsync === 'interval' ? o.fsyncIntervalMs : 0,
    );
  }

  /**
   * Opens (creating if needed) the queue in `dir`: takes the directory lock, checks every record,
   * truncates a torn tail of the last segment, replays the ack log, deletes fully acked segments.
   * Refuses with ERR_QUEUE_LOCKED (another live process), ERR_QUEUE_CORRUPT (a damaged older segment
   * with unacknowledged records, unless `onCorrupt: 'skip'`) or ERR_QUEUE_IO.
   */
  static async open(dir: string, options: DiskQueueOptions = {}): Promise<DiskQueue> {
    const o = resolveOptions(options);
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw ioError('create', dir, e);
    }
    const release = await acquireLock(dir);
    let r: Awaited<ReturnType<typeof recover>>;
    try {
      r = await recover(dir, o.onCorrupt);
    } catch (e) {
      await release();
      throw e;
    }
    const q = new DiskQueue(dir, o, r, release);
    for (const s of q.#segments.slice(0, -1)) if (s.acked === s.count) q.#retire(s);
    try {
      // Files recovery created or repaired must not vanish with the directory entry in a power loss.
      if (o.fsync !== 'never') await syncDir(dir);
      await q.#flushNow();
    } catch (e) {
      await q.close().catch(() => undefined);
      throw e;
    }
    return q;
  }

  /** Unacknowledged records. */
  get pending(): number {
    return this.#segments.reduce((n, s) => n + s.count - s.acked, 0);
  }

  /**
   * Payload bytes of unacknowledged records: exact while acks cover whole runs of 64 records (the
   * usual, in-order case); within a partly acked run of 64, each ack counts as the run's average.
   */
  get pendingBytes(): number {
    return this.#segments.reduce((n, s) => n + s.pendingBytes, 0);
  }

  /** Bytes of segment files (what maxBytes limits); acked records leave only with their whole segment. */
  get diskBytes(): number {
    return this.#diskBytes;
  }

  /** Bytes of memory held by the in-memory index (bitmaps and sparse offsets). */
  get indexBytes(): number {
    return this.#segments.reduce((n, s) => n + s.indexBytes, 0);
  }

  /** The id the next appended record gets. */
  get nextId(): bigint {
    return this.#nextId;
  }

  /** The smallest unacknowledged id, or undefined when every record is acked. */
  firstUnacked(): bigint | undefined {
    for (const s of this.#segments) {
      const i = s.firstUnacked();
      if (i >= 0) return s.firstId + BigInt(i);
    }
    return undefined;
  }

  /**
   * Appends `records` (at most maxRecordBytes each) with sequential ids and resolves, once they are
   * durable per the fsync policy, with the first and last id. The whole batch is refused when one
   * record is too large (ERR_QUEUE_RECORD_TOO_LARGE) or the queue would pass maxBytes (ERR_QUEUE_FULL).
   */
  async append(records: readonly Uint8Array[]): Promise<{ first: bigint; last: bigint }> {
    this.#usable();
    const total = this.#checkBatch(records);
    if (this.#diskBytes + total > this.#o.maxBytes)
      throw new QueueError(
        'ERR_QUEUE_FULL',
        `disk queue ${this.dir} is full: ${this.#diskBytes} bytes on disk, the batch needs ${total} more and ` +
          `maxBytes is ${this.#o.maxBytes} (${this.pending} records await acknowledgment, the oldest is id ` +
          `${this.firstUnacked()}); ack delivered records so that whole segments can be deleted, or raise maxBytes`,
      );
    const first = this.#nextId;
    let seg = this.#last;
    let start = 0;
    let bytes = 0;
    for (let k = 0; k <= records.length; k++) {
      const r = records[k];
      const size = r === undefined ? 0 : RECORD_HEADER_BYTES + r.length;
      if (r === undefined || (seg.count > 0 && seg.bytes + size > this.#o.maxSegmentBytes)) {
        // Close the run of records going to `seg` (at a rollover, or at the end of the batch).
        if (k > start) {
          const buf = encodeRecords(
            start === 0 && k === records.length ? records : records.slice(start, k),
            first + BigInt(start),
            bytes,
          );
          this.#ops.push({ seg, buf, count: k - start });
        }
        if (r === undefined) break;
        start = k;
        bytes = 0;
        seg = new Segment(first + BigInt(k));
        this.#segments.push(seg);
        this.#diskBytes += seg.bytes;
      }
      seg.add(r.length);
      bytes += size;
      this.#diskBytes += size;
    }
    this.#nextId = first + BigInt(records.length);
    // All appends of one group commit share one promise.
    this.#durable ??= deferred();
    const durable = this.#durable.promise;
    this.#schedule(false);
    await durable;
    return { first, last: first + BigInt(records.length - 1) };
  }

  /**
   * Reads up to `maxRecords` unacknowledged records with id >= `fromId`, in id order, from disk.
   * Stops before the record that would take the payload total past `maxBytes` (the first record is
   * always returned). Returns records written to the file, even before their group fsync. A record
   * that fails its CRC refuses with ERR_QUEUE_CORRUPT naming its id: ack it to skip it.
   */
  async read(
    fromId: bigint,
    maxRecords: number,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<QueueRecord[]> {
    this.#usable();
    if (typeof fromId !== 'bigint')
      throw new TypeError(`read(fromId): fromId is ${typeof fromId}, expected a bigint`);
    if (!Number.isSafeInteger(maxRecords) || maxRecords < 0)
      throw new TypeError(`read(): maxRecords is ${maxRecords}, expected a non-negative integer`);
    if (typeof maxBytes !== 'number' || !(maxBytes > 0))
      throw new TypeError(`read(): maxBytes is ${maxBytes}, expected a positive number`);
    const out: QueueRecord[] = [];
    const budget = { bytes: 0, maxRecords, maxBytes };
    this.#reads++;
    try {
      let at = this.#nextReadable(fromId);
      while (at !== undefined && out.length < maxRecords) {
        const next = await this.#readRun(at.seg, at.index, out, budget);
        if (next === undefined) break;
        at = this.#nextReadable(next);
      }
    } finally {
      if (--this.#reads === 0) this.#readsIdle?.();
    }
    return out;
  }

  /** Resolves once an unacknowledged record with id >= `fromId` can be read. */
  async waitForRecords(fromId: bigint, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.#usable();
    const { signal } = options;
    signal?.throwIfAborted();
    if (this.#nextReadable(fromId) !== undefined) return;
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        this.#readWaiters.delete(w);
        reject(signal?.reason);
      };
      const w: ReadWaiter = {
        fromId,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      this.#readWaiters.add(w);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Acknowledges record `id`: it is never returned again, also after a reopen (once the next group
   * commit has written the ack). Acks may come in any order; acking twice is harmless.
   */
  ack(id: bigint): void {
    this.#usable();
    this.#checkId('ack', id);
    const seg = findSegment(this.#segments, id);
    if (seg === undefined || !seg.ack(Number(id - seg.firstId))) return;
    const last = this.#acks[this.#acks.length - 1];
    if (last !== undefined && last.first + BigInt(last.count) === id) last.count++;
    else this.#acks.push({ first: id, count: 1 });
    if (seg.fullyAcked && seg !== this.#last) this.#retire(seg);
    this.#schedule(false);
  }

  /** Acknowledges every record with an id up to and including `id`. */
  ackThrough(id: bigint): void {
    this.#usable();
    this.#checkId('ackThrough', id);
    const from = this.firstUnacked();
    if (from === undefined || from > id) return;
    ackIdRange(this.#segments, from, id + 1n);
    this.#acks.push({ first: from, count: Number(id + 1n - from) });
    for (const s of this.#segments.slice(0, -1)) if (s.fullyAcked) this.#retire(s);
    this.#schedule(false);
  }

  /** Writes pending appends and acks now (fsync per the policy) and deletes fully acked segments. */
  async flush(): Promise<void> {
    this.#usable();
    await this.#flushNow();
  }

  /** Flushes, closes the files and releases the lock. Later calls refuse with ERR_QUEUE_CLOSED. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    const closed = this.#closedError();
    for (const w of this.#readWaiters) w.reject(closed);
    this.#readWaiters.clear();
    if (this.#reads > 0) await new Promise<void>((resolve) => (this.#readsIdle = resolve));
    for (let round = 0; round < 4 && this.#failure === undefined && this.#hasWork(); round++)
      await this.#flushNow().catch(() => undefined);
    await this.#commits.idle();
    this.#commits.stop(closed);
    await Promise.all(
      [...this.#segments, ...this.#retired].map((s) => s.handle?.close().catch(() => undefined)),
    );
    await this.#ackLog.close();
    await this.#release();
    if (this.#failure !== undefined) throw this.#failure;
  }

  get #last(): Segment {
    return this.#segments[this.#segments.length - 1]!;
  }

  #closedError(): QueueError {
    return new QueueError('ERR_QUEUE_CLOSED', `disk queue ${this.dir} is closed; open it again to use it`);
  }

  #usable(): void {
    if (this.#closing !== undefined) throw this.#closedError();
    if (this.#failure !== undefined) throw this.#failure;
  }

  #checkId(method: string, id: bigint): void {
    if (typeof id !== 'bigint') throw new TypeError(`${method}(id): id is ${typeof id}, expected a bigint`);
    if (id < 1n || id >= this.#nextId)
      throw new TypeError(
        `${method}(${id}): no record has that id; ids appended so far run from 1 to ${this.#nextId - 1n}`,
      );
  }

  #checkBatch(records: readonly Uint8Array[]): number {
    if (!Array.isArray(records) || records.length === 0)
      throw new TypeError('append(records): expected a non-empty array of Uint8Array records');
    let total = 0;
    for (let k = 0; k < records.length; k++) {
      const r: unknown = records[k];
      if (!(r instanceof Uint8Array))
        throw new TypeError(`append(records): record ${k} is ${typeof r}, expected a Uint8Array`);
      if (r.length > this.#o.maxRecordBytes)
        throw new QueueError(
          'ERR_QUEUE_RECORD_TOO_LARGE',
          `record ${k} of the batch is ${r.length} bytes, more than maxRecordBytes (${this.#o.maxRecordBytes}); ` +
            'split it, or open the queue with a larger maxRecordBytes',
        );
      total += RECORD_HEADER_BYTES + r.length;
    }
    return total;
  }

  #retire(seg: Segment): void {
    const i = this.#segments.indexOf(seg);
    if (i < 0) return;
    this.#segments.splice(i, 1);
    seg.retired = true;
    this.#retired.push(seg);
    this.#diskBytes -= seg.bytes;
    if (this.#cursor?.seg === seg) this.#cursor = undefined;
  }

  // --- reading ---------------------------------------------------------------------------------

  #nextReadable(fromId: bigint): { seg: Segment; index: number } | undefined {
    return nextReadable(this.#segments, fromId);
  }

  async #readRun(
    seg: Segment,
    index: number,
    out: QueueRecord[],
    budget: ReadBudget,
  ): Promise<bigint | undefined> {
    seg.readers++;
    try {
      const r = await readRun(this.dir, seg, index, out, budget, this.#cursor);
      if (!seg.retired) this.#cursor = r.cursor;
      return r.next;
    } finally {
      if (--seg.readers === 0 && seg.retired) this.#schedule(false);
    }
  }

  #wakeReaders(): void {
    for (const w of this.#readWaiters)
      if (this.#nextReadable(w.fromId) !== undefined) {
        this.#readWaiters.delete(w);
        w.resolve();
      }
  }

  // --- group commit ----------------------------------------------------------------------------

  #flushNow(): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return this.#commits.flushNow();
  }

  #schedule(urgent: boolean): void {
    this.#commits.schedule(urgent);
  }

  #hasWork(): boolean {
    return (
      this.#ops.length > 0 ||
      this.#acks.length > 0 ||
      this.#commits.waiting ||
      this.#retired.some((s) => s.readers === 0) ||
      this.#last.fullyAcked ||
      this.#compactDue()
    );
  }

  #compactDue(): boolean {
    const size = this.#ackLog.size;
    return this.#mustCompact || (size > this.#o.ackLogCompactBytes && size > 2 * this.#compactedSize);
  }

  #fail(e: unknown): QueueError {
    this.#failure ??= e instanceof QueueError ? e : ioError('write to', this.dir, e);
    const err = this.#failure;
    this.#commits.stop(err);
    for (const w of this.#readWaiters) w.reject(err);
    this.#readWaiters.clear();
    this.#durable?.reject(err);
    this.#durable = undefined;
    return err;
  }

  // One group commit: write the appended records, fsync, resolve their appends; write and fsync the
  // acks; then delete segments whose acks are now durable, rotate a fully acked last segment, compact.
  async #flushOnce(): Promise<void> {
    const deletable = this.#retired.filter((s) => s.readers === 0);
    const rotatable = this.#last.fullyAcked ? this.#last : undefined;
    const ops = this.#ops;
    const durable = this.#durable;
    const acks = this.#acks;
    this.#ops = [];
    this.#durable = undefined;
    this.#acks = [];
    try {
      await writeRuns(this.dir, ops, this.#o.fsync !== 'never', () => this.#wakeReaders());
    } catch (e) {
      const err = this.#fail(e);
      durable?.reject(err);
      throw err;
    }
    durable?.resolve();
    if (acks.length > 0) {
      await this.#ackLog.append(mergeAckRanges(acks));
      if (this.#o.fsync !== 'never') await this.#ackLog.sync();
    }
    await this.#maintain(deletable, rotatable);
  }

  async #maintain(deletable: readonly Segment[], rotatable: Segment | undefined): Promise<void> {
    const sync = this.#o.fsync !== 'never';
    const doomed = [...deletable];
    let dirChanged = false;
    const last = this.#last;
    if (last === rotatable && last.fullyAcked && last.writtenCount === last.count) {
      // Never delete the last segment: its name keeps nextId. Start an empty one, then drop it.
      const seg = new Segment(this.#nextId);
      this.#segments.push(seg);
      this.#diskBytes += seg.bytes;
      await createSegmentFile(this.dir, seg);
      if (sync) {
        await syncSegment(this.dir, seg);
        await syncDir(this.dir);
      }
      this.#retire(last);
      if (last.readers === 0) doomed.push(last);
    }
    for (const s of doomed) {
      await deleteSegmentFile(this.dir, s);
      this.#retired.splice(this.#retired.indexOf(s), 1);
      dirChanged = true;
    }
    if (this.#compactDue()) {
      await this.#ackLog.compact(this.#liveAckRanges(), sync);
      this.#compactedSize = this.#ackLog.size;
      this.#mustCompact = false;
      dirChanged = true;
    }
    if (dirChanged && sync) await syncDir(this.dir);
  }

  // Acked ids that still matter: acked records of live segments, and the id gaps between live
  // segments (deleted or damaged segments), which recovery needs to see acknowledged.
  #liveAckRanges(): AckRange[] {
    const ranges: AckRange[] = [];
    this.#segments.forEach((s, k) => {
      ranges.push(...s.ackedRanges());
      const next = this.#segments[k + 1];
      if (next !== undefined && s.endId < next.firstId)
        ranges.push({ first: s.endId, count: Number(next.firstId - s.endId) });
    });
    return mergeAckRanges(ranges);
  }
}
