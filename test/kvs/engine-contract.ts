/**
 * The contract every {@link StorageEngine} passes. Run it with {@link runEngineContract} once per
 * implementation (see `engines.test.ts`). Each test gets a fresh, empty engine.
 *
 * The reference model orders keys by their lowercase hex strings, which sort exactly like memcmp,
 * so the model shares no code with the engines.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { isKvsError } from '../../src/kvs/errors.ts';
import { scanChunks } from '../../src/kvs/scan-chunks.ts';
import { type BatchOp, NOT_NOW, type ScanRange, type StorageEngine } from '../../src/kvs/types.ts';
import { prng } from '../support/prng.ts';
import {
  b,
  checkAgainstModel,
  collect,
  fromHex,
  hex,
  pairs,
  referenceScan,
  rejectsWithCode,
  text,
} from './kvs-test-helpers.ts';

/** An engine prepared for the contract, with what must be cleaned up after it. */
export interface EngineUnderTest {
  readonly engine: StorageEngine;
  /** Releases what the engine used (files, tables). The engine is already closed. */
  dispose(): Promise<void>;
}

/** Runs the engine contract against the engines `make` prepares. */
export function runEngineContract(name: string, make: () => Promise<EngineUnderTest>): void {
  describe(`StorageEngine contract: ${name}`, () => {
    let sut: EngineUnderTest;
    let engine: StorageEngine;
    beforeEach(async () => {
      sut = await make();
      engine = sut.engine;
    });
    afterEach(async () => {
      await engine.close();
      await sut.dispose();
    });

    /** Writes `model` (hex → hex) with one batch. */
    const load = async (model: ReadonlyMap<string, string>): Promise<void> => {
      await engine.batch([...model].map(([k, v]) => ({ type: 'put', key: fromHex(k), value: fromHex(v) })));
    };

    it('gets what was put, overwrites, deletes, and reports missing keys as undefined', async () => {
      assert.equal(await engine.get(text('missing')), undefined);
      await engine.put(text('a'), text('1'));
      assert.equal(hex((await engine.get(text('a'))) as Uint8Array), hex(text('1')));
      await engine.put(text('a'), text('22'));
      assert.equal(hex((await engine.get(text('a'))) as Uint8Array), hex(text('22')));
      assert.equal(await engine.delete(text('a')), true);
      assert.equal(await engine.delete(text('a')), false);
      assert.equal(await engine.get(text('a')), undefined);
    });

    it('stores empty values, distinct from missing keys', async () => {
      await engine.put(b(1), new Uint8Array(0));
      await engine.batch([{ type: 'put', key: b(2), value: new Uint8Array(0) }]);
      const got = await engine.get(b(1));
      assert.ok(got instanceof Uint8Array);
      assert.equal(got.length, 0);
      assert.deepEqual(pairs(await collect(engine.scan({}))), [
        ['01', ''],
        ['02', ''],
      ]);
    });

    it('keeps binary keys with 0x00 and 0xff bytes apart', async () => {
      const keys = [b(0), b(0, 0), b(0, 0xff), b(0xff), b(0xff, 0), b(0xff, 0xff), b(0xff, 0xff, 0xff)];
      for (const [i, key] of keys.entries()) await engine.put(key, b(i));
      for (const [i, key] of keys.entries())
        assert.equal(hex((await engine.get(key)) as Uint8Array), hex(b(i)));
      assert.equal(await engine.get(b(0, 0, 0)), undefined);
    });

    it('orders keys by unsigned bytes, shorter first on a common prefix', async () => {
      const sorted = [
        b(0),
        b(0, 0),
        b(1),
        b(1, 0),
        b(1, 0xff),
        b(2),
        b(0x7f),
        b(0x80),
        b(0xff),
        b(0xff, 0xff),
      ];
      const random = prng(7);
      const shuffled = [...sorted];
      for (let i = shuffled.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [shuffled[i], shuffled[j]] = [shuffled[j] as Uint8Array, shuffled[i] as Uint8Array];
      }
      for (const key of shuffled) await engine.put(key, b());
      assert.deepEqual(
        (await collect(engine.scan({}))).map((e) => hex(e.key)),
        sorted.map(hex),
      );
      assert.deepEqual(
        (await collect(engine.scan({ reverse: true }))).map((e) => hex(e.key)),
        sorted.map(hex).reverse(),
      );
    });

    it('scans every start/end/prefix/limit combination forwards and backwards like the reference', async () => {
      const model = new Map<string, string>();
      for (const k of [
        '00',
        '0000',
        '01',
        '0100',
        '0101',
        '01ff',
        '02',
        '0200',
        '7f',
        '80',
        'fe',
        'feff',
        'ff',
        'ff00',
        'ffff',
        'ffffff',
      ]) {
        model.set(k, `${k}aa`);
      }
      await load(model);
      const bounds: (Uint8Array | undefined)[] = [
        undefined,
        b(0),
        b(1),
        b(1, 0),
        b(1, 0x80),
        b(2),
        b(0xff),
        b(0xff, 0xff, 0xff, 0xff),
      ];
      const prefixes: (Uint8Array | undefined)[] = [
        undefined,
        new Uint8Array(0),
        b(1),
        b(0xff),
        b(0xff, 0xff),
        b(3),
      ];
      for (const start of bounds) {
        for (const end of [undefined, b(1, 0xff), b(0xff), new Uint8Array(0)]) {
          for (const prefix of prefixes) {
            for (const reverse of [false, true]) {
              for (const limit of [undefined, 0, 1, 3]) {
                const range: ScanRange = { start, end, prefix, reverse, limit };
                assert.deepEqual(
                  pairs(await collect(engine.scan(range))),
                  referenceScan(model, range),
                  JSON.stringify({ start, end, prefix, reverse, limit }),
                );
              }
            }
          }
        }
      }
    });

    it('scans a prefix of 0xff bytes up to the end of the key space', async () => {
      for (const k of [
        b(0xfe, 0xff),
        b(0xff),
        b(0xff, 0),
        b(0xff, 0xff),
        b(0xff, 0xff, 0xff),
        b(0xff, 0xff, 0xff, 0),
      ]) {
        await engine.put(k, b(1));
      }
      const keys = async (range: ScanRange) => (await collect(engine.scan(range))).map((e) => hex(e.key));
      assert.deepEqual(await keys({ prefix: b(0xff, 0xff) }), ['ffff', 'ffffff', 'ffffff00']);
      assert.deepEqual(await keys({ prefix: b(0xff, 0xff), reverse: true }), ['ffffff00', 'ffffff', 'ffff']);
      assert.deepEqual(await keys({ prefix: b(0xff) }), ['ff', 'ff00', 'ffff', 'ffffff', 'ffffff00']);
      assert.deepEqual(await keys({ prefix: b(0xfe) }), ['feff']);
    });

    it('accepts bounds longer than the key limit', async () => {
      const five = (n: number) => new Uint8Array(n).fill(5);
      const near = new Uint8Array(1978).fill(5);
      near[1977] = 6;
      for (const k of [five(1977), five(1978), near]) await engine.put(k, b(1));
      const lengths = async (range: ScanRange) =>
        (await collect(engine.scan(range))).map((e) => `${e.key.length}:${e.key.at(-1)}`);
      assert.deepEqual(await lengths({ start: five(1990) }), ['1978:6']);
      assert.deepEqual(await lengths({ start: five(1990), reverse: true }), ['1978:6']);
      assert.deepEqual(await lengths({ end: five(1990) }), ['1977:5', '1978:5']);
      assert.deepEqual(await lengths({ end: five(1990), reverse: true }), ['1978:5', '1977:5']);
    });

    it('applies a batch in order, the last operation on a key winning', async () => {
      await engine.put(b(3), b(3));
      await engine.batch([
        { type: 'put', key: b(1), value: b(1) },
        { type: 'put', key: b(1), value: b(2) },
        { type: 'put', key: b(2), value: b(2) },
        { type: 'delete', key: b(2) },
        { type: 'delete', key: b(3) },
        { type: 'put', key: b(3), value: b(4) },
        { type: 'delete', key: b(9) },
      ]);
      assert.deepEqual(pairs(await collect(engine.scan({}))), [
        ['01', '02'],
        ['03', '04'],
      ]);
      await engine.batch([]);
    });

    it('applies nothing of a batch that fails midway', async () => {
      await engine.put(b(1), b(1));
      const bad = [
        [
          { type: 'put', key: b(2), value: b(2) },
          { type: 'delete', key: b(1) },
          { type: 'put', key: 'x', value: b(0) },
        ],
        [
          { type: 'put', key: b(2), value: b(2) },
          { type: 'delete', key: b(1) },
          { type: 'merge', key: b(3) },
        ],
        [
          { type: 'put', key: b(2), value: b(2) },
          { type: 'delete', key: b(1) },
          { type: 'put', key: b(4), value: null },
        ],
        [{ type: 'put', key: b(2), value: b(2) }, { type: 'delete', key: b(1) }, null],
      ];
      for (const ops of bad) await assert.rejects(engine.batch(ops as BatchOp[]), TypeError);
      const tooLong: BatchOp[] = [
        { type: 'put', key: b(2), value: b(2) },
        { type: 'delete', key: b(1) },
        { type: 'put', key: new Uint8Array(1979), value: b(0) },
      ];
      await rejectsWithCode(engine.batch(tooLong), 'ERR_KVS_LIMIT');
      assert.deepEqual(pairs(await collect(engine.scan({}))), [['01', '01']]);
    });

    it('applies a batch aborted while under way fully or not at all', async () => {
      await engine.put(b(0, 0), b(1));
      const ops: BatchOp[] = [{ type: 'delete', key: b(0, 0) }];
      for (let i = 0; i < 3000; i++)
        ops.push({ type: 'put', key: b(1, i >> 8, i & 0xff), value: b(i & 0xff) });
      const controller = new AbortController();
      const outcome = engine.batch(ops, { signal: controller.signal }).then(
        () => 'applied',
        (err: unknown) => {
          assert.ok(isKvsError(err, 'ERR_KVS_ABORTED'), String(err));
          return 'aborted';
        },
      );
      setImmediate(() => controller.abort());
      const result = await outcome;
      const count = (await collect(engine.scan({ prefix: b(1) }))).length;
      const deleted = (await engine.get(b(0, 0))) === undefined;
      if (result === 'applied') assert.deepEqual([count, deleted], [3000, true]);
      else assert.deepEqual([count, deleted], [0, false], 'an aborted batch left a partial state');
    });

    it('round-trips 1 MiB values through put, batch and scan', async () => {
      const big = new Uint8Array(1 << 20).map((_, i) => (i * 7 + 3) & 0xff);
      await engine.put(b(1), big);
      await engine.batch([
        { type: 'put', key: b(2), value: big },
        { type: 'put', key: b(3), value: big.subarray(1) },
      ]);
      assert.equal(hex((await engine.get(b(1))) as Uint8Array), hex(big));
      const all = await collect(engine.scan({}));
      assert.deepEqual(
        all.map((e) => e.value.length),
        [1 << 20, 1 << 20, (1 << 20) - 1],
      );
      assert.equal(hex(all[2]?.value as Uint8Array), hex(big.subarray(1)));
    });

    it('scans 10,000 keys in order, forwards and backwards', async () => {
      const ops: BatchOp[] = [];
      for (let i = 0; i < 10_000; i++) {
        const key = new Uint8Array(4);
        new DataView(key.buffer).setUint32(0, (i * 7919) % 10_000);
        ops.push({ type: 'put', key, value: key.subarray(2) });
      }
      await engine.batch(ops);
      let expected = 0;
      for await (const { key, value } of engine.scan({})) {
        const n = new DataView(new Uint8Array(key).buffer).getUint32(0);
        assert.equal(n, expected);
        assert.equal(hex(value), hex(key.subarray(2)));
        expected++;
      }
      assert.equal(expected, 10_000);
      const last = (await collect(engine.scan({ reverse: true, limit: 3 }))).map((e) => hex(e.key));
      assert.deepEqual(last, ['0000270f', '0000270e', '0000270d']);
      assert.equal((await collect(engine.scan({ prefix: b(0, 0, 0x13) }))).length, 256);
    });

    it('gives the entries of scan in chunks through scanChunks (its own, or the fallback)', async () => {
      const ops: BatchOp[] = Array.from({ length: 700 }, (_, i) => ({
        type: 'put',
        key: b(i >> 8, i & 0xff),
        value: b(i & 7),
      }));
      await engine.batch(ops);
      for (const range of [
        {},
        { reverse: true },
        { start: b(1), end: b(2, 0x80) },
        { start: b(0, 5), reverse: true, limit: 300 },
        { prefix: b(2), limit: 7 },
        { start: b(9) },
      ] satisfies ScanRange[]) {
        const chunked: [string, string][] = [];
        let chunks = 0;
        for await (const chunk of scanChunks(engine, range)) {
          assert.ok(chunk.length > 0, 'no empty chunks');
          chunks++;
          for (const e of chunk) chunked.push([hex(e.key), hex(e.value)]);
        }
        assert.deepEqual(chunked, pairs(await collect(engine.scan(range))), JSON.stringify(range));
        assert.ok(chunked.length === 0 || chunks < chunked.length, 'entries come several at a time');
      }
    });

    it('passes what get returns to peek, where the engine has it', async () => {
      if (engine.peek === undefined) return;
      await engine.put(text('k'), text('value'));
      assert.equal(await engine.peek(text('k'), (v) => v && hex(v)), hex(text('value')));
      assert.equal(await engine.peek(text('missing'), (v) => v), undefined);
      await rejectsWithCode(
        engine.peek(text('k'), () => 1, { signal: AbortSignal.abort() }),
        'ERR_KVS_ABORTED',
      );
    });

    it('answers getNow as get does, or with NOT_NOW, where the engine has it', async () => {
      if (engine.getNow === undefined) return;
      const random = prng(5);
      const model = new Map<string, Uint8Array>();
      let answered = 0;
      for (let step = 0; step < 400; step++) {
        const key = b(Math.floor(random() * 40), Math.floor(random() * 4));
        if (random() < 0.6) {
          const value = b(step & 0xff, step >> 8);
          await engine.put(key, value);
          model.set(hex(key), value);
        } else {
          await engine.delete(key);
          model.delete(hex(key));
        }
        const probe = b(Math.floor(random() * 40), Math.floor(random() * 4));
        const now: Uint8Array | undefined | typeof NOT_NOW = engine.getNow(probe);
        const expected = model.get(hex(probe));
        if (now !== NOT_NOW) {
          answered++;
          assert.deepEqual(now && hex(now), expected && hex(expected), `step ${step}`);
        }
        assert.deepEqual(hex((await engine.get(probe)) ?? b()), hex(expected ?? b()));
      }
      assert.ok(answered > 40, `getNow answered only ${answered} of 400 reads`);
      assert.throws(() => engine.getNow!(new Uint8Array(0)), TypeError);
      assert.throws(
        () => engine.getNow!(b(1), { signal: AbortSignal.abort() }),
        (e) => isKvsError(e, 'ERR_KVS_ABORTED'),
      );
    });

    it('serves concurrent puts', async () => {
      await Promise.all(Array.from({ length: 100 }, (_, i) => engine.put(b(1, i), b(i))));
      await Promise.all(Array.from({ length: 20 }, (_, i) => engine.put(b(2), b(i))));
      assert.equal((await collect(engine.scan({ prefix: b(1) }))).length, 100);
      const last = await engine.get(b(2));
      assert.ok(last && last.length === 1 && (last[0] as number) < 20);
    });

    it('neither keeps nor hands out buffers the caller can change', async () => {
      const key = b(1);
      const value = b(1, 2, 3);
      await engine.put(key, value);
      value[0] = 9;
      key[0] = 2;
      const got = (await engine.get(b(1))) as Uint8Array;
      assert.equal(hex(got), '010203');
      got[0] = 7;
      const [entry] = await collect(engine.scan({}));
      assert.equal(hex(entry?.value as Uint8Array), '010203');
      (entry?.key as Uint8Array)[0] = 5;
      assert.equal(hex((await engine.get(b(1))) as Uint8Array), '010203');
    });

    it('refuses misuse with a TypeError and oversized keys with ERR_KVS_LIMIT', async () => {
      await assert.rejects(engine.get('a' as unknown as Uint8Array), TypeError);
      await assert.rejects(engine.get(new Uint8Array(0)), TypeError);
      await assert.rejects(engine.put(b(1), 'v' as unknown as Uint8Array), TypeError);
      await assert.rejects(engine.delete([1] as unknown as Uint8Array), TypeError);
      await assert.rejects(engine.batch('x' as unknown as BatchOp[]), TypeError);
      // A malformed range is refused at once, before any iteration.
      assert.throws(() => engine.scan({ limit: -1 }), TypeError);
      assert.throws(() => engine.scan({ limit: 1.5 }), TypeError);
      assert.throws(() => engine.scan({ start: 'a' as unknown as Uint8Array }), TypeError);
      await rejectsWithCode(engine.put(new Uint8Array(1979), b()), 'ERR_KVS_LIMIT');
      await rejectsWithCode(engine.get(new Uint8Array(1979)), 'ERR_KVS_LIMIT');
      await engine.put(new Uint8Array(1978).fill(1), b(1));
      assert.equal((await collect(engine.scan({})))[0]?.key.length, 1978);
    });

    it('rejects operations with ERR_KVS_ABORTED when the signal is aborted, writing nothing', async () => {
      await engine.put(b(1), b(1));
      const signal = AbortSignal.abort();
      await rejectsWithCode(engine.get(b(1), { signal }), 'ERR_KVS_ABORTED');
      await rejectsWithCode(engine.put(b(2), b(2), { signal }), 'ERR_KVS_ABORTED');
      await rejectsWithCode(engine.delete(b(1), { signal }), 'ERR_KVS_ABORTED');
      await rejectsWithCode(
        engine.batch([{ type: 'put', key: b(3), value: b(3) }], { signal }),
        'ERR_KVS_ABORTED',
      );
      await rejectsWithCode(collect(engine.scan({}, { signal })), 'ERR_KVS_ABORTED');
      assert.deepEqual(pairs(await collect(engine.scan({}))), [['01', '01']]);
    });

    it('stops a scan with ERR_KVS_ABORTED when its signal aborts midway', async () => {
      await engine.batch(
        Array.from({ length: 50 }, (_, i): BatchOp => ({ type: 'put', key: b(i), value: b(i) })),
      );
      const controller = new AbortController();
      let seen = 0;
      await rejectsWithCode(
        (async () => {
          for await (const _ of engine.scan({}, { signal: controller.signal })) {
            seen++;
            if (seen === 5) controller.abort(new Error('enough'));
          }
        })(),
        'ERR_KVS_ABORTED',
      );
      assert.equal(seen, 5);
    });

    it('keeps a scan ordered and complete for untouched keys while writes land', async () => {
      await engine.batch(
        Array.from({ length: 200 }, (_, i): BatchOp => ({ type: 'put', key: b(1, i), value: b(i) })),
      );
      for (const reverse of [false, true]) {
        const seen: string[] = [];
        for await (const { key } of engine.scan({ prefix: b(1), reverse })) {
          seen.push(hex(key));
          if (seen.length % 20 === 0) {
            const i = key[1] as number;
            await engine.put(b(1, i, 1), b(0));
            await engine.batch([{ type: 'put', key: b(1, 255 - i, 1), value: b(0) }]);
          }
        }
        const sorted = [...seen].sort();
        assert.deepEqual(seen, reverse ? sorted.reverse() : sorted, 'out of order');
        assert.equal(new Set(seen).size, seen.length, 'a key came twice');
        for (let i = 0; i < 200; i++) assert.ok(seen.includes(hex(b(1, i))), `key ${i} missing`);
      }
    });

    it('stays usable after scans left early', async () => {
      await engine.batch(
        Array.from({ length: 10 }, (_, i): BatchOp => ({ type: 'put', key: b(i), value: b(i) })),
      );
      for (let i = 0; i < 30; i++) {
        for await (const _ of engine.scan({ reverse: i % 2 === 1 })) break;
      }
      await engine.put(b(20), b(20));
      assert.equal((await collect(engine.scan({}))).length, 11);
    });

    it('raises ERR_KVS_CLOSED after close, also in a scan under way, and closes twice quietly', async () => {
      await engine.batch(
        Array.from({ length: 10 }, (_, i): BatchOp => ({ type: 'put', key: b(i), value: b(i) })),
      );
      const running = engine.scan({})[Symbol.asyncIterator]();
      assert.equal((await running.next()).done, false);
      await engine.close();
      await rejectsWithCode(running.next(), 'ERR_KVS_CLOSED');
      await rejectsWithCode(engine.get(b(1)), 'ERR_KVS_CLOSED');
      await rejectsWithCode(engine.put(b(1), b(1)), 'ERR_KVS_CLOSED');
      await rejectsWithCode(engine.delete(b(1)), 'ERR_KVS_CLOSED');
      await rejectsWithCode(engine.batch([]), 'ERR_KVS_CLOSED');
      await rejectsWithCode(collect(engine.scan({})), 'ERR_KVS_CLOSED');
      await engine.close();
    });

    it('matches a sorted reference under random operations (seeded)', async () => {
      for (const seed of [1, 2, 3]) {
        for (const { key } of await collect(engine.scan({}))) await engine.delete(key);
        await checkAgainstModel(engine, seed);
      }
    });
  });
}
