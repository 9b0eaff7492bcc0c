import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseFilter } from '../../src/bus/scbr/filter-parser.ts';
import { toHeader } from '../../src/bus/scbr/filter-values.ts';
import { IntervalIndex } from '../../src/bus/scbr/interval-index.ts';
import type { SubscriptionMatcher } from '../../src/bus/scbr/matcher.ts';
import { createIndexMatcher } from '../../src/bus/scbr/matcher-index.ts';
import { createNaiveMatcher } from '../../src/bus/scbr/matcher-naive.ts';
import { prng } from '../support/prng.ts';
import { RandomFilters } from './scbr-random.ts';

const sorted = (ids: string[]) => [...ids].sort();

function contract(name: string, make: () => SubscriptionMatcher): void {
  describe(`${name} matcher contract`, () => {
    it('returns each matching subscription once', () => {
      const m = make();
      m.add('a', parseFilter('x = 1 OR x > 0'));
      m.add('b', parseFilter('x < 0'));
      m.add('c', parseFilter('x = 1 OR x > 0'));
      assert.deepEqual(sorted(m.match(toHeader({ x: 1 }))), ['a', 'c']);
      assert.equal(m.size, 3);
    });

    it('refuses a duplicate id with a TypeError', () => {
      const m = make();
      m.add('a', parseFilter('TRUE'));
      assert.throws(() => m.add('a', parseFilter('TRUE')), TypeError);
    });

    it('stops matching a subscription once removed', () => {
      const m = make();
      m.add('a', parseFilter('region ^= "no"'));
      m.add('b', parseFilter('region ^= "no"'));
      assert.equal(m.remove('a'), true);
      assert.equal(m.remove('a'), false);
      assert.deepEqual(m.match(toHeader({ region: 'north' })), ['b']);
      m.remove('b');
      assert.deepEqual(m.match(toHeader({ region: 'north' })), []);
      assert.equal(m.size, 0);
    });

    it('expires subscriptions at their time and keeps renewed ones', () => {
      const m = make();
      m.add('a', parseFilter('TRUE'), { expiresAt: 100 });
      m.add('b', parseFilter('TRUE'), { expiresAt: 100 });
      m.add('c', parseFilter('TRUE'));
      assert.equal(m.setExpiry('b', 300), true);
      assert.equal(m.setExpiry('zz', 300), false);
      assert.deepEqual(m.expire(99), []);
      assert.deepEqual(m.expire(100), ['a']);
      assert.deepEqual(sorted(m.match(toHeader({}))), ['b', 'c']);
      assert.deepEqual(m.expire(1000), ['b']);
      assert.equal(m.has('c'), true);
    });

    it('matches TRUE, FALSE and negation-only filters', () => {
      const m = make();
      m.add('t', parseFilter('TRUE'));
      m.add('f', parseFilter('FALSE'));
      m.add('n', parseFilter('NOT kind = "x"'));
      assert.deepEqual(sorted(m.match(toHeader({ kind: 'y' }))), ['n', 't']);
      assert.deepEqual(sorted(m.match(toHeader({ kind: 'x' }))), ['t']);
    });
  });
}

contract('naive', createNaiveMatcher);
contract('index', createIndexMatcher);

describe('unit', () => {
  it('agrees with the naive matcher on thousands of random subscriptions and publications', () => {
    for (const seed of [1, 2]) {
      const gen = new RandomFilters(prng(seed));
      const naive = createNaiveMatcher();
      const index = createIndexMatcher();
      const ids: string[] = [];
      for (let i = 0; i < 2500; i++) {
        const filter = parseFilter(gen.filterText());
        naive.add(`s${i}`, filter, { expiresAt: i });
        index.add(`s${i}`, filter, { expiresAt: i });
        ids.push(`s${i}`);
      }
      const compare = (round: string) => {
        for (let p = 0; p < 600; p++) {
          const header = toHeader(gen.attributes());
          const expected = sorted(naive.match(header));
          assert.deepEqual(
            sorted(index.match(header)),
            expected,
            `seed ${seed} ${round} publication ${p}: ${JSON.stringify([...header])}`,
          );
        }
      };
      compare('full');
      const random = prng(seed + 100);
      for (const id of ids) {
        if (random() < 0.4) assert.equal(index.remove(id), naive.remove(id));
      }
      compare('after removals');
      assert.deepEqual(sorted(index.expire(1200)), sorted(naive.expire(1200)));
      for (let i = 2500; i < 3000; i++) {
        const filter = parseFilter(gen.filterText());
        naive.add(`s${i}`, filter);
        index.add(`s${i}`, filter);
      }
      compare('after expiry and additions');
      assert.equal(index.size, naive.size);
    }
  });

  it('shares equal filters between subscriptions', () => {
    const m = createIndexMatcher();
    for (let i = 0; i < 100; i++)
      m.add(`s${i}`, parseFilter(i % 2 === 0 ? 'a = 1 AND b = 2' : 'b = 2 AND a = 1'));
    assert.equal(m.stats().filters, 1);
    assert.equal(m.stats().predicates, 2);
    for (let i = 0; i < 100; i++) m.remove(`s${i}`);
    assert.deepEqual(m.stats(), {
      subscriptions: 0,
      filters: 0,
      conjunctions: 0,
      predicates: 0,
      checkedAlways: 0,
    });
  });

  it('stabs intervals correctly through insertions, deletions and rebuilds', () => {
    const random = prng(7);
    const index = new IntervalIndex();
    const live = new Map<number, { low?: number; high?: number; li: boolean; hi: boolean }>();
    for (let step = 0; step < 4000; step++) {
      if (live.size > 0 && random() < 0.35) {
        const id = [...live.keys()][Math.floor(random() * live.size)] as number;
        index.delete(id);
        live.delete(id);
        continue;
      }
      const a = Math.floor(random() * 50);
      const b = a + Math.floor(random() * 10);
      const spec = {
        low: random() < 0.1 ? undefined : a,
        high: random() < 0.1 ? undefined : b,
        li: a === b || random() < 0.5,
        hi: a === b || random() < 0.5,
      };
      if (spec.low === undefined && spec.high === undefined) spec.low = a;
      index.add(step, { low: spec.low, lowInclusive: spec.li, high: spec.high, highInclusive: spec.hi });
      live.set(step, spec);
      if (step % 97 === 0) {
        for (let v = -1; v <= 61; v += 0.5) {
          const got: number[] = [];
          index.stab(v, (id) => got.push(id));
          const want = [...live]
            .filter(
              ([, s]) =>
                (s.low === undefined || s.low < v || (s.li && s.low === v)) &&
                (s.high === undefined || s.high > v || (s.hi && s.high === v)),
            )
            .map(([id]) => id);
          assert.deepEqual(
            got.sort((x, y) => x - y),
            want.sort((x, y) => x - y),
            `step ${step} value ${v}`,
          );
        }
      }
    }
  });
});
