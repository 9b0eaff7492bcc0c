/**
 * The write buffer beyond the engine contract (engines.test.ts runs that on it): replay of the
 * log after a crash, folding by size, by idle time and on close, reserved keys.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKeyring } from '../../src/kvs/keyring.ts';
import { createLmdbEngine } from '../../src/kvs/lmdb-engine.ts';
import { createSecureStore } from '../../src/kvs/secure-store.ts';
import type { StorageEngine } from '../../src/kvs/types.ts';
import { createWriteBuffer, type WriteBufferOptions } from '../../src/kvs/write-buffer.ts';

const key = randomBytes(32);
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function openStack(path: string, o: WriteBufferOptions = {}) {
  const lmdb = await createLmdbEngine({ path });
  const secure = createSecureStore(lmdb, createKeyring({ keys: [{ id: 1, key }] }), { namespace: 't' });
  const buffer = await createWriteBuffer(secure, { idleFoldMs: 0, ...o });
  return { lmdb, secure, buffer };
}

const k = (meter: number, ts: number) => Buffer.from(`r|${String(meter).padStart(4, '0')}|${ts}`);
const v = (n: number) => Buffer.alloc(64, n % 251);

async function all(engine: StorageEngine, range = {}): Promise<string[]> {
  const out: string[] = [];
  for await (const e of engine.scan(range)) out.push(`${Buffer.from(e.key).toString()}=${e.value[0]}`);
  return out;
}

describe('write buffer', () => {
  it('replays its log after a crash: every acknowledged batch is there, in order', async () => {
    const path = await mkdtemp(join(tmpdir(), 'wbuf-'));
    dirs.push(path);
    const first = await openStack(path);
    for (let round = 0; round < 3; round++) {
      const ops = [];
      for (let m = 0; m < 50; m++) ops.push({ type: 'put' as const, key: k(m, round), value: v(m + round) });
      await first.buffer.batch(ops);
    }
    await first.buffer.delete(k(7, 1));
    await first.buffer.put(k(8, 1), v(200));
    assert.equal(first.buffer.stats().logRecords, 5);
    // A crash: the engine goes away without the buffer folding.
    await first.lmdb.close();
    const second = await openStack(path);
    assert.equal(second.buffer.stats().bufferedKeys, 150);
    assert.equal(await second.buffer.get(k(7, 1)), undefined);
    assert.deepEqual(await second.buffer.get(k(8, 1)), v(200));
    const before = await all(second.buffer);
    assert.equal(before.length, 149);
    // Nothing is in the store itself yet (outside the reserved log range).
    assert.deepEqual(await all(second.secure, { end: Buffer.from([0xff, 0xff, 0xff, 0xff]) }), []);
    await second.buffer.fold();
    assert.equal(second.buffer.stats().logRecords, 0);
    assert.deepEqual(await all(second.secure), before, 'folded into the store, log records gone');
    await second.buffer.close();
  });

  it('seals each log record once: appending a record does not rewrite the one before (blocks layout)', async () => {
    const path = await mkdtemp(join(tmpdir(), 'wbuf-'));
    dirs.push(path);
    const { lmdb, buffer } = await openStack(path, { maxBytes: 64 * 1024 * 1024 });
    // Bytes the secure store hands the engine below, per batch of the buffer.
    let written = 0;
    const batch = lmdb.batch.bind(lmdb);
    lmdb.batch = (ops, o) => {
      for (const op of ops) if (op.type === 'put') written += op.value.length;
      return batch(ops, o);
    };
    const perRecord: number[] = [];
    for (let round = 0; round < 4; round++) {
      const ops = [];
      for (let m = 0; m < 200; m++) ops.push({ type: 'put' as const, key: k(m, round), value: v(m) });
      written = 0;
      await buffer.batch(ops);
      perRecord.push(written);
    }
    const recordBytes = 200 * (64 + k(0, 0).length);
    // Each write seals its own record (and small end marks), never the previous record again.
    for (const bytes of perRecord) {
      assert.ok(
        bytes > recordBytes && bytes < 1.2 * recordBytes,
        `${bytes} bytes written for a ${recordBytes}-byte record`,
      );
    }
    // The marks are not records: the log replays as written.
    await lmdb.close();
    const again = await openStack(path);
    assert.equal(again.buffer.stats().logRecords, 4);
    assert.equal(again.buffer.stats().bufferedKeys, 800);
    await again.buffer.fold();
    assert.equal(again.buffer.stats().logRecords, 0);
    // Folded: the records and their marks deleted, only the rows left.
    assert.equal((await all(again.secure)).length, 800);
    await again.buffer.close();
  });

  it('folds when the buffer passes maxBytes, after idle time, and on close', async () => {
    const path = await mkdtemp(join(tmpdir(), 'wbuf-'));
    dirs.push(path);
    const s = await openStack(path, { maxBytes: 2000, idleFoldMs: 50 });
    await s.buffer.batch([{ type: 'put', key: k(1, 1), value: v(1) }]);
    assert.equal(s.buffer.stats().folds, 0);
    const big = [];
    for (let m = 0; m < 40; m++) big.push({ type: 'put' as const, key: k(m, 2), value: v(m) });
    await s.buffer.batch(big);
    assert.equal(s.buffer.stats().folding, true, 'over maxBytes: a fold started');
    await s.buffer.settled();
    assert.equal(s.buffer.stats().folds, 1);
    assert.equal(s.buffer.stats().bufferedKeys, 0);
    await s.buffer.put(k(2, 3), v(3));
    await sleep(300);
    assert.equal(s.buffer.stats().folds, 2, 'folded after 50 ms without writes');
    await s.buffer.put(k(3, 3), v(4));
    assert.deepEqual(s.buffer.stats().foldsBy, { size: 1, idle: 1, call: 0 });
    await s.buffer.close();
    const again = await openStack(path);
    assert.equal(again.buffer.stats().logRecords, 0, 'close folded the rest');
    assert.deepEqual(await again.secure.get(k(3, 3)), v(4));
    await again.buffer.close();
  });

  it('does not take a blocked event loop for idle time: a late idle timer waits a whole period again', async () => {
    const path = await mkdtemp(join(tmpdir(), 'wbuf-'));
    dirs.push(path);
    const s = await openStack(path, { maxBytes: 1 << 30, idleFoldMs: 100 });
    await s.buffer.put(k(1, 1), v(1));
    const until = performance.now() + 250;
    while (performance.now() < until) {
      // a long synchronous task: the idle timer comes due meanwhile
    }
    await sleep(30);
    assert.equal(s.buffer.stats().folds, 0, 'the timer fired 150 ms late: rescheduled, no fold');
    await sleep(300);
    assert.deepEqual(s.buffer.stats().foldsBy, { size: 0, idle: 1, call: 0 }, 'folded after a real pause');
    await s.buffer.close();
  });

  it('refuses keys in the reserved range with ERR_KVS_LIMIT', async () => {
    const path = await mkdtemp(join(tmpdir(), 'wbuf-'));
    dirs.push(path);
    const s = await openStack(path);
    const reserved = Buffer.from([0xff, 0xff, 0xff, 0xff, 1]);
    await assert.rejects(s.buffer.put(reserved, v(1)), { code: 'ERR_KVS_LIMIT' });
    await assert.rejects(s.buffer.get(reserved), { code: 'ERR_KVS_LIMIT' });
    await s.buffer.put(Buffer.from([0xff, 0xff, 0xff, 0xfe]), v(1));
    assert.equal((await all(s.buffer)).length, 1);
    await assert.rejects(s.buffer.batchSorted(['a', '\xff\xff\xff\xff\x01'], [v(1), v(2)]), {
      code: 'ERR_KVS_LIMIT',
    });
    assert.equal(await s.buffer.get(Buffer.from('a')), undefined, 'nothing of the refused batch');
    await s.buffer.close();
  });

  it('logs batchSorted like batch: read back at once, replayed after a crash, folded', async () => {
    const path = await mkdtemp(join(tmpdir(), 'wbuf-'));
    dirs.push(path);
    const first = await openStack(path);
    const text = (b: Buffer) => b.toString('latin1');
    await first.buffer.batch([{ type: 'put', key: k(1, 1), value: v(1) }]);
    await first.buffer.batchSorted([text(k(1, 1)), text(k(1, 2)), text(k(2, 1))], [null, v(12), v(21)]);
    assert.equal(first.buffer.getNow(k(1, 1)), undefined);
    assert.deepEqual(first.buffer.getNow(k(1, 2)), v(12));
    assert.equal(first.buffer.stats().logRecords, 2);
    await first.lmdb.close();
    const second = await openStack(path);
    assert.deepEqual(await all(second.buffer), [`${k(1, 2)}=12`, `${k(2, 1)}=21`]);
    await second.buffer.fold();
    assert.deepEqual(await all(second.secure), [`${k(1, 2)}=12`, `${k(2, 1)}=21`]);
    await second.buffer.close();
  });

  it('takes writes, deletions and reads while a fold runs, and a crash then loses nothing', async () => {
    const path = await mkdtemp(join(tmpdir(), 'wbuf-'));
    dirs.push(path);
    const s = await openStack(path, { maxBytes: 1 << 30, idleFoldMs: 0 });
    const first = [];
    for (let m = 0; m < 30_000; m++) first.push({ type: 'put' as const, key: k(m, 1), value: v(m) });
    await s.buffer.batch(first);
    const fold = s.buffer.fold();
    while (!s.buffer.stats().folding) await new Promise((r) => setImmediate(r));
    // While the 30,000 keys are being folded (eight engine batches): overwrite, delete, add.
    await s.buffer.put(k(5, 1), v(9999));
    assert.equal(await s.buffer.delete(k(6, 1)), true);
    await s.buffer.put(k(7, 2), v(7));
    assert.deepEqual(await s.buffer.get(k(5, 1)), v(9999), 'the newer layer wins');
    assert.equal(await s.buffer.get(k(6, 1)), undefined, 'a deletion in the newer layer hides the older');
    assert.deepEqual(await s.buffer.get(k(8, 1)), v(8), 'the frozen layer is read');
    const scanned = await all(s.buffer);
    assert.equal(scanned.length, 30_000, '30,000 - 1 deleted + 1 added');
    await fold;
    assert.equal(s.buffer.stats().bufferedKeys, 3, 'the writes made during the fold stay buffered');
    assert.deepEqual(await s.secure.get(k(6, 1)), v(6), 'the engine has the folded layer only');
    // A crash now (no close): the log holds the three later writes, replayed on open.
    const again = await openStack(path);
    assert.deepEqual(await again.buffer.get(k(5, 1)), v(9999));
    assert.equal(await again.buffer.get(k(6, 1)), undefined);
    assert.deepEqual(await again.buffer.get(k(7, 2)), v(7));
    assert.equal((await all(again.buffer)).length, 30_000);
    await again.buffer.close();
  });
});
