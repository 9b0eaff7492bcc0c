import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BusError, defineCodec, isBusError } from '../../src/bus/index.ts';
import { prng } from '../support/prng.ts';

const fields = {
  meter: { type: 'string', maxLength: 32, pattern: /^[a-z0-9-]+$/ },
  at: { type: 'timestamp' },
  kw: { type: 'number', min: 0, max: 10_000 },
  phases: { type: 'number', integer: true, min: 1, max: 3 },
  ok: { type: 'boolean' },
  region: { type: 'enum', values: ['north', 'south'] },
  raw: { type: 'bytes', maxLength: 64 },
  tags: { type: 'list', of: { type: 'string', maxLength: 8 }, maxItems: 4 },
  site: { type: 'object', fields: { lat: { type: 'number' }, lon: { type: 'number' } } },
  note: { type: 'string', optional: true },
} as const;

const Reading = defineCodec('reading', fields);
const ReadingJson = defineCodec('reading', fields, { format: 'json' });

const sample = () => ({
  meter: 'm-17',
  at: new Date('2025-03-01T12:15:00.000Z'),
  kw: 5.25,
  phases: 3,
  ok: true,
  region: 'north' as const,
  raw: Uint8Array.of(1, 2, 3),
  tags: ['a', 'bb'],
  site: { lat: -23.5, lon: -46.6 },
});

const invalidAt = (path: string) => (e: unknown) =>
  isBusError(e, 'ERR_BUS_MESSAGE_INVALID') && (e as BusError).detail?.path === path;

describe('unit: message codecs', () => {
  for (const codec of [Reading, ReadingJson]) {
    it(`round-trips a message in ${codec.format}`, () => {
      const value = sample();
      assert.deepEqual(codec.decode(codec.encode(value)), value);
      const withNote = { ...value, note: 'ok' };
      assert.deepEqual(codec.decode(codec.encode(withNote)), withNote);
    });
  }

  it('types decoded messages from the schema', () => {
    const r = Reading.decode(Reading.encode(sample()));
    const kw: number = r.kw;
    const region: 'north' | 'south' = r.region;
    const note: string | undefined = r.note;
    assert.equal(typeof kw, 'number');
    assert.equal(region, 'north');
    assert.equal(note, undefined);
  });

  it('refuses invalid values on encode, naming the path', () => {
    assert.throws(() => Reading.encode({ ...sample(), kw: -1 }), invalidAt('kw'));
    assert.throws(() => Reading.encode({ ...sample(), phases: 2.5 }), invalidAt('phases'));
    assert.throws(() => Reading.encode({ ...sample(), meter: 'M!' }), invalidAt('meter'));
    assert.throws(() => Reading.encode({ ...sample(), tags: ['a', 'b', 'c', 'd', 'e'] }), invalidAt('tags'));
    assert.throws(() => Reading.encode({ ...sample(), site: { lat: 1 } } as never), invalidAt('site.lon'));
    assert.throws(() => Reading.encode({ ...sample(), extra: 1 } as never), invalidAt('extra'));
    assert.throws(() => Reading.encode({ ...sample(), at: new Date(Number.NaN) }), invalidAt('at'));
    assert.throws(() => Reading.encode({ ...sample(), kw: Number.POSITIVE_INFINITY }), invalidAt('kw'));
  });

  it('refuses a message larger than the limit', () => {
    const Small = defineCodec('small', { text: { type: 'string' } }, { maxBytes: 64 });
    assert.throws(
      () => Small.encode({ text: 'x'.repeat(100) }),
      (e) => isBusError(e, 'ERR_BUS_MESSAGE_TOO_LARGE'),
    );
    assert.throws(
      () => Small.decode(new Uint8Array(65)),
      (e) => isBusError(e, 'ERR_BUS_MESSAGE_TOO_LARGE'),
    );
  });

  it('refuses a message made with another schema', () => {
    const Other = defineCodec('reading', { ...fields, kw: { type: 'string' } });
    assert.notEqual(Other.fingerprint, Reading.fingerprint);
    assert.throws(() => Reading.decode(Other.encode({ ...sample(), kw: '5' })), invalidAt('header'));
  });

  it('refuses trailing bytes, bad booleans and out-of-range enums', () => {
    const bytes = Reading.encode(sample());
    assert.throws(() => Reading.decode(Uint8Array.from([...bytes, 0])), invalidAt(''));
    const Flag = defineCodec('flag', { on: { type: 'boolean' }, e: { type: 'enum', values: ['a'] } });
    const good = Flag.encode({ on: true, e: 'a' });
    const badBool = Uint8Array.from(good);
    badBool[badBool.length - 1] = 2;
    assert.throws(() => Flag.decode(badBool), invalidAt('on'));
    const badEnum = Uint8Array.from(good);
    badEnum[badEnum.length - 2] = 1;
    assert.throws(() => Flag.decode(badEnum), invalidAt('e'));
  });

  it('refuses JSON with unknown keys, __proto__ included, and bad base64 or times', () => {
    const text = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
    const json = JSON.parse(new TextDecoder().decode(ReadingJson.encode(sample())));
    assert.throws(
      () =>
        ReadingJson.decode(new TextEncoder().encode(`{"__proto__":{"x":1},${JSON.stringify(json).slice(1)}`)),
      invalidAt('__proto__'),
    );
    assert.throws(() => ReadingJson.decode(text({ ...json, raw: '%%%' })), invalidAt('raw'));
    assert.throws(() => ReadingJson.decode(text({ ...json, at: 'yesterday' })), invalidAt('at'));
    assert.throws(() => ReadingJson.decode(text({ ...json, kw: '5' })), invalidAt('kw'));
    assert.throws(() => ReadingJson.decode(Uint8Array.of(0xff)), invalidAt(''));
  });

  it('fails only with bus errors on truncated or random input (seeded fuzz)', () => {
    const random = prng(6);
    const good = Reading.encode({ ...sample(), note: 'hello' });
    for (let i = 0; i < 3000; i++) {
      let input: Uint8Array;
      if (i % 3 === 0) input = good.subarray(0, Math.floor(random() * good.length));
      else if (i % 3 === 1) {
        input = Uint8Array.from(good);
        input[Math.floor(random() * input.length)] = Math.floor(random() * 256);
      } else input = Uint8Array.from({ length: Math.floor(random() * 80) }, () => Math.floor(random() * 256));
      try {
        Reading.decode(input);
      } catch (err) {
        assert.ok(err instanceof BusError, `case ${i}: ${String(err)}`);
      }
    }
  });

  it('refuses a list count larger than the input before allocating', () => {
    const Many = defineCodec('many', { items: { type: 'list', of: { type: 'number' } } });
    const bytes = Many.encode({ items: [] });
    const lying = Uint8Array.from([...bytes.subarray(0, bytes.length - 1), 0xff, 0x7f]); // count 16383
    assert.throws(() => Many.decode(lying), invalidAt('items'));
  });
});
