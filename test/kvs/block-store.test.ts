/**
 * The secure store's `blocks` layout (the default): the frame format, that every kind of
 * tampering with a block is refused (also when the block was cached), the partition of the key
 * space into blocks under random writes, rotation, and option checks. The engine contract runs
 * on it too (engines.test.ts), with tiny blocks and without cache.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { BlockCache } from '../../src/kvs/block-cache.ts';
import {
  AssociatedData,
  BLOCK_FORMAT,
  createKeyring,
  encodeNamespace,
  type Keyring,
  sealedKeyId,
  VALUE_OVERHEAD,
} from '../../src/kvs/keyring.ts';
import { createMemoryEngine } from '../../src/kvs/memory-engine.ts';
import { ReadScope } from '../../src/kvs/read-scope.ts';
import { type Block, decodeBlock, encodeBlock } from '../../src/kvs/sealed-block.ts';
import { createSecureStore, type SecureStoreOptions } from '../../src/kvs/secure-store.ts';
import type { KeyValue, StorageEngine } from '../../src/kvs/types.ts';
import { prng } from '../support/prng.ts';
import { b, collect, hex, rejectsWithCode, text } from './kvs-test-helpers.ts';

function setup(options: Partial<SecureStoreOptions> = {}, keyring?: Keyring) {
  const ring = keyring ?? createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
  const raw = createMemoryEngine();
  const store = createSecureStore(raw, ring, { namespace: 'db1', closeEngine: false, ...options });
  return { raw, store, keyring: ring };
}

/** Opens every raw block with the keyring, as the store would (for checking the layout). */
async function rawBlocks(raw: StorageEngine, keyring: Keyring, namespace = 'db1'): Promise<Block[]> {
  const aad = new AssociatedData(encodeNamespace(namespace), 64, BLOCK_FORMAT);
  const out: Block[] = [];
  for (const { key, value } of await collect(raw.scan({}))) {
    out.push(decodeBlock(Buffer.from(key).toString('latin1'), keyring.open(value, aad, key)));
  }
  return out;
}

/** Asserts that the raw blocks partition the key space: contiguous ranges, entries inside. */
function assertPartition(blocks: readonly Block[]): void {
  for (let i = 0; i < blocks.length; i++) {
    const block = blocks[i]!;
    assert.ok(block.keys.length > 0, `block ${i} is empty`);
    assert.ok(block.keys[0]! >= block.lower, `block ${i} holds a key below its range`);
    const next = blocks[i + 1];
    assert.equal(block.upper, next?.lower, `block ${i} does not end where the next begins`);
  }
}

const key4 = (n: number): Uint8Array => {
  const k = Buffer.alloc(4);
  k.writeUInt32BE(n);
  return k;
};

