import { randomBytes } from 'node:crypto';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { ioError, QueueError } from './queue-errors.ts';
import { LOCK_NAME } from './queue-format.ts';

interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by another user
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockOwner>;
    if (typeof v.pid === 'number' && Number.isInteger(v.pid) && v.pid > 0 && typeof v.host === 'string')
      return { pid: v.pid, host: v.host, since: String(v.since) };
  } catch {
    // not JSON: reported below as a lock we cannot judge
  }
  return undefined;
}

function lockedError(dir: string, file: string, owner: LockOwner | undefined): QueueError {
  const who =
    owner === undefined
      ? 'an unreadable lock file'
      : `process ${owner.pid}${owner.pid === process.pid ? ' (this process)' : ''} on ${owner.host} since ${owner.since}`;
  return new QueueError(
    'ERR_QUEUE_LOCKED',
    `disk queue ${dir} is locked by ${who} (file ${file}); two writers would corrupt the queue: stop the ` +
      `other process or close the other DiskQueue first; if no queue process runs there, delete ${file}`,
    { file },
  );
}

/**
 * Takes the lock file of queue directory `dir`: created atomically (write a temporary file, then
 * hard-link it), holding this process's pid and host. A lock whose pid is dead on this host is stale
 * and taken over (atomic rename). Returns the release function.
 */
export async function acquireLock(dir: string): Promise<() => Promise<void>> {
  const file = join(dir, LOCK_NAME);
  const content = `${JSON.stringify({ pid: process.pid, host: hostname(), since: new Date().toISOString() })}\n`;
  const tmp = join(dir, `${LOCK_NAME}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, content, { flag: 'wx' });
    for (let attempt = 0; ; attempt++) {
      try {
        await link(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const text = await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT' && attempt < 3) return undefined; // released meanwhile: try again
        throw e;
      });
      if (text === undefined) continue;
      const owner = parseOwner(text);
      if (owner === undefined || owner.host !== hostname() || isAlive(owner.pid))
        throw lockedError(dir, file, owner);
      // Stale: its process is gone. Two processes taking over the same stale lock in the same
      // instant could both succeed; the re-read below narrows that window to the rename itself.
      await rename(tmp, file);
      if ((await readFile(file, 'utf8')) !== content) throw lockedError(dir, file, undefined);
      break;
    }
  } catch (e) {
    if (e instanceof QueueError) throw e;
    throw ioError('take the lock', file, e);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  return async () => {
    const now = await readFile(file, 'utf8').catch(() => undefined);
    if (now === content) await unlink(file).catch(() => undefined);
  };
}
