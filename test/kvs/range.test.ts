import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prefixSuccessor } from '../../src/kvs/index.ts';

describe('prefixSuccessor', () => {
  it('returns the first key after every key with the prefix, dropping trailing 0xff bytes', () => {
    assert.deepEqual(prefixSuccessor(Uint8Array.of(1, 2)), Uint8Array.of(1, 3));
    assert.deepEqual(prefixSuccessor(Uint8Array.of(1, 0xff, 0xff)), Uint8Array.of(2));
    assert.equal(prefixSuccessor(Uint8Array.of(0xff)), undefined);
  });

  it('never changes the caller’s key, also when it is a Buffer (whose slice is a view)', () => {
    const key = Buffer.from([7, 8, 9]);
    const next = prefixSuccessor(key);
    assert.deepEqual([...key], [7, 8, 9]);
    assert.deepEqual(next && [...next], [7, 8, 10]);
  });
});
