import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Decimal } from '../../src/sql/decimal.ts';
import { KeyReader, readIntNumber, readKeyValue } from '../../src/sql/key-decoding.ts';
import {
  indexPrefix,
  KeyWriter,
  prefixEnd,
  writeKeyValue,
  writeTextPrefix,
} from '../../src/sql/key-encoding.ts';
import { formatKey } from '../../src/sql/key-format.ts';
import { parseTimestamp } from '../../src/sql/timestamp.ts';
import { comparatorFor, compareBytes, type TypeId, type Value } from '../../src/sql/types.ts';
import { prng } from '../support/prng.ts';

const TYPES: TypeId[] = [
  'integer',
  'bigint',
  'double',
  'real',
  'numeric',
  'text',
  'bytea',
  'boolean',
  'timestamp',
];
const SPECIAL_DOUBLES = [
  0,
  -0,
  Number.NaN,
  Infinity,
  -Infinity,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  1e308,
  -1e308,
];
const CHARS = ['a', 'b', '\u0000', '\u00ff', 'é', '\uffff', '\ue000', '😀', '\u{10ffff}', 'z', '|'];

function gen(rand: () => number, t: TypeId): Value {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  if (rand() < 0.08) return null;
  switch (t) {
    case 'integer':
      return pick([
        0,
        1,
        -1,
        255,
        256,
        -256,
        2147483647,
        -2147483648,
        Math.floor((rand() - 0.5) * 2 ** 32) | 0,
      ]);
    case 'bigint': {
      const big = BigInt(Math.floor((rand() - 0.5) * 2 ** 53)) * BigInt(Math.floor(rand() * 2 ** 11));
      return pick([
        0n,
        -1n,
        1n,
        2n ** 63n - 1n,
        -(2n ** 63n),
        2n ** 48n,
        -(2n ** 48n),
        big,
        BigInt(Math.floor(rand() * 1000) - 500),
      ]);
    }
    case 'double':
      return rand() < 0.3 ? pick(SPECIAL_DOUBLES) : (rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20);
    case 'real':
      return Math.fround((rand() - 0.5) * 1000);
    case 'numeric': {
      const coef = BigInt(Math.floor((rand() - 0.5) * 2 ** 40)) * (rand() < 0.3 ? 10n ** 20n : 1n);
      return new Decimal(rand() < 0.1 ? 0n : coef, Math.floor(rand() * 12));
    }
    case 'text':
      return Array.from({ length: Math.floor(rand() * 5) }, () => pick(CHARS)).join('');
    case 'bytea':
      return Uint8Array.from({ length: Math.floor(rand() * 5) }, () => pick([0, 1, 0xfe, 0xff, 0x41]));
    case 'boolean':
      return rand() < 0.5;
    default:
      return BigInt(Math.floor((rand() - 0.5) * 2 ** 52)) * (rand() < 0.5 ? 1n : 1000n);
  }
}

interface Col {
  type: TypeId;
  desc: boolean;
}

function reference(cols: readonly Col[], a: readonly Value[], b: readonly Value[]): number {
  for (let i = 0; i < cols.length; i++) {
    const { type, desc } = cols[i]!;
    const x = a[i]!;
    const y = b[i]!;
    let c: number;
    if (x === null || y === null) c = x === y ? 0 : x === null ? 1 : -1;
    else c = comparatorFor(type)(x, y);
    if (c !== 0) return desc ? -c : c;
  }
  return 0;
}

function encode(cols: readonly Col[], tuple: readonly Value[]): Uint8Array {
  const w = new KeyWriter(32, indexPrefix(7, 1));
  cols.forEach((c, i) => {
    writeKeyValue(w, tuple[i]!, c.type, c.desc);
  });
  return w.finish();
}

function decode(cols: readonly Col[], key: Uint8Array): Value[] {
  const r = new KeyReader(key);
  assert.equal(readIntNumber(r), 7);
  assert.equal(readIntNumber(r), 1);
  const out = cols.map((c) => readKeyValue(r, c.type, c.desc));
  assert.ok(r.done, 'the whole key is consumed');
  return out;
}

describe('key encoding', () => {
  it('orders encoded bytes like the reference comparator for thousands of random tuples', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rand = prng(seed);
      const cols: Col[] = Array.from({ length: 1 + Math.floor(rand() * 3) }, () => ({
        type: TYPES[Math.floor(rand() * TYPES.length)]!,
        desc: rand() < 0.4,
      }));
      const tuples = Array.from({ length: 120 }, () => cols.map((c) => gen(rand, c.type)));
      const keys = tuples.map((t) => encode(cols, t));
      for (let i = 0; i < tuples.length; i++) {
        for (let j = i; j < tuples.length; j += 1 + Math.floor(rand() * 7)) {
          const want = Math.sign(reference(cols, tuples[i]!, tuples[j]!));
          const got = Math.sign(compareBytes(keys[i]!, keys[j]!));
          assert.equal(
            got,
            want,
            `seed ${seed}: ${JSON.stringify(cols)} ${String(tuples[i])} vs ${String(tuples[j])}`,
          );
        }
      }
    }
  });

  it('decodes every encoding back to an equal tuple', () => {
    for (let seed = 100; seed < 140; seed++) {
      const rand = prng(seed);
      const cols: Col[] = TYPES.map((type) => ({ type, desc: rand() < 0.5 }));
      for (let n = 0; n < 100; n++) {
        const tuple = cols.map((c) => gen(rand, c.type));
        const back = decode(cols, encode(cols, tuple));
        assert.equal(reference(cols, tuple, back), 0, `seed ${seed}: ${String(tuple)} → ${String(back)}`);
      }
    }
  });

  it('makes a tuple prefix a byte prefix, also for LIKE prefixes on DESC columns', () => {
    const cols: Col[] = [
      { type: 'text', desc: true },
      { type: 'bigint', desc: false },
    ];
    const inside = encode(cols, ['ab\u0000c', 5n]);
    const outside = encode(cols, ['a', 5n]);
    for (const desc of [false, true]) {
      const w = new KeyWriter(16, indexPrefix(7, 1));
      writeTextPrefix(w, 'ab', desc);
      const p = w.finish();
      const end = prefixEnd(p)!;
      const inRange = (k: Uint8Array) => compareBytes(k, p) >= 0 && compareBytes(k, end) < 0;
      if (desc) {
        assert.ok(inRange(inside));
        assert.ok(!inRange(outside));
      }
    }
  });

  it('keeps -0 equal to 0 and NaN after +Infinity', () => {
    const cols: Col[] = [{ type: 'double', desc: false }];
    assert.deepEqual(encode(cols, [-0]), encode(cols, [0]));
    assert.ok(compareBytes(encode(cols, [Number.NaN]), encode(cols, [Infinity])) > 0);
    assert.ok(compareBytes(encode(cols, [null]), encode(cols, [Number.NaN])) > 0);
  });

  it('renders keys in the seed logical form', () => {
    const cols: Col[] = [
      { type: 'text', desc: false },
      { type: 'timestamp', desc: false },
    ];
    const key = encode(cols, ['meter-42', parseTimestamp('2024-03-01 00:15:00')]);
    assert.equal(
      formatKey(key, (t) => (t === 7 ? 'reading' : undefined)),
      'reading|meter-42|2024-03-01T00:15:00Z',
    );
    assert.equal(formatKey(key), 't7|meter-42|2024-03-01T00:15:00Z');
    assert.match(formatKey(prefixEnd(encode(cols.slice(0, 1), ['ab']))!), /^t7\|0x/);
  });
});
