/**
 * The write buffer's record memory (write-buffer-arena.ts): chunks bump-allocated, reserved up
 * front, handed back zeroed and reused, held while a scan pins them; and the buffer reusing them
 * from one fold to the next without growing, with scans that span a fold still reading their values.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createKeyring } from '../../src/kvs/keyring.ts';
import { createLmdbEngine } from '../../src/kvs/lmdb-engine.ts';
import { createSecureStore } from '../../src/kvs/secure-store.ts';
import { createWriteBuffer } from '../../src/kvs/write-buffer.ts';
import { RecordArena } from '../../src/kvs/write-buffer-arena.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('record arena', () => {
  it('bump-allocates within a chunk, gives large records their own buffer, reserves up front', () => {
    const arena = new RecordArena(4096, 3 * 4096);
    assert.deepEqual([arena.chunks, arena.freeChunks], [3, 3]);
    const layer = arena.layer();
    const a = layer.alloc(1000);
    const b = layer.alloc(1000);
    assert.equal(a.buffer, b.buffer, 'same chunk');
    assert.equal(b.byteOffset, a.byteOffset + 1000);
    const big = layer.alloc(2000); // more than a quarter of a chunk
    assert.notEqual(big.buffer, a.buffer);
    layer.alloc(1000);
    layer.alloc(1000);
    const next = layer.alloc(1000); // 5,000 bytes do not fit one chunk of 4,096
    assert.notEqual(next.buffer, a.buffer);
    assert.deepEqual([arena.chunks, arena.freeChunks], [3, 1]);
  });

  it('zeroes what was written when a layer is released, and reuses the chunks', () => {
    const arena = new RecordArena(4096);
    const first = arena.layer();
    const a = first.alloc(500);
    a.fill(0xab);
    first.release();
    assert.ok(
      a.every((x) => x === 0),
      'released records are zeroed',
    );
    assert.throws(() => first.alloc(10), /released/);
    const second = arena.layer();
    const b = second.alloc(500);
    assert.equal(b.buffer, a.buffer, 'the chunk is reused');
    assert.equal(arena.chunks, 1);
  });

  it('keeps a pinned layer until its last pin goes', () => {
    const arena = new RecordArena(4096);
    const layer = arena.layer();
    const a = layer.alloc(100);
    a.fill(7);
    const unpin1 = layer.pin();
    const unpin2 = layer.pin();
    layer.release();
    unpin1();
    unpin1(); // twice: counted once
    assert.ok(
      a.every((x) => x === 7),
      'still pinned',
    );
    assert.equal(arena.freeChunks, 0);
    unpin2();
    assert.ok(a.every((x) => x === 0));
    assert.equal(arena.freeChunks, 1);
  });

  it('refuses chunk sizes below 1 KiB and negative reservations', () => {
    assert.throws(() => new RecordArena(100), TypeError);
    assert.throws(() => new RecordArena(4096, -1), TypeError);
  });
});

describe('write buffer records in the arena', () => {
  async function open() {
    const path = await mkdtemp(join(tmpdir(), 'wbuf-arena-'));
    dirs.push(path);
    const lmdb = await createLmdbEngine({ path });
    const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
    const secure = createSecureStore(lmdb, keyring, { namespace: 't' });
    return createWriteBuffer(secure, { idleFoldMs: 0, reserveBytes: 1, recordChunkBytes: 64 * 1024 });
  }
  const key = (round: number, i: number) => Buffer.from(`m|${String(i).padStart(5, '0')}|${round}`);
  const value = (round: number, i: number) => Buffer.alloc(300, (round * 7 + i) % 251);

  it('reuses the same chunks round after round', async () => {
    const buffer = await open();
    for (let round = 0; round < 4; round++) {
      for (let b = 0; b < 25; b++) {
        await buffer.batch(
          Array.from({ length: 40 }, (_, i) => ({
            type: 'put' as const,
            key: key(round, b * 40 + i),
            value: value(round, b * 40 + i),
          })),
        );
      }
      await buffer.fold();
    }
    // A round's records: 25 of 12.8 KB, 5 per 64 KiB chunk: 5 chunks, reused by each round.
    const { total, free } = buffer.stats().recordChunks;
    assert.equal(total, 5, 'the chunks of the first round serve the next three');
    assert.equal(free, 5);
    for (const round of [0, 3]) {
      for (const i of [0, 517, 999]) assert.deepEqual(await buffer.get(key(round, i)), value(round, i));
    }
    await buffer.close();
  });

  it('a scan begun before a fold reads its values after the fold and after new writes reuse the memory', async () => {
    const buffer = await open();
    const ops = Array.from({ length: 50 }, (_, i) => ({
      type: 'put' as const,
      key: key(1, i),
      value: value(1, i),
    }));
    await buffer.batch(ops);
    const it = buffer.scan({ prefix: Buffer.from('m|') })[Symbol.asyncIterator]();
    const first = await it.next();
    assert.deepEqual(first.value?.value, value(1, 0));
    await buffer.fold();
    // New records: they would take the folded layer's chunk if the scan did not hold it.
    await buffer.batch(ops.map((o, i) => ({ ...o, key: key(2, i), value: value(2, i) })));
    const seen = [first.value!];
    for (let r = await it.next(); !r.done; r = await it.next()) seen.push(r.value);
    const round1 = seen.filter((e) => Buffer.from(e.key).toString().endsWith('|1'));
    assert.equal(round1.length, 50);
    round1.forEach((e, i) => {
      assert.deepEqual(Buffer.from(e.value), value(1, i));
    });
    assert.equal(buffer.stats().recordChunks.total, 2, 'the pinned chunk was not reused');
    await buffer.close();
  });
});