describe('secure store (blocks layout)', () => {
  it('seals blocks of entries in the documented format, with no plaintext in the raw engine', async () => {
    const { raw, store, keyring } = setup({ blockBytes: 256 });
    const marker = 'PLAINTEXT-MARKER-4f1c';
    await store.batch(
      Array.from({ length: 40 }, (_, i) => ({
        type: 'put' as const,
        key: key4(i),
        value: text(`${marker} ${i}`),
      })),
    );
    const entries = await collect(raw.scan({}));
    assert.ok(entries.length > 1 && entries.length < 40, `40 values in ${entries.length} blocks`);
    for (const { value } of entries) {
      assert.equal(Buffer.from(value).includes(marker), false);
      assert.equal(value[0], 2, 'format version 2');
      assert.equal(sealedKeyId(value), keyring.currentId);
    }
    const blocks = await rawBlocks(raw, keyring);
    assertPartition(blocks);
    assert.equal(
      blocks[0]!.lower,
      Buffer.from(key4(0)).toString('latin1'),
      'the first block starts at its key',
    );
    assert.equal(blocks.at(-1)!.upper, undefined, 'the last block is unbounded');
    assert.equal(entries[0]!.value.length, blocks[0]!.body.length + VALUE_OVERHEAD);
    assert.deepEqual(
      blocks.flatMap((block) => block.keys),
      Array.from({ length: 40 }, (_, i) => Buffer.from(key4(i)).toString('latin1')),
    );
    assert.equal(Buffer.from((await store.get(key4(17)))!).toString(), `${marker} 17`);
  });

  it('uses a fresh nonce for every write of a block', async () => {
    const { raw, store } = setup();
    await store.put(b(1), text('same'));
    const first = hex((await raw.get(b(1))) as Uint8Array);
    await store.put(b(1), text('same'));
    assert.notEqual(hex((await raw.get(b(1))) as Uint8Array), first);
  });

  for (const cacheBytes of [0, 1 << 20]) {
    it(`refuses a block with any flipped byte, in gets and scans, cache ${cacheBytes ? 'on' : 'off'}`, async () => {
      const { raw, store } = setup({ cacheBytes });
      await store.batch([
        { type: 'put', key: text('a'), value: text('secret a') },
        { type: 'put', key: text('b'), value: text('secret b') },
      ]);
      const [only] = await collect(raw.scan({}));
      const { key: lower, value: original } = only!;
      assert.equal(hex((await store.get(text('b')))!), hex(text('secret b')), 'read (and cached)');
      for (let offset = 0; offset < original.length; offset++) {
        const bad = Uint8Array.from(original);
        bad[offset]! ^= 0x01;
        await raw.put(lower, bad);
        const code = offset >= 1 && offset <= 4 ? 'ERR_KVS_KEY_UNKNOWN' : 'ERR_KVS_INTEGRITY';
        await rejectsWithCode(store.get(text('b')), code);
        await rejectsWithCode(collect(store.scan({})), code);
      }
      await raw.put(lower, original);
      assert.equal(hex((await store.get(text('a')))!), hex(text('secret a')), 'the original reads again');
    });
  }

  it('refuses truncated and empty blocks', async () => {
    const { raw, store } = setup();
    await store.put(b(1), text('value'));
    const sealed = (await raw.get(b(1))) as Uint8Array;
    for (const bad of [new Uint8Array(0), sealed.subarray(0, 32), sealed.subarray(0, sealed.length - 1)]) {
      await raw.put(b(1), bad);
      await rejectsWithCode(store.get(b(1)), 'ERR_KVS_INTEGRITY');
    }
  });

  it('refuses a block moved to another engine key, namespace or key material', async () => {
    const { raw, store, keyring } = setup({ blockBytes: 64 });
    await store.batch(
      Array.from({ length: 8 }, (_, i) => ({
        type: 'put' as const,
        key: key4(i * 10),
        value: randomBytes(40),
      })),
    );
    const [first, second] = await collect(raw.scan({}));
    await raw.put(second!.key, first!.value);
    await rejectsWithCode(store.get(second!.key), 'ERR_KVS_INTEGRITY');
    await raw.put(second!.key, second!.value);
    const options = { closeEngine: false, blockBytes: 64 };
    const otherNamespace = createSecureStore(raw, keyring, { namespace: 'db2', ...options });
    await rejectsWithCode(otherNamespace.get(first!.key), 'ERR_KVS_INTEGRITY');
    const sameId = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
    await rejectsWithCode(
      createSecureStore(raw, sameId, { namespace: 'db1', ...options }).get(first!.key),
      'ERR_KVS_INTEGRITY',
    );
    const otherId = createKeyring({ keys: [{ id: 2, key: randomBytes(32) }] });
    await rejectsWithCode(
      createSecureStore(raw, otherId, { namespace: 'db1', ...options }).get(first!.key),
      'ERR_KVS_KEY_UNKNOWN',
    );
  });

  it('raises ERR_KVS_INTEGRITY for a deleted block, in point reads and scans both ways', async () => {
    const { raw, store } = setup({ blockBytes: 64 });
    await store.batch(
      Array.from({ length: 12 }, (_, i) => ({ type: 'put' as const, key: key4(i), value: randomBytes(40) })),
    );
    const blocks = await collect(raw.scan({}));
    assert.ok(blocks.length >= 3);
    const middle = blocks[1]!;
    await raw.delete(middle.key);
    await rejectsWithCode(store.get(middle.key), 'ERR_KVS_INTEGRITY');
    await rejectsWithCode(collect(store.scan({})), 'ERR_KVS_INTEGRITY');
    await rejectsWithCode(collect(store.scan({ reverse: true })), 'ERR_KVS_INTEGRITY');
    await rejectsWithCode(collect(store.scan({ start: key4(0), end: key4(11) })), 'ERR_KVS_INTEGRITY');
    // A scan that ends in the deleted block's range notices it too; one before it does not cross it.
    await rejectsWithCode(
      collect(store.scan({ end: Buffer.concat([middle.key, Buffer.of(0)]) })),
      'ERR_KVS_INTEGRITY',
    );
    assert.equal((await collect(store.scan({ start: blocks[0]!.key, end: middle.key }))).length > 0, true);
  });

  it('tells a store written in the other layout by its format version', async () => {
    const raw = createMemoryEngine();
    const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
    await createSecureStore(raw, keyring, { namespace: 'n', closeEngine: false, layout: 'values' }).put(
      b(1),
      b(1),
    );
    const blocks = createSecureStore(raw, keyring, { namespace: 'n', closeEngine: false });
    await assert.rejects(blocks.get(b(1)), /format version 1; expected 2 .*layout 'values'/);
    const raw2 = createMemoryEngine();
    await createSecureStore(raw2, keyring, { namespace: 'n', closeEngine: false }).put(b(1), b(1));
    const values = createSecureStore(raw2, keyring, { namespace: 'n', closeEngine: false, layout: 'values' });
    await assert.rejects(values.get(b(1)), /format version 2; expected 1 .*layout 'blocks'/);
  });

  it('keeps blocks partitioning the key space under random writes and deletes (seeded)', async () => {
    const { raw, store, keyring } = setup({ blockBytes: 128, cacheBytes: 4096 });
    const random = prng(11);
    const model = new Map<string, string>();
    for (let step = 0; step < 600; step++) {
      const ops = Array.from({ length: 1 + Math.floor(random() * 12) }, () => {
        const key = key4(Math.floor(random() * 300));
        return random() < 0.6
          ? { type: 'put' as const, key, value: randomBytes(Math.floor(random() * 50)) }
          : { type: 'delete' as const, key };
      });
      await store.batch(ops);
      for (const op of ops) {
        if (op.type === 'put') model.set(hex(op.key), hex(op.value));
        else model.delete(hex(op.key));
      }
      if (step % 100 === 99) assertPartition(await rawBlocks(raw, keyring));
    }
    const expected = [...model].sort(([x], [y]) => (x < y ? -1 : 1));
    const actual = (await collect(store.scan({}))).map((e) => [hex(e.key), hex(e.value)]);
    assert.deepEqual(actual, expected);
    for (const [k, v] of expected.slice(0, 50))
      assert.equal(hex((await store.get(Buffer.from(k, 'hex')))!), v);
    for (const { key } of await collect(store.scan({}))) await store.delete(key);
    assert.deepEqual(await collect(raw.scan({})), [], 'deleting everything leaves no block');
  });

  it('applies batchSorted as batch would, alternating the two under random changes (seeded)', async () => {
    const { raw, store, keyring } = setup({ blockBytes: 128, cacheBytes: 4096 });
    const twin = setup({ blockBytes: 128, cacheBytes: 4096 }).store;
    const random = prng(23);
    for (let step = 0; step < 300; step++) {
      const changes = new Map<string, Uint8Array | null>();
      for (let n = 1 + Math.floor(random() * 12); n > 0; n--) {
        const key = Buffer.from(key4(Math.floor(random() * 300))).toString('latin1');
        changes.set(key, random() < 0.6 ? randomBytes(Math.floor(random() * 50)) : null);
      }
      const keys = [...changes.keys()].sort();
      const values = keys.map((k) => changes.get(k)!);
      await twin.batch(
        keys.map((k, i) =>
          values[i] === null
            ? { type: 'delete' as const, key: Buffer.from(k, 'latin1') }
            : { type: 'put' as const, key: Buffer.from(k, 'latin1'), value: values[i]! },
        ),
      );
      await store.batchSorted!(keys, values);
      if (step % 100 === 99) assertPartition(await rawBlocks(raw, keyring));
    }
    const entries = async (s: StorageEngine) =>
      (await collect(s.scan({}))).map((e) => [hex(e.key), hex(e.value)]);
    assert.deepEqual(await entries(store), await entries(twin));
    assert.ok((await entries(store)).length > 50);
  });

  it('refuses a batchSorted whose keys are unsorted or not bytes, or whose values are not bytes, writing nothing', async () => {
    const { store } = setup();
    await store.put(b(1), b(1));
    const bad: [unknown, unknown][] = [
      [
        ['\x05', '\x04'],
        [b(1), b(2)],
      ],
      [
        ['\x05', '\x05'],
        [b(1), b(2)],
      ],
      [['\x05'], [b(1), b(2)]],
      [
        ['\x05', ''],
        [b(1), b(2)],
      ],
      [
        ['\x05', '\u0100'],
        [b(1), b(2)],
      ],
      [
        ['\x05', 7],
        [b(1), b(2)],
      ],
      [
        ['\x05', '\x06'],
        [b(1), 'x'],
      ],
      ['\x05', [b(1)]],
    ];
    for (const [keys, values] of bad) {
      await assert.rejects(
        store.batchSorted!(keys as string[], values as Uint8Array[]),
        TypeError,
        JSON.stringify(keys),
      );
    }
    await rejectsWithCode(store.batchSorted!(['\x05', 'x'.repeat(1979)], [b(1), b(2)]), 'ERR_KVS_LIMIT');
    assert.deepEqual(
      (await collect(store.scan({}))).map((e) => hex(e.key)),
      ['01'],
    );
    await store.batchSorted!(['\x01', '\x02', '\xff\x00'], [null, new Uint8Array(0), b(9)]);
    assert.deepEqual(
      (await collect(store.scan({}))).map((e) => [hex(e.key), hex(e.value)]),
      [
        ['02', ''],
        ['ff00', '09'],
      ],
    );
  });

  it('rotates: reencrypt reseals every block under the current key while writes go on', async () => {
    const { raw, store, keyring } = setup({ blockBytes: 128 });
    const model = new Map<string, string>();
    for (let i = 0; i < 60; i++) {
      await store.put(key4(i), b(i));
      model.set(hex(key4(i)), hex(b(i)));
    }
    const newId = keyring.rotate(randomBytes(32));
    const progress: number[] = [];
    const walk = store.reencrypt({ chunkSize: 2, onProgress: (p) => progress.push(p.scanned) });
    // Writes while the walk runs: none may be lost or overwritten with older data.
    const writes: Promise<void>[] = [];
    for (let i = 0; i < 60; i += 7) {
      writes.push(store.put(key4(i), text('new')));
      model.set(hex(key4(i)), hex(text('new')));
    }
    const result = await walk;
    await Promise.all(writes);
    assert.ok(progress.length > 1, 'progress after each chunk');
    assert.ok(result.scanned >= 60 && result.rewritten > 0);
    for (const { value } of await collect(raw.scan({}))) assert.equal(sealedKeyId(value), newId);
    keyring.remove(1);
    const actual = (await collect(store.scan({}))).map((e) => [hex(e.key), hex(e.value)]);
    assert.deepEqual(
      actual,
      [...model].sort(([x], [y]) => (x < y ? -1 : 1)),
    );
    assert.deepEqual(await store.reencrypt(), { scanned: 60, rewritten: 0, skipped: 0 });
  });

  it('stops reencrypt with ERR_KVS_ABORTED or ERR_KVS_INTEGRITY', async () => {
    const { raw, store, keyring } = setup({ blockBytes: 64, cacheBytes: 0 });
    for (let i = 0; i < 20; i++) await store.put(key4(i), randomBytes(30));
    keyring.rotate(randomBytes(32));
    const controller = new AbortController();
    await rejectsWithCode(
      store.reencrypt({ chunkSize: 2, signal: controller.signal, onProgress: () => controller.abort() }),
      'ERR_KVS_ABORTED',
    );
    const blocks = await collect(raw.scan({}));
    const last = blocks.at(-1)!;
    const bad = Uint8Array.from(last.value);
    bad[20]! ^= 1;
    await raw.put(last.key, bad);
    await rejectsWithCode(store.reencrypt({ chunkSize: 2 }), 'ERR_KVS_INTEGRITY');
  });

  it('round-trips keys of every length class up to the limit; a block moved between them fails', async () => {
    const { store, raw } = setup({ blockBytes: 64 });
    const lengths = [1, 2, 31, 32, 33, 255, 256, 1000, 1978];
    for (const n of lengths) await store.put(new Uint8Array(n).fill(n & 0xff), text(`value-${n}`));
    for (const n of [...lengths].reverse()) {
      const got = await store.get(new Uint8Array(n).fill(n & 0xff));
      assert.equal(got && Buffer.from(got).toString(), `value-${n}`);
    }
    const blocks = await collect(raw.scan({}));
    const long = blocks.find((e) => e.key.length === 1000)!;
    const short = blocks.find((e) => e.key.length === 33)!;
    await raw.put(short.key, long.value);
    await rejectsWithCode(store.get(new Uint8Array(33).fill(33)), 'ERR_KVS_INTEGRITY');
  });

  it('refuses bad options with a TypeError', () => {
    const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
    const engine = createMemoryEngine();
    for (const bad of [
      { layout: 'pages' },
      { blockBytes: 63 },
      { blockBytes: 2 ** 21 },
      { blockBytes: 1.5 },
      { cacheBytes: -1 },
    ]) {
      assert.throws(
        () => createSecureStore(engine, keyring, { namespace: 'n', ...(bad as Partial<SecureStoreOptions>) }),
        TypeError,
        JSON.stringify(bad),
      );
    }
  });

  it('caches opened blocks by their exact sealed bytes, evicting the oldest unused first', () => {
    const block = (name: string) => encodeBlock(name, undefined, [{ key: name, value: randomBytes(100) }]);
    const sealed = (fill: number) => Buffer.alloc(100, fill);
    const one = block('a');
    const size = 100 + one.body.length + 64;
    const cache = new BlockCache(2 * size);
    cache.set('a', sealed(1), one);
    cache.set('b', sealed(2), block('b'));
    assert.equal(cache.get('a', sealed(1)), one, 'same bytes: a hit');
    assert.equal(cache.get('a', sealed(9)), undefined, 'other bytes under the same key: a miss');
    const altered = sealed(1);
    altered[50]! ^= 1;
    assert.equal(cache.get('a', altered), undefined, 'one byte changed: a miss');
    cache.set('c', sealed(3), block('c'));
    assert.notEqual(cache.get('a', sealed(1)), undefined, 'a was used: it got a second chance');
    assert.equal(cache.get('b', sealed(2)), undefined, 'b, unused, went');
    assert.notEqual(cache.get('c', sealed(3)), undefined);
    cache.clear();
    assert.equal(cache.get('c', sealed(3)), undefined);
    assert.ok(
      one.body.every((x) => x === 0),
      'clear zeroes the plaintext',
    );
  });

  it('does not cache a block sealed larger than its limit, and drops what it held under that key', () => {
    const block = encodeBlock('a', undefined, [{ key: 'a', value: randomBytes(100) }]);
    const cache = new BlockCache(1 << 20, 200);
    cache.set('a', Buffer.alloc(150, 1), block);
    assert.equal(cache.get('a', Buffer.alloc(150, 1)), block, 'within the limit: kept');
    cache.set('a', Buffer.alloc(300, 2), block);
    assert.equal(cache.get('a', Buffer.alloc(300, 2)), undefined, 'over the limit: not kept');
    assert.equal(cache.get('a', Buffer.alloc(150, 1)), undefined, 'the older entry went too');
  });

  it('answers a read scope from the block it read last; without a scope every read checks the engine', async () => {
    const { raw, store } = setup({ cacheBytes: 0 });
    await store.batch([
      { type: 'put', key: text('a'), value: text('1') },
      { type: 'put', key: text('b'), value: text('2') },
    ]);
    const scope = new ReadScope();
    assert.equal(hex((await store.get(text('a'), { scope }))!), hex(text('1')));
    const [{ key, value }] = (await collect(raw.scan({}))) as [KeyValue];
    const bad = Uint8Array.from(value);
    bad[bad.length - 1]! ^= 1;
    await raw.put(key, bad);
    // The scope read (and authenticated) the block before it was altered: a repeatable read.
    assert.equal(hex((await store.get(text('b'), { scope }))!), hex(text('2')));
    await rejectsWithCode(store.get(text('b')), 'ERR_KVS_INTEGRITY');
    await rejectsWithCode(store.get(text('b'), { scope: new ReadScope() }), 'ERR_KVS_INTEGRITY');
  });
});

