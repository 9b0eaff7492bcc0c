/**
 * The index matcher. Filters are kept in disjunctive normal form; each AND-term (conjunction) is
 * filed under one of its positive predicates, its *access predicate*: the one estimated to be the
 * most selective (selectivity.ts: equality on an attribute with many distinct values, a narrow range,
 * a long prefix), ties going to the smaller cluster. Access predicates live in per-attribute indexes
 * (attribute-slot.ts): a hash map for equality and set membership, a map per prefix length, an
 * interval-stabbing index for ranges and comparisons, a list for `!=`. A publication looks up each of
 * its attributes, gets the predicates it satisfies, and checks only the conjunctions filed under them;
 * their other literals are evaluated at most once per publication (predicates are interned and their
 * truth memoized). Conjunctions without a positive predicate (`NOT …`, `TRUE`) are checked for every
 * publication. This is the clustering variant of the counting algorithm (Fabret et al., SIGMOD 2001).
 * Equal filters are stored once and shared by their subscriptions (covering in its equality form).
 */

import { type AccessKind, AttributeSlot, accessKind } from './attribute-slot.ts';
import { ExpiryQueue } from './expiry-queue.ts';
import { evaluatePredicate } from './filter-eval.ts';
import { dnfKey, predicateKey } from './filter-format.ts';
import type { AttributeType, Conjunction, Dnf, Filter, Header, Predicate } from './filter-types.ts';
import type { AddSubscriptionOptions, SubscriptionMatcher } from './matcher.ts';
import { SelectivityStats } from './selectivity.ts';

interface Atom {
  readonly id: number;
  readonly key: string;
  readonly predicate: Predicate;
  readonly kind: AccessKind;
  readonly stats: SelectivityStats;
  refs: number;
  /** Conjunctions filed under this atom. */
  readonly cluster: Conj[];
}

interface Conj {
  readonly entry: FilterEntry;
  readonly access: Atom | null;
  /** Positive atoms other than the access atom. */
  readonly others: readonly Atom[];
  readonly negatives: readonly Atom[];
}

interface FilterEntry {
  readonly key: string;
  readonly conjs: Conj[];
  readonly subscriptions: Set<string>;
  /** The match epoch in which this filter last matched (each filter reports once per publication). */
  stamp: number;
}

/** Sizes of the index, for metrics and benchmarks. */
export interface IndexMatcherStats {
  readonly subscriptions: number;
  /** Distinct filters (equal filters are shared). */
  readonly filters: number;
  readonly conjunctions: number;
  /** Distinct predicates. */
  readonly predicates: number;
  /** Conjunctions without an access predicate, checked for every publication. */
  readonly checkedAlways: number;
}

/** A {@link SubscriptionMatcher} with statistics. */
export interface IndexMatcher extends SubscriptionMatcher {
  stats(): IndexMatcherStats;
}

/**
 * Creates an empty index matcher.
 *
 * @example
 * const m = createIndexMatcher();
 * m.add('s1', parseFilter('region = "north" AND demand > 5'), { expiresAt: Date.now() + 60_000 });
 * m.match(toHeader({ region: 'north', demand: 7 })); // ['s1']
 */
export function createIndexMatcher(): IndexMatcher {
  return new IndexMatcherImpl();
}

class IndexMatcherImpl implements IndexMatcher {
  readonly #subscriptions = new Map<string, FilterEntry>();
  readonly #entries = new Map<string, FilterEntry>();
  readonly #atomsByKey = new Map<string, Atom>();
  readonly #atoms: (Atom | undefined)[] = [];
  readonly #freeIds: number[] = [];
  readonly #slots = new Map<string, Partial<Record<AttributeType, AttributeSlot<Atom>>>>();
  readonly #always = new Set<Conj>();
  readonly #stats = new Map<string, SelectivityStats>();
  readonly #expiry = new ExpiryQueue();
  #conjunctions = 0;
  #epoch = 0;
  #stamps = new Uint32Array(64);
  #truths = new Uint8Array(64);

  get size(): number {
    return this.#subscriptions.size;
  }

  has(id: string): boolean {
    return this.#subscriptions.has(id);
  }

  add(id: string, filter: Filter, options: AddSubscriptionOptions = {}): void {
    if (this.#subscriptions.has(id)) throw new TypeError(`subscription ${id} already exists`);
    const key = dnfKey(filter.dnf);
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = this.#createEntry(key, filter.dnf);
      this.#entries.set(key, entry);
    }
    entry.subscriptions.add(id);
    this.#subscriptions.set(id, entry);
    if (options.expiresAt !== undefined) this.#expiry.set(id, options.expiresAt);
  }

  remove(id: string): boolean {
    const entry = this.#subscriptions.get(id);
    if (entry === undefined) return false;
    this.#subscriptions.delete(id);
    this.#expiry.delete(id);
    entry.subscriptions.delete(id);
    if (entry.subscriptions.size === 0) this.#destroyEntry(entry);
    return true;
  }

