import { type FileHandle, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ioError } from './queue-errors.ts';
import {
  ACK_ENTRY_BYTES,
  ACK_HEADER_BYTES,
  ACK_LOG_NAME,
  ACK_MAGIC,
  type AckRange,
  decodeAckEntry,
  encodeAckEntries,
} from './queue-format.ts';

/** What reading the ack log found. */
export interface AckLogReplay {
  /** Entries read. */
  entries: number;
  /** Bytes dropped after the first bad entry (a torn tail after a crash), or the whole bad file. */
  droppedBytes: number;
}

async function writeAll(fh: FileHandle, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) {
    const { bytesWritten } = await fh.write(data, done, data.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * The append-only log of acknowledged id ranges (`acks.log`). Appended at each group flush; replaced
 * by a compacted copy (temporary file, fsync, rename) once it has grown well past what is still live.
 */
export class AckLog {
  readonly path: string;
  #fh: FileHandle;
  #size: number;

  private constructor(dir: string, fh: FileHandle, size: number) {
    this.path = join(dir, ACK_LOG_NAME);
    this.#fh = fh;
    this.#size = size;
  }

  /** Bytes in the log file. */
  get size(): number {
    return this.#size;
  }

  /**
   * Opens (or creates) the log in `dir` and feeds every valid entry to `onRange`, in file order.
   * Stops at the first bad entry: what follows is dropped (reported in the result, not an error —
   * a lost ack only means a record is delivered again).
   */
  static async open(
    dir: string,
    onRange: (r: AckRange) => void,
  ): Promise<{ log: AckLog; replay: AckLogReplay }> {
    const path = join(dir, ACK_LOG_NAME);
    let fh: FileHandle;
    try {
      fh = await open(path, 'r+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('open', path, e);
      try {
        fh = await open(path, 'wx+');
        await writeAll(fh, ACK_MAGIC, 0);
        await fh.sync();
      } catch (e2) {
        throw ioError('create', path, e2);
      }
      return { log: new AckLog(dir, fh, ACK_HEADER_BYTES), replay: { entries: 0, droppedBytes: 0 } };
    }
    try {
      const size = (await fh.stat()).size;
      const header = Buffer.alloc(ACK_HEADER_BYTES);
      await fh.read(header, 0, Math.min(size, ACK_HEADER_BYTES), 0);
      if (size < ACK_HEADER_BYTES || !header.equals(ACK_MAGIC)) {
        await fh.truncate(0);
        await writeAll(fh, ACK_MAGIC, 0);
        return { log: new AckLog(dir, fh, ACK_HEADER_BYTES), replay: { entries: 0, droppedBytes: size } };
      }
      const { end, entries } = await AckLog.#replay(fh, size, onRange);
      if (end < size) await fh.truncate(end);
      return { log: new AckLog(dir, fh, end), replay: { entries, droppedBytes: size - end } };
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw ioError('read', path, e);
    }
  }

  static async #replay(fh: FileHandle, size: number, onRange: (r: AckRange) => void) {
    const buf = Buffer.allocUnsafe(ACK_ENTRY_BYTES * 65536);
    let pos = ACK_HEADER_BYTES;
    let entries = 0;
    while (size - pos >= ACK_ENTRY_BYTES) {
      const want = Math.min(buf.length, size - pos - ((size - pos) % ACK_ENTRY_BYTES));
      const { bytesRead } = await fh.read(buf, 0, want, pos);
      for (let at = 0; at + ACK_ENTRY_BYTES <= bytesRead; at += ACK_ENTRY_BYTES) {
        const r = decodeAckEntry(buf, at);
        if (r === undefined) return { end: pos + at, entries };
        onRange(r);
        entries++;
      }
      if (bytesRead < want) return { end: pos + bytesRead - (bytesRead % ACK_ENTRY_BYTES), entries };
      pos += want;
    }
    return { end: pos, entries };
  }

  /** Appends `ranges` (already merged) at the end of the log. */
  async append(ranges: readonly AckRange[]): Promise<void> {
    if (ranges.length === 0) return;
    const data = encodeAckEntries(ranges);
    try {
      await writeAll(this.#fh, data, this.#size);
    } catch (e) {
      throw ioError('append to', this.path, e);
    }
    this.#size += data.length;
  }

  /** Flushes the log to stable storage. */
  async sync(): Promise<void> {
    await this.#fh.sync().catch((e: unknown) => {
      throw ioError('fsync', this.path, e);
    });
  }

  /**
   * Replaces the log with one holding exactly `ranges`: written to a temporary file, synced when
   * `durable`, renamed over the log. The caller syncs the directory afterwards.
   */
  async compact(ranges: readonly AckRange[], durable: boolean): Promise<void> {
    const tmp = `${this.path}.tmp`;
    const data = Buffer.concat([ACK_MAGIC, encodeAckEntries(ranges)]);
    let fh: FileHandle | undefined;
    try {
      fh = await open(tmp, 'w+');
      await writeAll(fh, data, 0);
      if (durable) await fh.sync();
      await rename(tmp, this.path);
    } catch (e) {
      await fh?.close().catch(() => undefined);
      throw ioError('compact', this.path, e);
    }
    await this.#fh.close().catch(() => undefined);
    this.#fh = fh;
    this.#size = data.length;
  }

  /** Closes the file. */
  async close(): Promise<void> {
    await this.#fh.close().catch(() => undefined);
  }
}
