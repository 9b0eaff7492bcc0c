import { type FileHandle, open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { ioError } from './queue-errors.ts';
import { encodeSegmentHeader, SEGMENT_HEADER_BYTES } from './queue-format.ts';
import type { Segment } from './queue-segment.ts';

/** Framed records waiting to be appended to a segment. */
export interface AppendRun {
  seg: Segment;
  buf: Buffer;
  count: number;
}

async function writeBuffers(fh: FileHandle, bufs: Buffer[], position: number): Promise<number> {
  const all = bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs);
  let done = 0;
  while (done < all.length) {
    const { bytesWritten } = await fh.write(all, done, all.length - done, position + done);
    done += bytesWritten;
  }
  return all.length;
}

/** Creates the file of `seg` (it must not exist) and writes its header. */
export async function createSegmentFile(dir: string, seg: Segment): Promise<void> {
  const path = join(dir, seg.name);
  try {
    seg.handle = await open(path, 'wx+');
    await seg.handle.write(encodeSegmentHeader(seg.firstId), 0, SEGMENT_HEADER_BYTES, 0);
  } catch (e) {
    throw ioError('create', path, e);
  }
  seg.created = true;
}

/** Flushes the file of `seg` to stable storage. */
export async function syncSegment(dir: string, seg: Segment): Promise<void> {
  try {
    await seg.handle?.sync();
  } catch (e) {
    throw ioError('fsync', join(dir, seg.name), e);
  }
}

/** Flushes the directory itself, so that files created, renamed or deleted stay so. */
export async function syncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch (e) {
    // Some file systems cannot fsync a directory; their entries are durable by other means.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw ioError('fsync', dir, e);
  } finally {
    await fh?.close().catch(() => undefined);
  }
}

/** Closes and deletes the file of `seg`. */
export async function deleteSegmentFile(dir: string, seg: Segment): Promise<void> {
  const path = join(dir, seg.name);
  await seg.handle?.close().catch(() => undefined);
  seg.handle = undefined;
  await unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw ioError('delete', path, e);
  });
}

/**
 * Writes `runs` in order, one write per run of the same segment, creating new segments' files; with
 * `sync`, fsyncs every file written and, when files were created, the directory. Calls `onWritten`
 * once the bytes are in the files (before the fsync: readers may see them).
 */
export async function writeRuns(
  dir: string,
  runs: readonly AppendRun[],
  sync: boolean,
  onWritten: () => void,
): Promise<void> {
  const unsynced: Segment[] = [];
  let created = false;
  for (let i = 0; i < runs.length; ) {
    const seg = runs[i]!.seg;
    const bufs: Buffer[] = [];
    let count = 0;
    for (; i < runs.length && runs[i]!.seg === seg; i++) {
      bufs.push(runs[i]!.buf);
      count += runs[i]!.count;
    }
    if (!seg.created) {
      // An older segment must be complete on disk before a newer one exists: recovery treats a
      // short older segment as damage, and only the last one as a torn tail.
      if (sync) for (const s of unsynced.splice(0)) await syncSegment(dir, s);
      await createSegmentFile(dir, seg);
      created = true;
    }
    try {
      seg.writtenBytes += await writeBuffers(seg.handle!, bufs, seg.writtenBytes);
    } catch (e) {
      throw ioError('append to', join(dir, seg.name), e);
    }
    seg.writtenCount += count;
    if (!unsynced.includes(seg)) unsynced.push(seg);
  }
  if (runs.length > 0) onWritten();
  if (!sync) return;
  for (const s of unsynced) await syncSegment(dir, s);
  if (created) await syncDir(dir);
}
