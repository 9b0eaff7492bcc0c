import assert from 'node:assert/strict';
import { open, readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, it, mock } from 'node:test';
import {
  DiskQueue,
  type DiskQueueOptions,
  isQueueError,
  type QueueErrorCode,
} from '../../src/metering/aggregator/disk-queue.ts';
import { prng } from '../support/prng.ts';
import { recordFor, startChild, tempDir } from './disk-queue-fixture.ts';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups) await c();
});

async function fresh(): Promise<string> {
  const t = await tempDir();
  cleanups.push(t.remove);
  return t.dir;
}

const refusedWith = (code: QueueErrorCode) => (e: unknown) => {
  assert.ok(isQueueError(e), `expected a QueueError, got ${String(e)}`);
  assert.equal(e.code, code);
  return true;
};

const FAST: DiskQueueOptions = { fsync: 'never' };
// 100-byte records take 108 bytes framed; a 1000-byte segment (16-byte header) holds 9 of them.
const SMALL: DiskQueueOptions = { fsync: 'never', maxSegmentBytes: 1000 };
const rec = (n: number, size = 100) => Buffer.alloc(size, n & 0xff);
const recs = (from: number, count: number, size = 100) =>
  Array.from({ length: count }, (_, k) => rec(from + k, size));
const ids = (records: readonly { id: bigint }[]) => records.map((r) => Number(r.id));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, k) => from + k);
const segmentFiles = async (dir: string) => (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();
const readAll = (q: DiskQueue) => q.read(0n, 1_000_000);

async function flipByte(file: string, offset: number): Promise<void> {
  const fh = await open(file, 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, offset);
  b[0]! ^= 0x5a;
  await fh.write(b, 0, 1, offset);
  await fh.close();
}

describe('DiskQueue', () => {
  it('gives sequential ids and reads records back in order until they are acked', async () => {
    const q = await DiskQueue.open(await fresh(), FAST);
    assert.equal(q.nextId, 1n);
    assert.equal(q.firstUnacked(), undefined);
    assert.deepEqual(await q.append([rec(1), rec(2, 10)]), { first: 1n, last: 2n });
    assert.deepEqual(await q.append([rec(3, 0)]), { first: 3n, last: 3n });
    assert.equal(q.pending, 3);
    assert.equal(q.pendingBytes, 110);
    const got = await q.read(1n, 10);
    assert.deepEqual(ids(got), [1, 2, 3]);
    assert.deepEqual(
      got.map((r) => r.data),
      [rec(1), rec(2, 10), rec(3, 0)],
    );
    q.ack(1n);
    assert.equal(q.firstUnacked(), 2n);
    assert.deepEqual(ids(await q.read(1n, 10)), [2, 3]);
    assert.deepEqual(ids(await q.read(3n, 10)), [3]);
    assert.deepEqual(ids(await q.read(2n, 1)), [2]);
    q.ack(2n);
    q.ack(2n); // twice is harmless
    q.ack(3n);
    assert.equal(q.pending, 0);
    assert.equal(q.pendingBytes, 0);
    assert.deepEqual(await q.read(1n, 10), []);
    await q.close();
  });

  it('honours out-of-order acks, fromId, maxRecords and maxBytes', async () => {
    const q = await DiskQueue.open(await fresh(), { fsync: 'never', maxSegmentBytes: 8192 });
    const r = prng(7);
    const sizes = Array.from({ length: 300 }, () => 1 + Math.floor(r() * 200));
    await q.append(sizes.map((s, k) => rec(k + 1, s)));
    const acked = new Set<number>();
    for (let id = 1; id <= 300; id++) if (r() < 0.5) acked.add(id);
    for (const id of [...acked].sort(() => r() - 0.5)) q.ack(BigInt(id));
    const left = range(1, 300).filter((id) => !acked.has(id));
    assert.equal(q.pending, left.length);
    assert.equal(q.firstUnacked(), BigInt(left[0]!));
    const all = await readAll(q);
    assert.deepEqual(ids(all), left);
    for (const x of all) assert.deepEqual(x.data, rec(Number(x.id), sizes[Number(x.id) - 1]));
    assert.deepEqual(
      ids(await q.read(150n, 1000)),
      left.filter((id) => id >= 150),
    );
    assert.deepEqual(ids(await q.read(150n, 7)), left.filter((id) => id >= 150).slice(0, 7));
    // maxBytes: stop before the record that would pass it; the first record always comes.
    const byBytes = await q.read(1n, 1000, 500);
    let total = 0;
    const expect: number[] = [];
    for (const id of left) {
      const s = sizes[id - 1]!;
      if (expect.length > 0 && total + s > 500) break;
      expect.push(id);
      total += s;
    }
    assert.deepEqual(ids(byBytes), expect);
    assert.deepEqual(ids(await q.read(1n, 10, 1)), [left[0]]);
    // pendingBytes is proportional within partly acked runs of 64: within a record of the truth.
    const exact = left.reduce((n, id) => n + sizes[id - 1]!, 0);
    assert.ok(Math.abs(q.pendingBytes - exact) <= 200 * 5, `${q.pendingBytes} vs ${exact}`);
    await q.close();
  });

  it('skips long acked runs and reads records larger than one read chunk', async () => {
    const q = await DiskQueue.open(await fresh(), FAST);
    await q.append(recs(1, 500, 30));
    q.ackThrough(400n);
    q.ack(1n); // already acked by ackThrough: harmless
    q.ack(450n);
    assert.deepEqual(
      ids(await q.read(1n, 1000)),
      range(401, 500).filter((id) => id !== 450),
    );
    assert.equal(q.pendingBytes, 99 * 30);
    const big = [Buffer.alloc(50_000, 1), Buffer.alloc(65_536, 2), Buffer.alloc(20_000, 3)];
    await q.append(big);
    const got = await q.read(501n, 10);
    assert.deepEqual(
      got.map((x) => x.data),
      big,
    );
    await q.close();
  });

  it('keeps unacked records and forgets acked ones across a reopen', async () => {
    const dir = await fresh();
    let q = await DiskQueue.open(dir, SMALL);
    await q.append(recs(1, 50));
    const r = prng(11);
    const acked = range(1, 50).filter(() => r() < 0.4);
    for (const id of acked) q.ack(BigInt(id));
    const left = range(1, 50).filter((id) => !acked.includes(id));
    await q.close(); // the acks were not flushed yet: close writes them
    q = await DiskQueue.open(dir, SMALL);
    assert.deepEqual(q.recovery, {
      truncatedBytes: 0,
      droppedRecords: 0,
      ackLogDroppedBytes: 0,
      problems: [],
    });
    assert.equal(q.nextId, 51n);
    assert.equal(q.pending, left.length);
    const all = await readAll(q);
    assert.deepEqual(ids(all), left);
    for (const x of all) assert.deepEqual(x.data, rec(Number(x.id)));
    assert.deepEqual(await q.append([rec(51)]), { first: 51n, last: 51n });
    await q.close();
  });

  it('rolls segments over and deletes each one once all its records are acked', async () => {
    const dir = await fresh();
    let q = await DiskQueue.open(dir, SMALL);
    await q.append(recs(1, 40));
    assert.deepEqual(
      await segmentFiles(dir),
      ['1', '10', '19', '28', '37'].map((n) => `${n.padStart(20, '0')}.seg`),
    );
    const before = q.diskBytes;
    for (let id = 1n; id <= 9n; id++) q.ack(id);
    for (let id = 27n; id >= 19n; id--) q.ack(id); // the third segment, out of order
    assert.equal(q.diskBytes, before - 2 * 988);
    await q.flush();
    assert.deepEqual(
      await segmentFiles(dir),
      ['10', '28', '37'].map((n) => `${n.padStart(20, '0')}.seg`),
    );
    await q.close();
    q = await DiskQueue.open(dir, SMALL);
    assert.deepEqual(ids(await readAll(q)), [...range(10, 18), ...range(28, 40)]);
    q.ackThrough(40n);
    await q.flush();
    // The last segment is replaced by an empty one named after nextId, so that ids never repeat.
    assert.deepEqual(await segmentFiles(dir), ['00000000000000000041.seg']);
    assert.equal((await stat(join(dir, 'acks.log'))).size <= 8 + 16 * 4, true);
    await q.close();
    q = await DiskQueue.open(dir, SMALL);
    assert.equal(q.nextId, 41n);
    assert.equal(q.pending, 0);
    await q.close();
  });

  it('compacts the ack log and keeps the same acks', async () => {
    const dir = await fresh();
    let q = await DiskQueue.open(dir, { ...SMALL, ackLogCompactBytes: 512 });
    await q.append(recs(1, 400, 20));
    for (let id = 1n; id <= 100n; id++) {
      q.ack(id);
      await q.flush(); // one 16-byte entry per flush: 1,600 bytes without compaction
    }
    assert.ok((await stat(join(dir, 'acks.log'))).size <= 512 + 16, 'the ack log was compacted');
    const r = prng(3);
    const acked = new Set(range(1, 100));
    for (let round = 0; round < 10; round++) {
      for (let k = 0; k < 10; k++) {
        const id = 101 + Math.floor(r() * 300);
        acked.add(id);
        q.ack(BigInt(id));
      }
      await q.flush();
    }
    await q.close();
    q = await DiskQueue.open(dir, SMALL);
    assert.deepEqual(
      ids(await readAll(q)),
      range(1, 400).filter((id) => !acked.has(id)),
    );
    await q.close();
  });

  it("resolves appends with 'interval' fsync only at the group commit, all of them together", async () => {
    const q = await DiskQueue.open(await fresh(), { fsync: 'interval', fsyncIntervalMs: 50 });
    mock.timers.enable({ apis: ['setTimeout'] });
    try {
      const resolved: bigint[] = [];
      const appends = [1, 2, 3].map((n) => q.append([rec(n)]).then((r) => resolved.push(r.first)));
      for (let k = 0; k < 20; k++) await new Promise((r) => setImmediate(r)); // real I/O turns pass
      assert.deepEqual(resolved, []);
      mock.timers.tick(50);
      await Promise.all(appends);
      assert.deepEqual(resolved, [1n, 2n, 3n]);
    } finally {
      mock.timers.reset();
    }
    await q.close();
  });

  it('drops a torn ack log tail and delivers those records again', async () => {
    const dir = await fresh();
    let q = await DiskQueue.open(dir, FAST);
    await q.append(recs(1, 10));
    q.ack(2n);
    await q.flush();
    q.ack(5n);
    await q.close();
    const log = join(dir, 'acks.log');
    await truncate(log, (await stat(log)).size - 3); // the entry for id 5 is cut
    q = await DiskQueue.open(dir, FAST);
    assert.equal(q.recovery.ackLogDroppedBytes, 13);
    assert.deepEqual(ids(await readAll(q)), [1, ...range(3, 10)]);
    await q.close();
    assert.equal((await stat(log)).size, 8 + 16); // rewritten: one entry
  });

  it('cuts a torn tail off the last segment and keeps the intact prefix', async () => {
    const dir = await fresh();
    let q = await DiskQueue.open(dir, FAST);
    await q.append(recs(1, 20));
    await q.close();
    const file = join(dir, '00000000000000000001.seg');
    assert.equal((await stat(file)).size, 16 + 20 * 108);
    await truncate(file, 16 + 20 * 108 - 50); // the 20th record is cut in the middle
    q = await DiskQueue.open(dir, FAST);
    assert.equal(q.recovery.truncatedBytes, 58);
    assert.equal(q.recovery.problems[0]?.offset, 16 + 19 * 108);
    assert.equal(q.nextId, 20n);
    assert.deepEqual(ids(await readAll(q)), range(1, 19));
    await q.close();
    // Garbage after the intact records (a torn header, random bytes) goes as well.
    const garbage = Buffer.from('garbage after the last record');
    await writeFile(file, garbage, { flag: 'a' });
    q = await DiskQueue.open(dir, FAST);
    assert.equal(q.recovery.truncatedBytes, garbage.length);
    assert.deepEqual(await q.append([rec(20)]), { first: 20n, last: 20n });
    assert.deepEqual(ids(await readAll(q)), range(1, 20));
    await q.close();
    q = await DiskQueue.open(dir, FAST);
    assert.deepEqual(q.recovery.problems, []);
    assert.equal(q.pending, 20);
    await q.close();
  });

  it('truncates the last segment from a record that fails its CRC', async () => {
    const dir = await fresh();
    let q = await DiskQueue.open(dir, FAST);
    await q.append(recs(1, 10));
    await q.close();
    await flipByte(join(dir, '00000000000000000001.seg'), 16 + 6 * 108 + 8 + 50); // data of record 7
    q = await DiskQueue.open(dir, FAST);
    assert.match(q.recovery.problems[0]?.reason ?? '', /CRC mismatch in record 7/);
    assert.equal(q.nextId, 7n);
    assert.deepEqual(ids(await readAll(q)), range(1, 6));
    await q.close();
  });

  it('refuses to open over a CRC error in an older segment, or drops its records with onCorrupt skip', async () => {
    const dir = await fresh();
    let q = await DiskQueue.open(dir, SMALL);
    await q.append(recs(1, 40));
    await q.close();
    const offset = 16 + 2 * 108; // record 12, the third of segment 10
    await flipByte(join(dir, '00000000000000000010.seg'), offset + 8 + 3);
    await assert.rejects(DiskQueue.open(dir, SMALL), (e: unknown) => {
      refusedWith('ERR_QUEUE_CORRUPT')(e);
      assert.ok(isQueueError(e));
      assert.deepEqual(e.detail, { file: '00000000000000000010.seg', offset, id: 12n });
      assert.match(
        e.message,
        /00000000000000000010\.seg is damaged at offset 232: CRC mismatch in record 12/,
      );
      assert.match(e.message, /7 unacknowledged records \(ids 12 to 18\).*onCorrupt: 'skip'/);
      return true;
    });
    q = await DiskQueue.open(dir, { ...SMALL, onCorrupt: 'skip' }); // the failed open left no lock
    assert.equal(q.recovery.droppedRecords, 7);
    assert.deepEqual(q.recovery.problems, [
      {
        file: '00000000000000000010.seg',
        offset,
        reason: 'CRC mismatch in record 12 (100 bytes)',
        lostRecords: 7,
      },
    ]);
    assert.equal(q.pending, 33);
    assert.deepEqual(ids(await readAll(q)), [...range(1, 11), ...range(19, 40)]);
    await q.close();
    q = await DiskQueue.open(dir, SMALL); // the drop is recorded: the default policy opens again
    assert.deepEqual(q.recovery.problems, []);
    assert.deepEqual(ids(await readAll(q)), [...range(1, 11), ...range(19, 40)]);
    await q.close();
  });

  it('opens over damage in an older segment when every record it spoils is already acked', async () => {
    const dir = await fresh();
    let q = await DiskQueue.open(dir, SMALL);
    await q.append(recs(1, 40));
    for (let id = 12n; id <= 18n; id++) q.ack(id);
    await q.close();
    await flipByte(join(dir, '00000000000000000010.seg'), 16 + 2 * 108 + 8);
    q = await DiskQueue.open(dir, SMALL);
    assert.equal(q.recovery.droppedRecords, 0);
    assert.equal(q.recovery.problems[0]?.lostRecords, 0);
    assert.deepEqual(ids(await readAll(q)), [...range(1, 11), ...range(19, 40)]);
    await q.close();
  });

  it('reports a record damaged after opening with its id, and reads past it once acked', async () => {
    const dir = await fresh();
    const q = await DiskQueue.open(dir, SMALL);
    await q.append(recs(1, 20));
    await flipByte(join(dir, '00000000000000000010.seg'), 16 + 108 + 8 + 99); // record 11
    await assert.rejects(q.read(1n, 100), (e: unknown) => {
      refusedWith('ERR_QUEUE_CORRUPT')(e);
      assert.ok(isQueueError(e));
      assert.equal(e.detail.id, 11n);
      assert.match(e.message, /record 11.*Ack that id to skip/);
      return true;
    });
    q.ack(11n);
    assert.deepEqual(
      ids(await q.read(1n, 100)),
      range(1, 20).filter((id) => id !== 11),
    );
    await q.close();
  });

  it('refuses appends past maxBytes, and accepts them again once a segment is acked', async () => {
    // 500-byte segments hold 4 records (16 + 4·108 = 448 bytes): 4 segments fit in 2000 bytes.
    const q = await DiskQueue.open(await fresh(), { fsync: 'never', maxSegmentBytes: 500, maxBytes: 2000 });
    let n = 0;
    for (; n < 100; n++) {
      try {
        await q.append([rec(n + 1)]);
      } catch (e) {
        refusedWith('ERR_QUEUE_FULL')(e);
        assert.match(String(e), /maxBytes is 2000 .*ack delivered records/);
        break;
      }
    }
    assert.equal(n, 17); // 4 full segments and one record in a fifth: 1792 + 124 + 108 > 2000
    assert.equal(q.nextId, 18n);
    await assert.rejects(q.append([rec(0)]), refusedWith('ERR_QUEUE_FULL'));
    q.ack(5n); // a part of a segment frees nothing
    await assert.rejects(q.append([rec(0)]), refusedWith('ERR_QUEUE_FULL'));
    for (let id = 1n; id <= 4n; id++) q.ack(id);
    assert.deepEqual(await q.append([rec(18)]), { first: 18n, last: 18n });
    await q.close();
  });

  it('refuses records over maxRecordBytes, misuse, and calls after close', async () => {
    const q = await DiskQueue.open(await fresh(), { ...FAST, maxRecordBytes: 100 });
    await assert.rejects(q.append([rec(1), rec(2, 101)]), (e: unknown) => {
      refusedWith('ERR_QUEUE_RECORD_TOO_LARGE')(e);
      assert.match(String(e), /record 1 of the batch is 101 bytes, more than maxRecordBytes \(100\)/);
      return true;
    });
    assert.equal(q.nextId, 1n); // the whole batch was refused
    await assert.rejects(q.append([]), TypeError);
    await assert.rejects(q.append(['text' as unknown as Uint8Array]), TypeError);
    await q.append([rec(1)]);
    assert.throws(() => q.ack(2n), TypeError);
    assert.throws(() => q.ack(1 as unknown as bigint), TypeError);
    await assert.rejects(q.read(1n, -1), TypeError);
    await assert.rejects(DiskQueue.open(await fresh(), { fsync: 'sometimes' as 'never' }), TypeError);
    await q.close();
    await q.close(); // idempotent
    await assert.rejects(q.append([rec(1)]), refusedWith('ERR_QUEUE_CLOSED'));
    await assert.rejects(q.read(1n, 1), refusedWith('ERR_QUEUE_CLOSED'));
    assert.throws(() => q.ack(1n), refusedWith('ERR_QUEUE_CLOSED'));
    await assert.rejects(q.flush(), refusedWith('ERR_QUEUE_CLOSED'));
  });

  it('wakes a reader waiting for records when an append is written, and honours abort', async () => {
    const q = await DiskQueue.open(await fresh(), { fsync: 'interval', fsyncIntervalMs: 5 });
    const waiting = q.waitForRecords(1n);
    await q.append([rec(1)]);
    await waiting;
    const ac = new AbortController();
    const aborted = q.waitForRecords(2n, { signal: ac.signal });
    ac.abort();
    await assert.rejects(aborted, { name: 'AbortError' });
    const closing = assert.rejects(q.waitForRecords(2n), refusedWith('ERR_QUEUE_CLOSED'));
    await q.close();
    await closing;
  });

  it('refuses a second open of the same directory in the same process', async () => {
    const dir = await fresh();
    const q = await DiskQueue.open(dir, FAST);
    await assert.rejects(DiskQueue.open(dir, FAST), (e: unknown) => {
      refusedWith('ERR_QUEUE_LOCKED')(e);
      assert.match(String(e), new RegExp(`process ${process.pid} \\(this process\\)`));
      return true;
    });
    await q.close();
    await (await DiskQueue.open(dir, FAST)).close();
  });

  it('refuses a directory another live process holds, and takes the lock over once it died', async () => {
    const dir = await fresh();
    const child = startChild('hold', dir);
    try {
      await child.until((l) => l.includes('ready'));
      await assert.rejects(DiskQueue.open(dir, FAST), (e: unknown) => {
        refusedWith('ERR_QUEUE_LOCKED')(e);
        assert.match(String(e), new RegExp(`locked by process ${child.pid} on .*stop the other process`));
        return true;
      });
    } finally {
      await child.kill(); // SIGKILL: the lock file stays behind, naming a dead pid
    }
    assert.match(await readFile(join(dir, 'lock'), 'utf8'), new RegExp(`"pid":${child.pid}`));
    const q = await DiskQueue.open(dir, FAST);
    assert.match(await readFile(join(dir, 'lock'), 'utf8'), new RegExp(`"pid":${process.pid}`));
    await q.close();
    await assert.rejects(stat(join(dir, 'lock')), { code: 'ENOENT' }); // close releases it
  });

  it('after a SIGKILL mid-append, keeps every record whose append had resolved (fsync always)', async () => {
    const dir = await fresh();
    const child = startChild('crash', dir);
    try {
      await child.until((l) => l.length > 150);
    } finally {
      await child.kill();
    }
    const resolved = child.lines.filter((l) => l !== 'ready').map((l) => l.split(' ').map(BigInt));
    let lastResolved = 0n;
    for (const [, last] of resolved) if (last! > lastResolved) lastResolved = last!;
    const q = await DiskQueue.open(dir, FAST);
    assert.ok(q.nextId > lastResolved, `nextId ${q.nextId} must pass the last resolved id ${lastResolved}`);
    const all = await readAll(q);
    // Ids are contiguous from 1, every resolved id is there, and every record holds what was appended.
    assert.deepEqual(ids(all), range(1, Number(q.nextId) - 1));
    for (const x of all) assert.deepEqual(x.data, recordFor(x.id), `record ${x.id}`);
    await q.close();
  });
});