  setExpiry(id: string, expiresAt: number | undefined): boolean {
    if (!this.#subscriptions.has(id)) return false;
    if (expiresAt === undefined) this.#expiry.delete(id);
    else this.#expiry.set(id, expiresAt);
    return true;
  }

  expire(now: number): string[] {
    const ids = this.#expiry.popExpired(now);
    for (const id of ids) this.remove(id);
    return ids;
  }

  stats(): IndexMatcherStats {
    return {
      subscriptions: this.#subscriptions.size,
      filters: this.#entries.size,
      conjunctions: this.#conjunctions,
      predicates: this.#atomsByKey.size,
      checkedAlways: this.#always.size,
    };
  }

  match(header: Header): string[] {
    const epoch = this.#nextEpoch();
    const out: string[] = [];
    const check = (conj: Conj) => this.#check(conj, header, epoch, out);
    const hit = (atom: Atom) => {
      this.#stamps[atom.id] = epoch;
      this.#truths[atom.id] = 1;
      for (const conj of atom.cluster) check(conj);
    };
    for (const [name, v] of header) {
      const slot = this.#slots.get(name)?.[v.type];
      if (slot !== undefined) slot.satisfied(v.value, hit);
    }
    for (const conj of this.#always) check(conj);
    return out;
  }

  #check(conj: Conj, header: Header, epoch: number, out: string[]): void {
    const entry = conj.entry;
    if (entry.stamp === epoch) return;
    for (const atom of conj.others) if (!this.#truth(atom, header, epoch)) return;
    for (const atom of conj.negatives) if (this.#truth(atom, header, epoch)) return;
    entry.stamp = epoch;
    for (const id of entry.subscriptions) out.push(id);
  }

  #truth(atom: Atom, header: Header, epoch: number): boolean {
    if (this.#stamps[atom.id] === epoch) return this.#truths[atom.id] === 1;
    const value = evaluatePredicate(atom.predicate, header);
    this.#stamps[atom.id] = epoch;
    this.#truths[atom.id] = value ? 1 : 0;
    return value;
  }

  #nextEpoch(): number {
    if (this.#epoch === 0xffff_ffff) {
      this.#epoch = 0;
      this.#stamps.fill(0);
      for (const entry of this.#entries.values()) entry.stamp = 0;
    }
    return ++this.#epoch;
  }

  #createEntry(key: string, dnf: Dnf): FilterEntry {
    const entry: FilterEntry = { key, conjs: [], subscriptions: new Set(), stamp: 0 };
    for (const conjunction of dnf) entry.conjs.push(this.#createConj(entry, conjunction));
    return entry;
  }

  #destroyEntry(entry: FilterEntry): void {
    this.#entries.delete(entry.key);
    for (const conj of entry.conjs) {
      this.#conjunctions--;
      if (conj.access === null) this.#always.delete(conj);
      else this.#unfile(conj.access, conj);
      for (const atom of [...conj.others, ...conj.negatives]) this.#release(atom);
    }
  }

  #createConj(entry: FilterEntry, conjunction: Conjunction): Conj {
    const positives: Atom[] = [];
    const negatives: Atom[] = [];
    for (const literal of conjunction)
      (literal.negated ? negatives : positives).push(this.#intern(literal.predicate));
    let access: Atom | null = null;
    for (const atom of positives) {
      if (access === null || better(atom, access)) {
        access = atom;
      }
    }
    const conj: Conj = { entry, access, others: positives.filter((a) => a !== access), negatives };
    this.#conjunctions++;
    if (access === null) this.#always.add(conj);
    else this.#file(access, conj);
    return conj;
  }

  #file(atom: Atom, conj: Conj): void {
    atom.cluster.push(conj);
    if (atom.cluster.length === 1) this.#slotOf(atom.predicate).insert(atom);
  }

  #unfile(atom: Atom, conj: Conj): void {
    const i = atom.cluster.indexOf(conj);
    atom.cluster[i] = atom.cluster[atom.cluster.length - 1] as Conj;
    atom.cluster.pop();
    if (atom.cluster.length === 0) this.#slotOf(atom.predicate).remove(atom);
    this.#release(atom);
  }

  #intern(predicate: Predicate): Atom {
    const key = predicateKey(predicate);
    let atom = this.#atomsByKey.get(key);
    if (atom === undefined) {
      const id = this.#freeIds.pop() ?? this.#atoms.length;
      const kind = accessKind(predicate);
      const stats = this.#statsOf(predicate);
      stats.note(predicate, 1);
      atom = { id, key, predicate, kind, stats, refs: 0, cluster: [] };
      this.#atoms[id] = atom;
      this.#atomsByKey.set(key, atom);
      this.#grow(id);
    }
    atom.refs++;
    return atom;
  }

  #release(atom: Atom): void {
    if (--atom.refs > 0) return;
    atom.stats.note(atom.predicate, -1);
    if (atom.stats.empty) this.#stats.delete(statsKey(atom.predicate));
    this.#atomsByKey.delete(atom.key);
    this.#atoms[atom.id] = undefined;
    this.#freeIds.push(atom.id);
    this.#stamps[atom.id] = 0;
  }

  #statsOf(p: Predicate): SelectivityStats {
    const key = statsKey(p);
    let stats = this.#stats.get(key);
    if (stats === undefined) {
      stats = new SelectivityStats();
      this.#stats.set(key, stats);
    }
    return stats;
  }

  #grow(id: number): void {
    if (id < this.#stamps.length) return;
    const stamps = new Uint32Array(this.#stamps.length * 2);
    stamps.set(this.#stamps);
    const truths = new Uint8Array(this.#truths.length * 2);
    truths.set(this.#truths);
    this.#stamps = stamps;
    this.#truths = truths;
  }

  #slotOf(p: Predicate): AttributeSlot<Atom> {
    let byType = this.#slots.get(p.attribute);
    if (byType === undefined) {
      byType = {};
      this.#slots.set(p.attribute, byType);
    }
    let slot = byType[p.type];
    if (slot === undefined) {
      slot = new AttributeSlot<Atom>(this.#atoms);
      byType[p.type] = slot;
    }
    return slot;
  }
}

function statsKey(p: Predicate): string {
  return `${p.type}:${p.attribute}`;
}

/** Whether `a` is a better access predicate than `b`: more selective, or as selective with a smaller cluster. */
function better(a: Atom, b: Atom): boolean {
  const ea = a.stats.estimate(a.predicate);
  const eb = b.stats.estimate(b.predicate);
  return ea < eb || (ea === eb && a.cluster.length < b.cluster.length);
}
