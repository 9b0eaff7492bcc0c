// Random filters and headers for the SCBR property tests, from a seeded PRNG (replay a failure by seed).
import { formatFilter } from '../../src/bus/scbr/filter-format.ts';
import type {
  Attributes,
  AttributeType,
  FilterNode,
  Predicate,
  TypedValue,
} from '../../src/bus/scbr/filter-types.ts';

const ATTRIBUTES: readonly [string, AttributeType][] = [
  ['n0', 'number'],
  ['n1', 'number'],
  ['n2', 'number'],
  ['s0', 'string'],
  ['s1', 'string'],
  ['b0', 'boolean'],
  ['t0', 'timestamp'],
];
const STRINGS = ['', 'a', 'ab', 'abc', 'abd', 'b', 'ba', 'bab', 'c', 'z'];
const T0 = Date.UTC(2025, 0, 1);
const OPS = ['=', '!=', '<', '<=', '>', '>='] as const;

/** Random filters and headers over a small domain, so that predicates often hit. */
export class RandomFilters {
  readonly #r: () => number;

  constructor(random: () => number) {
    this.#r = random;
  }

  #int(n: number): number {
    return Math.floor(this.#r() * n);
  }

  #pick<T>(items: readonly T[]): T {
    return items[this.#int(items.length)] as T;
  }

  value(type: AttributeType): TypedValue {
    switch (type) {
      case 'number':
        return { type, value: this.#int(4) === 0 ? this.#int(20) / 2 : this.#int(10) };
      case 'string':
        return { type, value: this.#pick(STRINGS) };
      case 'boolean':
        return { type, value: this.#r() < 0.5 };
      case 'timestamp':
        return { type, value: T0 + this.#int(10) * 3_600_000 };
    }
  }

  predicate(): Predicate {
    const [attribute, type] = this.#pick(ATTRIBUTES);
    const roll = this.#int(10);
    if (type === 'boolean')
      return { kind: 'compare', attribute, type, op: this.#r() < 0.7 ? '=' : '!=', value: this.value(type) };
    if (type === 'string' && roll === 0)
      return { kind: 'prefix', attribute, type, prefix: this.#pick(STRINGS) };
    if (roll <= 2) {
      const values = Array.from({ length: 1 + this.#int(4) }, () => this.value(type));
      const unique = [...new Map(values.map((v) => [v.value, v])).values()].sort((a, b) =>
        a.value < b.value ? -1 : a.value > b.value ? 1 : 0,
      );
      return { kind: 'in', attribute, type, values: unique };
    }
    if (roll <= 4) {
      const [a, b] = [this.value(type), this.value(type)].sort((x, y) =>
        x.value < y.value ? -1 : x.value > y.value ? 1 : 0,
      ) as [TypedValue, TypedValue];
      const same = a.value === b.value;
      return {
        kind: 'range',
        attribute,
        type,
        low: a,
        high: b,
        lowInclusive: same || this.#r() < 0.5,
        highInclusive: same || this.#r() < 0.5,
      };
    }
    return { kind: 'compare', attribute, type, op: this.#pick(OPS), value: this.value(type) };
  }

  node(depth: number): FilterNode {
    const roll = this.#int(12);
    if (depth <= 0 || roll < 5)
      return roll === 0 && this.#int(4) === 0
        ? { kind: 'constant', value: this.#r() < 0.7 }
        : { kind: 'predicate', predicate: this.predicate() };
    if (roll < 7) return { kind: 'not', child: this.node(depth - 1) };
    const children = Array.from({ length: 2 + this.#int(2) }, () => this.node(depth - 1));
    return { kind: roll < 10 ? 'and' : 'or', children };
  }

  /** Filter text (formatted from a random tree, so the parser is exercised too). */
  filterText(): string {
    return formatFilter(this.node(3));
  }

  /** A header with a random subset of the attributes, sometimes with the wrong type. */
  attributes(): Attributes {
    const out: Record<string, number | string | boolean | Date> = {};
    for (const [name, type] of ATTRIBUTES) {
      if (this.#r() < 0.25) continue;
      const t = this.#int(15) === 0 ? this.#pick(ATTRIBUTES)[1] : type;
      const v = this.value(t);
      out[name] = v.type === 'timestamp' ? new Date(v.value) : v.value;
    }
    return out;
  }
}
