/** Small helpers shared by the storage tests, and the seeded model check of the contract. */
import assert from 'node:assert/strict';
import { isKvsError, type KvsErrorCode } from '../../src/kvs/errors.ts';
import type { BatchOp, KeyValue, ScanRange, StorageEngine } from '../../src/kvs/types.ts';
import { prng } from '../support/prng.ts';

/** Bytes from numbers. */
export const b = (...bytes: number[]): Uint8Array => Uint8Array.from(bytes);
/** Lowercase hex of bytes. */
export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
export const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
export const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

/** Every entry of a scan. */
export async function collect(entries: AsyncIterable<KeyValue>): Promise<KeyValue[]> {
  const out: KeyValue[] = [];
  for await (const e of entries) out.push(e);
  return out;
}

/** Asserts that `promise` rejects with a KvsError of `code`. */
export async function rejectsWithCode(promise: Promise<unknown>, code: KvsErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isKvsError(err), `expected a KvsError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** The entries of `model` (hex key → hex value) that `range` selects, in scan order. */
export function referenceScan(model: ReadonlyMap<string, string>, range: ScanRange): [string, string][] {
  const start = range.start && hex(range.start);
  const end = range.end && hex(range.end);
  const prefix = range.prefix ? hex(range.prefix) : '';
  const keys = [...model.keys()]
    .filter(
      (k) => (start === undefined || k >= start) && (end === undefined || k < end) && k.startsWith(prefix),
    )
    .sort();
  if (range.reverse) keys.reverse();
  return keys.slice(0, range.limit ?? keys.length).map((k) => [k, model.get(k) as string]);
}

/** Entries as [hex key, hex value]. */
export const pairs = (entries: KeyValue[]): [string, string][] =>
  entries.map((e) => [hex(e.key), hex(e.value)]);

/**
 * Applies 250 random operations (seeded) to an empty `engine` and to a reference model, comparing
 * every delete result and random scans, then the whole content in both directions.
 */
export async function checkAgainstModel(engine: StorageEngine, seed: number): Promise<void> {
  const random = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const alphabet = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];
  const randomKey = () => Uint8Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(alphabet));
  const model = new Map<string, string>();
  for (const { key } of await collect(engine.scan({}))) await engine.delete(key);
  for (let step = 0; step < 250; step++) {
    const r = random();
    if (r < 0.45) {
      const key = randomKey();
      const value = Uint8Array.from({ length: Math.floor(random() * 4) }, () => pick(alphabet));
      await engine.put(key, value);
      model.set(hex(key), hex(value));
    } else if (r < 0.6) {
      const key = randomKey();
      assert.equal(await engine.delete(key), model.delete(hex(key)), `seed ${seed} step ${step}`);
    } else if (r < 0.75) {
      const ops = Array.from(
        { length: 1 + Math.floor(random() * 5) },
        (): BatchOp =>
          random() < 0.7
            ? { type: 'put', key: randomKey(), value: b(step & 0xff) }
            : { type: 'delete', key: randomKey() },
      );
      await engine.batch(ops);
      for (const op of ops) {
        if (op.type === 'put') model.set(hex(op.key), hex(op.value));
        else model.delete(hex(op.key));
      }
    } else {
      const range: ScanRange = {
        ...(random() < 0.5 && { start: randomKey() }),
        ...(random() < 0.5 && { end: randomKey() }),
        ...(random() < 0.3 && { prefix: randomKey().subarray(0, 1 + Math.floor(random() * 2)) }),
        reverse: random() < 0.5,
        ...(random() < 0.4 && { limit: Math.floor(random() * 6) }),
      };
      assert.deepEqual(
        pairs(await collect(engine.scan(range))),
        referenceScan(model, range),
        `seed ${seed} step ${step}`,
      );
    }
  }
  assert.deepEqual(pairs(await collect(engine.scan({}))), referenceScan(model, {}));
  assert.deepEqual(
    pairs(await collect(engine.scan({ reverse: true }))),
    referenceScan(model, { reverse: true }),
  );
}
