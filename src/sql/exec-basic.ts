/** Row-at-a-time operators: filter, project, sort, limit, distinct, constant rows. */
import { SqlError } from './errors.ts';
import {
  type Compiled,
  cooperate,
  counted,
  type Env,
  type OutputColumn,
  type PlanNode,
} from './plan-types.ts';
import { type Comparator, hashRow, type Row, type Value } from './types.ts';

abstract class Unary implements PlanNode {
  abstract readonly label: string;
  readonly child: PlanNode;
  readonly columns: readonly OutputColumn[];

  constructor(child: PlanNode, columns: readonly OutputColumn[]) {
    this.child = child;
    this.columns = columns;
  }

  get children(): readonly PlanNode[] {
    return [this.child];
  }

  async details(_env: Env): Promise<string[]> {
    return [];
  }

  run(env: Env): AsyncIterable<Row[]> {
    return counted(this, env, this.rows(env));
  }

  protected abstract rows(env: Env): AsyncIterable<Row[]>;
}

/** Keeps the rows for which a condition is true. */
export class FilterNode extends Unary {
  readonly label = 'Filter';
  readonly #pred: Compiled;
  readonly #text: string;

  constructor(child: PlanNode, pred: Compiled, text: string) {
    super(child, child.columns);
    this.#pred = pred;
    this.#text = text;
  }

  override async details(): Promise<string[]> {
    return [`Condition: ${this.#text}`];
  }

  protected async *rows(env: Env): AsyncIterable<Row[]> {
    const { prepare, eval: f } = this.#pred;
    for await (const batch of this.child.run(env)) {
      const out: Row[] = [];
      for (const row of batch) {
        if (prepare !== undefined) await prepare(row, env);
        if (f(row, env) === true) out.push(row);
      }
      if (out.length > 0) yield out;
    }
  }
}

/** Computes output columns from input rows. */
export class ProjectNode extends Unary {
  readonly label = 'Project';
  readonly #exprs: readonly Compiled[];
  readonly #prepare: Compiled['prepare'];

  constructor(
    child: PlanNode,
    exprs: readonly Compiled[],
    columns: readonly OutputColumn[],
    prepare: Compiled['prepare'],
  ) {
    super(child, columns);
    this.#exprs = exprs;
    this.#prepare = prepare;
  }

  protected async *rows(env: Env): AsyncIterable<Row[]> {
    const exprs = this.#exprs;
    const n = exprs.length;
    const prepare = this.#prepare;
    for await (const batch of this.child.run(env)) {
      const out: Row[] = new Array(batch.length);
      for (let i = 0; i < batch.length; i++) {
        const row = batch[i]!;
        if (prepare !== undefined) await prepare(row, env);
        const o: Row = new Array(n);
        for (let j = 0; j < n; j++) o[j] = exprs[j]!.eval(row, env);
        out[i] = o;
      }
      yield out;
    }
  }
}

/** A sort key: a row position, its comparator, direction and where NULLs go. */
export interface SortKey {
  readonly index: number;
  readonly cmp: Comparator;
  readonly desc: boolean;
  readonly nullsFirst: boolean;
}

/** Sorts every input row (stable). */
export class SortNode extends Unary {
  readonly label = 'Sort';
  readonly #keys: readonly SortKey[];
  readonly #text: string;

  constructor(child: PlanNode, keys: readonly SortKey[], text: string) {
    super(child, child.columns);
    this.#keys = keys;
    this.#text = text;
  }

  override async details(): Promise<string[]> {
    return [`Sort Key: ${this.#text}`];
  }

  protected async *rows(env: Env): AsyncIterable<Row[]> {
    const all: Row[] = [];
    for await (const batch of this.child.run(env)) {
      for (const row of batch) all.push(row);
      await cooperate(env);
    }
    const keys = this.#keys;
    all.sort((a, b) => {
      for (const k of keys) {
        const x = a[k.index]!;
        const y = b[k.index]!;
        let c: number;
        if (x === null || y === null) {
          if (x === y) continue;
          c = (x === null) === k.nullsFirst ? -1 : 1;
          return c;
        }
        c = k.cmp(x, y);
        if (c !== 0) return k.desc ? -c : c;
      }
      return 0;
    });
    for (let i = 0; i < all.length; i += 512) yield all.slice(i, i + 512);
  }
}

