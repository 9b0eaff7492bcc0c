/** Join operators: merge join (inputs ordered on the keys), hash join, nested loop. INNER and LEFT. */
import {
  type Compiled,
  cooperate,
  counted,
  type Env,
  type OutputColumn,
  type PlanNode,
} from './plan-types.ts';
import { type Comparator, hashRow, type Row, type Value } from './types.ts';

export type JoinKind = 'INNER' | 'LEFT' | 'CROSS';

/** One equi-join key: an expression over each side, converted to one type, with its comparator. */
export interface JoinKey {
  readonly left: Compiled;
  readonly right: Compiled;
  readonly cmp: Comparator;
}

async function* rowsOf(node: PlanNode, env: Env): AsyncIterable<Row> {
  for await (const batch of node.run(env)) yield* batch;
}

function keyValues(keys: readonly Compiled[], row: Row, env: Env): Value[] | undefined {
  const out: Value[] = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const v = keys[i]!.eval(row, env);
    if (v === null) return undefined;
    out[i] = v;
  }
  return out;
}

abstract class JoinNode implements PlanNode {
  abstract readonly label: string;
  readonly columns: readonly OutputColumn[];
  readonly children: readonly PlanNode[];
  readonly kind: JoinKind;
  protected readonly left: PlanNode;
  protected readonly right: PlanNode;
  protected readonly residual: Compiled | undefined;
  readonly #text: string;
  readonly #nulls: Row;

  constructor(kind: JoinKind, left: PlanNode, right: PlanNode, residual: Compiled | undefined, text: string) {
    this.kind = kind;
    this.left = left;
    this.right = right;
    this.children = [left, right];
    this.columns = [...left.columns, ...right.columns];
    this.residual = residual;
    this.#text = text;
    this.#nulls = new Array(right.columns.length).fill(null);
  }

  async details(): Promise<string[]> {
    return this.#text === '' ? [] : [`Join Condition: ${this.#text}`];
  }

  run(env: Env): AsyncIterable<Row[]> {
    return counted(this, env, this.rows(env));
  }

  protected abstract rows(env: Env): AsyncIterable<Row[]>;

  /** Appends the joined rows of `l` with each candidate that passes the residual; LEFT keeps unmatched `l`. */
  protected async emit(l: Row, candidates: readonly Row[], env: Env, out: Row[]): Promise<void> {
    let matched = false;
    for (const r of candidates) {
      const joined = l.concat(r);
      if (this.residual !== undefined) {
        if (this.residual.prepare !== undefined) await this.residual.prepare(joined, env);
        if (this.residual.eval(joined, env) !== true) continue;
      }
      matched = true;
      out.push(joined);
    }
    if (!matched && this.kind === 'LEFT') out.push(l.concat(this.#nulls));
  }

  protected async *probe(
    env: Env,
    match: (l: Row) => readonly Row[] | Promise<readonly Row[]>,
  ): AsyncIterable<Row[]> {
    for await (const batch of this.left.run(env)) {
      const out: Row[] = [];
      for (const l of batch) {
        await this.emit(l, await match(l), env, out);
        // One left row can join with a whole input: check the time slice per row, not per batch.
        await cooperate(env);
      }
      if (out.length > 0) yield out;
    }
  }
}

/** A join on equalities of key columns: what hash and merge joins share. */
abstract class EquiJoinNode extends JoinNode {
  readonly label: string;
  protected readonly keys: readonly JoinKey[];

  constructor(
    kind: JoinKind,
    left: PlanNode,
    right: PlanNode,
    keys: readonly JoinKey[],
    residual: Compiled | undefined,
    text: string,
    name: string,
  ) {
    super(kind, left, right, residual, text);
    this.keys = keys;
    this.label = `${name} (${kind})`;
  }
}

/** Builds a hash table of the right input on the keys, then streams the left input through it. */
export class HashJoinNode extends EquiJoinNode {
  constructor(
    kind: JoinKind,
    left: PlanNode,
    right: PlanNode,
    keys: readonly JoinKey[],
    residual: Compiled | undefined,
    text: string,
  ) {
    super(kind, left, right, keys, residual, text, 'Hash Join');
  }

  protected async *rows(env: Env): AsyncIterable<Row[]> {
    const table = new Map<unknown, Row[]>();
    const rightKeys = this.keys.map((k) => k.right);
    const leftKeys = this.keys.map((k) => k.left);
    for await (const r of rowsOf(this.right, env)) {
      for (const c of rightKeys) if (c.prepare !== undefined) await c.prepare(r, env);
      const k = keyValues(rightKeys, r, env);
      if (k === undefined) continue;
      const h = hashRow(k);
      const list = table.get(h);
      if (list === undefined) table.set(h, [r]);
      else list.push(r);
    }
    yield* this.probe(env, async (l) => {
      for (const c of leftKeys) if (c.prepare !== undefined) await c.prepare(l, env);
      const k = keyValues(leftKeys, l, env);
      return k === undefined ? [] : (table.get(hashRow(k)) ?? []);
    });
  }
}

/** Evaluates the condition for every pair (non-equi joins, CROSS JOIN). */
export class NestedLoopNode extends JoinNode {
  readonly label: string;

  constructor(kind: JoinKind, left: PlanNode, right: PlanNode, residual: Compiled | undefined, text: string) {
    super(kind, left, right, residual, text);
    this.label = `Nested Loop (${kind})`;
  }

  protected async *rows(env: Env): AsyncIterable<Row[]> {
    const all: Row[] = [];
    for await (const r of rowsOf(this.right, env)) all.push(r);
    yield* this.probe(env, () => all);
  }
}

/**
 * Merges two inputs both ordered ascending on the join keys (primary-key order), holding only one
 * group of equal right keys in memory.
 */
export class MergeJoinNode extends EquiJoinNode {
  constructor(
    kind: JoinKind,
    left: PlanNode,
    right: PlanNode,
    keys: readonly JoinKey[],
    residual: Compiled | undefined,
    text: string,
  ) {
    super(kind, left, right, keys, residual, text, 'Merge Join');
  }

  #compare(a: readonly Value[], b: readonly Value[]): number {
    for (let i = 0; i < this.keys.length; i++) {
      const c = this.keys[i]!.cmp(a[i]!, b[i]!);
      if (c !== 0) return c;
    }
    return 0;
  }

  protected async *rows(env: Env): AsyncIterable<Row[]> {
    const rightIt = rowsOf(this.right, env)[Symbol.asyncIterator]();
    const leftKeys = this.keys.map((k) => k.left);
    const rightKeys = this.keys.map((k) => k.right);
    let next: { row: Row; key: Value[] | undefined } | undefined;
    const advance = async () => {
      const r = await rightIt.next();
      next = r.done ? undefined : { row: r.value, key: keyValues(rightKeys, r.value, env) };
    };
    await advance();
    let groupKey: Value[] | undefined;
    let group: Row[] = [];
    try {
      yield* this.probe(env, async (l) => {
        const lk = keyValues(leftKeys, l, env);
        if (lk === undefined) return [];
        if (groupKey !== undefined && this.#compare(groupKey, lk) === 0) return group;
        while (next !== undefined && (next.key === undefined || this.#compare(next.key, lk) < 0))
          await advance();
        group = [];
        groupKey = lk;
        while (next !== undefined && next.key !== undefined && this.#compare(next.key, lk) === 0) {
          group.push(next.row);
          await advance();
        }
        return group;
      });
    } finally {
      await rightIt.return?.();
    }
  }
}
