/**
 * The access predicates on one attribute of one type, in the index that fits each: equality and set
 * membership in a hash map by value, prefixes in a map by prefix (looked up for each prefix length
 * present), ranges and ordering comparisons in an interval-stabbing index, `!=` in a list tested
 * against every value. Part of the index matcher (matcher-index.ts).
 */
import { testValue } from './filter-eval.ts';
import type { Predicate, TypedValue } from './filter-types.ts';
import { type BoundValue, IntervalIndex, type IntervalSpec } from './interval-index.ts';

/** Which per-attribute index holds an access predicate, best (most selective) first. */
export type AccessKind = 'eq' | 'prefix' | 'range' | 'presence';

/** What a slot needs of an interned predicate. */
export interface SlotAtom {
  readonly id: number;
  readonly predicate: Predicate;
  readonly kind: AccessKind;
}

export function accessKind(p: Predicate): AccessKind {
  if (p.kind === 'in') return 'eq';
  if (p.kind === 'prefix') return 'prefix';
  if (p.kind === 'range') return 'range';
  return p.op === '=' ? 'eq' : p.op === '!=' ? 'presence' : 'range';
}

/** The interval a range predicate (or an ordering comparison) accepts. */
function intervalOf(p: Predicate): IntervalSpec {
  if (p.kind === 'range') {
    return {
      low: p.low.value as BoundValue,
      lowInclusive: p.lowInclusive,
      high: p.high.value as BoundValue,
      highInclusive: p.highInclusive,
    };
  }
  if (p.kind !== 'compare') throw new TypeError(`not a range predicate: ${p.kind}`);
  const v = p.value.value as BoundValue;
  const below = p.op === '<' || p.op === '<=';
  const inclusive = p.op === '<=' || p.op === '>=';
  return below
    ? { low: undefined, lowInclusive: false, high: v, highInclusive: inclusive }
    : { low: v, lowInclusive: inclusive, high: undefined, highInclusive: false };
}

/** The access predicates on one attribute of one type. */
export class AttributeSlot<A extends SlotAtom> {
  readonly #atoms: readonly (A | undefined)[];
  readonly #eq = new Map<TypedValue['value'], A[]>();
  readonly #prefixes = new Map<string, A[]>();
  readonly #prefixLengths = new Map<number, number>();
  #sortedLengths: number[] | null = [];
  readonly #ranges = new IntervalIndex();
  readonly #presence: A[] = [];

  constructor(atoms: readonly (A | undefined)[]) {
    this.#atoms = atoms;
  }

  insert(atom: A): void {
    const p = atom.predicate;
    if (atom.kind === 'eq') {
      for (const v of p.kind === 'in' ? p.values : [(p as { value: TypedValue }).value])
        push(this.#eq, v.value, atom);
    } else if (atom.kind === 'prefix') {
      const prefix = (p as { prefix: string }).prefix;
      push(this.#prefixes, prefix, atom);
      this.#prefixLengths.set(prefix.length, (this.#prefixLengths.get(prefix.length) ?? 0) + 1);
      this.#sortedLengths = null;
    } else if (atom.kind === 'range') {
      this.#ranges.add(atom.id, intervalOf(p));
    } else {
      this.#presence.push(atom);
    }
  }

  remove(atom: A): void {
    const p = atom.predicate;
    if (atom.kind === 'eq') {
      for (const v of p.kind === 'in' ? p.values : [(p as { value: TypedValue }).value])
        pull(this.#eq, v.value, atom);
    } else if (atom.kind === 'prefix') {
      const prefix = (p as { prefix: string }).prefix;
      pull(this.#prefixes, prefix, atom);
      const n = (this.#prefixLengths.get(prefix.length) ?? 1) - 1;
      if (n === 0) this.#prefixLengths.delete(prefix.length);
      else this.#prefixLengths.set(prefix.length, n);
      this.#sortedLengths = null;
    } else if (atom.kind === 'range') {
      this.#ranges.delete(atom.id);
    } else {
      this.#presence.splice(this.#presence.indexOf(atom), 1);
    }
  }

  /** Calls `hit` with every access atom on this attribute that `value` satisfies. */
  satisfied(value: TypedValue['value'], hit: (atom: A) => void): void {
    const eq = this.#eq.get(value);
    if (eq !== undefined) for (const atom of eq) hit(atom);
    if (this.#prefixes.size > 0 && typeof value === 'string') this.#prefixHits(value, hit);
    if (this.#ranges.size > 0) this.#ranges.stab(value as BoundValue, (id) => hit(this.#atoms[id] as A));
    for (const atom of this.#presence) if (testValue(atom.predicate, value)) hit(atom);
  }

  #prefixHits(value: string, hit: (atom: A) => void): void {
    this.#sortedLengths ??= [...this.#prefixLengths.keys()].sort((a, b) => a - b);
    for (const length of this.#sortedLengths) {
      if (length > value.length) return;
      const atoms = this.#prefixes.get(value.slice(0, length));
      if (atoms !== undefined) for (const atom of atoms) hit(atom);
    }
  }
}

function push<K, A>(map: Map<K, A[]>, key: K, atom: A): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [atom]);
  else list.push(atom);
}

function pull<K, A>(map: Map<K, A[]>, key: K, atom: A): void {
  const list = map.get(key);
  if (list === undefined) return;
  const i = list.indexOf(atom);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) map.delete(key);
}