/** Evaluates LIMIT/OFFSET expressions: non-negative integers or NULL (no limit). */
export function countOf(c: Compiled | undefined, env: Env, what: string): number | undefined {
  if (c === undefined) return undefined;
  const v = c.eval([], env);
  if (v === null) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    throw new SqlError('ERR_SQL_INVALID_PARAMETER_VALUE', `${what} must not be negative`);
  }
  return Math.floor(n);
}

/** Skips `offset` rows, then passes at most `limit`. */
export class LimitNode extends Unary {
  readonly label = 'Limit';
  readonly #limit: Compiled | undefined;
  readonly #offset: Compiled | undefined;

  constructor(child: PlanNode, limit: Compiled | undefined, offset: Compiled | undefined) {
    super(child, child.columns);
    this.#limit = limit;
    this.#offset = offset;
  }

  /** LIMIT + OFFSET for this execution (what a scan below may stop at). */
  needed(env: Env): number {
    const l = countOf(this.#limit, env, 'LIMIT');
    return l === undefined ? Infinity : l + (countOf(this.#offset, env, 'OFFSET') ?? 0);
  }

  override async details(env: Env): Promise<string[]> {
    return [
      `Count: ${countOf(this.#limit, env, 'LIMIT') ?? 'ALL'}, Offset: ${countOf(this.#offset, env, 'OFFSET') ?? 0}`,
    ];
  }

  protected async *rows(env: Env): AsyncIterable<Row[]> {
    let limit = countOf(this.#limit, env, 'LIMIT') ?? Infinity;
    let skip = countOf(this.#offset, env, 'OFFSET') ?? 0;
    if (limit === 0) return;
    for await (const batch of this.child.run(env)) {
      let b = batch;
      if (skip > 0) {
        const n = Math.min(skip, b.length);
        skip -= n;
        b = b.slice(n);
      }
      if (b.length === 0) continue;
      if (b.length >= limit) {
        yield b.slice(0, limit);
        return;
      }
      limit -= b.length;
      yield b;
    }
  }
}

/** Drops duplicate rows (NULLs equal each other, as DISTINCT wants). */
export class DistinctNode extends Unary {
  readonly label = 'HashDistinct';

  protected async *rows(env: Env): AsyncIterable<Row[]> {
    const seen = new Set<unknown>();
    for await (const batch of this.child.run(env)) {
      const out = batch.filter((row) => {
        const k = hashRow(row);
        if (seen.has(k)) return false;
        seen.add(k);
        return true;
      });
      if (out.length > 0) yield out;
    }
  }
}

/** Constant rows (SELECT without FROM, INSERT … VALUES). */
export class ValuesNode implements PlanNode {
  readonly label: string;
  readonly columns: readonly OutputColumn[];
  readonly children: readonly PlanNode[] = [];
  readonly #rows: readonly (readonly Compiled[])[];

  constructor(rows: readonly (readonly Compiled[])[], columns: readonly OutputColumn[], label = 'Values') {
    this.#rows = rows;
    this.columns = columns;
    this.label = label;
  }

  async details(): Promise<string[]> {
    return [`Rows: ${this.#rows.length}`];
  }

  /** The rows' expressions (an INSERT evaluates them straight into table rows). */
  get expressions(): readonly (readonly Compiled[])[] {
    return this.#rows;
  }

  /** The rows, computed synchronously when no expression has a subquery (else undefined). */
  rowsNow(env: Env): Row[] | undefined {
    const out: Row[] = [];
    for (const exprs of this.#rows) {
      const row: Value[] = new Array(exprs.length);
      for (let i = 0; i < exprs.length; i++) {
        const c = exprs[i]!;
        if (c.prepare !== undefined) return undefined;
        row[i] = c.eval([], env);
      }
      out.push(row);
    }
    return out;
  }

  async *run(env: Env): AsyncIterable<Row[]> {
    const now = this.rowsNow(env);
    if (now !== undefined) {
      yield now;
      return;
    }
    const out: Row[] = [];
    for (const exprs of this.#rows) {
      const row: Value[] = [];
      for (const c of exprs) {
        if (c.prepare !== undefined) await c.prepare([], env);
        row.push(c.eval([], env));
      }
      out.push(row);
    }
    yield out;
  }
}
