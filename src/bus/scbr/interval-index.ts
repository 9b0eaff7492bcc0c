/**
 * Interval stabbing for range predicates: which intervals contain a value? Static centered interval
 * trees (query O(log n + k)) kept in the logarithmic method of Bentley and Saxe: level i holds 2^i
 * intervals or nothing, an insertion merges full levels into the next free one (amortized
 * O(log² n)), a deletion marks the interval dead and everything is rebuilt once the dead outnumber
 * the live. Bounds are numbers or strings, each open, closed or absent (unbounded).
 */

/** A bound value. Strings order by UTF-16 code units. */
export type BoundValue = number | string;

/** An interval; `low`/`high` undefined means unbounded on that side. */
export interface IntervalSpec {
  readonly low: BoundValue | undefined;
  readonly lowInclusive: boolean;
  readonly high: BoundValue | undefined;
  readonly highInclusive: boolean;
}

interface Entry extends IntervalSpec {
  readonly id: number;
  dead: boolean;
}

type Node =
  | { readonly leaf: true; readonly entries: readonly Entry[] }
  | {
      readonly leaf: false;
      readonly center: BoundValue;
      /** Entries containing `center`, by low ascending (unbounded first, closed before open at ties). */
      readonly byLow: readonly Entry[];
      /** The same entries by high descending (unbounded first, closed before open at ties). */
      readonly byHigh: readonly Entry[];
      readonly left: Node | null;
      readonly right: Node | null;
    };

const LEAF_SIZE = 8;

/** Whether `v` lies in the interval. */
export function contains(i: IntervalSpec, v: BoundValue): boolean {
  return lowOk(i, v) && highOk(i, v);
}

function lowOk(i: IntervalSpec, v: BoundValue): boolean {
  return i.low === undefined || i.low < v || (i.lowInclusive && i.low === v);
}

function highOk(i: IntervalSpec, v: BoundValue): boolean {
  return i.high === undefined || i.high > v || (i.highInclusive && i.high === v);
}

/** A dynamic set of intervals identified by integer ids. */
export class IntervalIndex {
  readonly #byId = new Map<number, Entry>();
  #levels: (Node | null)[] = [];
  #levelEntries: (Entry[] | null)[] = [];
  #dead = 0;

  get size(): number {
    return this.#byId.size;
  }

  /** Adds an interval under `id` (a `TypeError` when `id` is present). */
  add(id: number, spec: IntervalSpec): void {
    if (this.#byId.has(id)) throw new TypeError(`interval ${id} is already indexed`);
    const entry: Entry = { ...spec, id, dead: false };
    this.#byId.set(id, entry);
    let carry: Entry[] = [entry];
    let level = 0;
    for (; this.#levelEntries[level] != null; level++) {
      const entries = this.#levelEntries[level] as Entry[];
      const live = entries.filter((e) => !e.dead);
      this.#dead -= entries.length - live.length;
      carry = carry.concat(live);
      this.#levelEntries[level] = null;
      this.#levels[level] = null;
    }
    this.#levelEntries[level] = carry;
    this.#levels[level] = build(carry);
  }

  /** Removes the interval `id`; false when absent. */
  delete(id: number): boolean {
    const entry = this.#byId.get(id);
    if (entry === undefined) return false;
    this.#byId.delete(id);
    entry.dead = true;
    if (++this.#dead > this.#byId.size + LEAF_SIZE) this.#rebuild();
    return true;
  }

  /** Calls `report` with the id of every interval containing `v`, once each. */
  stab(v: BoundValue, report: (id: number) => void): void {
    for (const node of this.#levels) if (node !== null) stabNode(node, v, report);
  }

  #rebuild(): void {
    const live = [...this.#byId.values()];
    this.#levels = [];
    this.#levelEntries = [];
    this.#dead = 0;
    // Lay the live entries out as the binary digits of their count.
    let offset = 0;
    for (let level = 0; 2 ** level <= live.length; level++) {
      const size = 2 ** level;
      let part: Entry[] | null = null;
      if ((live.length & size) !== 0) {
        part = live.slice(offset, offset + size);
        offset += size;
      }
      this.#levelEntries.push(part);
      this.#levels.push(part === null ? null : build(part));
    }
  }
}

function stabNode(start: Node, v: BoundValue, report: (id: number) => void): void {
  let node: Node | null = start;
  while (node !== null) {
    if (node.leaf) {
      for (const e of node.entries) if (!e.dead && contains(e, v)) report(e.id);
      return;
    }
    if (v < node.center) {
      // Every entry here reaches at least the center, beyond v: only the low side decides.
      for (const e of node.byLow) {
        if (!lowOk(e, v)) break;
        if (!e.dead) report(e.id);
      }
      node = node.left;
    } else if (v > node.center) {
      for (const e of node.byHigh) {
        if (!highOk(e, v)) break;
        if (!e.dead) report(e.id);
      }
      node = node.right;
    } else {
      for (const e of node.byLow) if (!e.dead) report(e.id);
      return;
    }
  }
}

function build(entries: readonly Entry[]): Node | null {
  if (entries.length === 0) return null;
  if (entries.length <= LEAF_SIZE) return { leaf: true, entries };
  const center = medianEndpoint(entries);
  if (center === undefined) return { leaf: true, entries };
  const left: Entry[] = [];
  const right: Entry[] = [];
  const here: Entry[] = [];
  for (const e of entries) {
    if (!highOk(e, center)) left.push(e);
    else if (!lowOk(e, center)) right.push(e);
    else here.push(e);
  }
  // No entry contains the center (many open bounds on one value): a leaf keeps this correct.
  if (here.length === 0 && (left.length === 0 || right.length === 0)) return { leaf: true, entries };
  return {
    leaf: false,
    center,
    byLow: here.slice().sort(byLowAscending),
    byHigh: here.slice().sort(byHighDescending),
    left: build(left),
    right: build(right),
  };
}

function medianEndpoint(entries: readonly Entry[]): BoundValue | undefined {
  const points: BoundValue[] = [];
  for (const e of entries) {
    if (e.low !== undefined) points.push(e.low);
    if (e.high !== undefined) points.push(e.high);
  }
  points.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return points[points.length >> 1];
}

function byLowAscending(a: Entry, b: Entry): number {
  if (a.low === undefined || b.low === undefined)
    return (a.low === undefined ? 0 : 1) - (b.low === undefined ? 0 : 1);
  if (a.low !== b.low) return a.low < b.low ? -1 : 1;
  return (a.lowInclusive ? 0 : 1) - (b.lowInclusive ? 0 : 1);
}

function byHighDescending(a: Entry, b: Entry): number {
  if (a.high === undefined || b.high === undefined)
    return (a.high === undefined ? 0 : 1) - (b.high === undefined ? 0 : 1);
  if (a.high !== b.high) return a.high > b.high ? -1 : 1;
  return (a.highInclusive ? 0 : 1) - (b.highInclusive ? 0 : 1);
}