describe('blocks layout: reads of absent keys answered from the directory', () => {
  it('never calls a stored key absent, under random writes, splits and merges (4 seeds)', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const random = prng(seed);
      const { store } = setup({ blockBytes: 96 + seed * 40, cacheBytes: seed % 2 === 0 ? 0 : 1 << 20 });
      const model = new Map<string, string>();
      // Keys like the MDC's: a meter, then an interval, so that appends and inserts mix.
      const key = () => `m${Math.floor(random() * 12)}|${Math.floor(random() * 40)}`;
      for (let step = 0; step < 400; step++) {
        const ops = [];
        for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
          const k = key();
          if (random() < 0.25) {
            ops.push({ type: 'delete' as const, key: text(k) });
            model.delete(k);
          } else {
            const v = `${step}:${Math.floor(random() * 1e6)}`.padEnd(Math.floor(random() * 30), '.');
            ops.push({ type: 'put' as const, key: text(k), value: text(v) });
            model.set(k, v);
          }
        }
        await store.batch(ops);
        for (let probe = 0; probe < 6; probe++) {
          const k = key();
          const got = await store.get(text(k));
          assert.equal(
            got === undefined ? undefined : Buffer.from(got).toString(),
            model.get(k),
            `seed ${seed} step ${step} key ${k}`,
          );
        }
      }
    }
  });

  it('answers a new key after a block it wrote, or missing from its Bloom filter, without reading the engine', async () => {
    const { raw, store } = setup({ cacheBytes: 0 });
    await store.batch(
      [1, 2, 3, 4, 5].map((i) => ({ type: 'put' as const, key: text(`m1|${i}`), value: text('v') })),
    );
    let reads = 0;
    const count = <T>(f: T): T => {
      reads++;
      return f;
    };
    const engine = raw as unknown as Record<string, ((...a: unknown[]) => unknown) | undefined>;
    for (const name of ['get', 'peek', 'scan']) {
      const original = engine[name];
      if (original !== undefined) engine[name] = (...a: unknown[]) => count(original.apply(raw, a));
    }
    assert.equal(await store.get(text('m1|6')), undefined, 'after the last key');
    assert.equal(reads, 0);
    let skipped = 0;
    for (let i = 0; i < 50; i++) {
      const before: number = reads;
      assert.equal(await store.get(text(`m1|3x${i}`)), undefined);
      if (reads === before) skipped++;
    }
    assert.ok(
      skipped >= 30,
      `the Bloom filter spared ${skipped} of 50 reads of absent keys inside the block`,
    );
    assert.equal(hex((await store.get(text('m1|3')))!), hex(text('v')));
    assert.ok(reads > 0, 'a present key is read from the engine');
  });
});
