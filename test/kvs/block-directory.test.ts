// The block directory against a plain sorted list with the same rules, through chunk splits and
// chunks emptied.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlockDirectory } from '../../src/kvs/block-directory.ts';
import { prng } from '../support/prng.ts';

interface Known {
  lower: string;
  upper: string | undefined;
  last: string | undefined;
  keys: Set<string>;
}

/** The specification: blocks by lower bound, a new block cutting the one before and dropping those it covers. */
class Reference {
  blocks: Known[] = [];
  #floor(key: string): number {
    let i = -1;
    for (let k = 0; k < this.blocks.length; k++) if (this.blocks[k]!.lower <= key) i = k;
    return i;
  }
  learn(lower: string, upper: string | undefined, keys: string[]): void {
    let i = this.#floor(lower);
    const entry: Known = { lower, upper, last: keys.at(-1), keys: new Set(keys) };
    if (i >= 0 && this.blocks[i]!.lower === lower) this.blocks[i] = entry;
    else {
      const before = this.blocks[i];
      if (before !== undefined && (before.upper === undefined || before.upper > lower)) {
        before.upper = lower;
        if (before.last !== undefined && before.last >= lower) before.last = undefined;
      }
      this.blocks.splice(i + 1, 0, entry);
      i++;
    }
    while (i + 1 < this.blocks.length && (upper === undefined || this.blocks[i + 1]!.lower < upper))
      this.blocks.splice(i + 1, 1);
  }
  forget(lower: string): void {
    const i = this.#floor(lower);
    if (i >= 0 && this.blocks[i]!.lower === lower) this.blocks.splice(i, 1);
  }
  covering(key: string): Known | undefined {
    const b = this.blocks[this.#floor(key)];
    return b !== undefined && (b.upper === undefined || key < b.upper) ? b : undefined;
  }
}

const key = (n: number) => `k${String(n).padStart(7, '0')}`;

describe('block directory', () => {
  it('agrees with a plain sorted list through thousands of learns and forgets (chunks split and empty)', () => {
    const rand = prng(7);
    const dir = new BlockDirectory();
    const ref = new Reference();
    for (let step = 0; step < 6000; step++) {
      const a = Math.floor(rand() * 200_000);
      if (rand() < 0.05 && ref.blocks.length > 0) {
        const victim = ref.blocks[Math.floor(rand() * ref.blocks.length)]!.lower;
        dir.forget(victim);
        ref.forget(victim);
      } else {
        const width = 1 + Math.floor(rand() * (rand() < 0.01 ? 2_000 : 8));
        const upper = rand() < 0.0005 ? undefined : key(a + width);
        const keys = Array.from({ length: Math.floor(rand() * 6) }, (_, i) => key(a + i)).filter(
          (k) => upper === undefined || k < upper,
        );
        dir.learn(key(a), upper, keys);
        ref.learn(key(a), upper, keys);
      }
      assert.equal(dir.size, ref.blocks.length);
      for (let probe = 0; probe < 4; probe++) {
        const k = key(Math.floor(rand() * 210_000));
        const at = dir.find(k);
        const expected = ref.covering(k);
        assert.equal(at < 0 ? undefined : dir.lowerAt(at), expected?.lower, `find(${k}) at step ${step}`);
        if (at >= 0) assert.equal(dir.bytesAt(at).toString('latin1'), expected!.lower);
        // Never absent when the block holds it; absent past a known last key.
        if (expected?.keys.has(k)) assert.equal(dir.absent(k), false, `${k} is stored`);
        if (expected?.last !== undefined && k > expected.last) assert.equal(dir.absent(k), true);
      }
    }
    assert.ok(ref.blocks.length > 1500, `the run reached ${ref.blocks.length} blocks, several chunks`);
  });
});
