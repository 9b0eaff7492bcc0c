/** Shared shapes of plans, compiled expressions and their run-time environment. */
import { SqlError } from './errors.ts';
import type { Txn } from './txn.ts';
import type { Row, TypeId, Value } from './types.ts';

/** What one execution of a plan sees besides the current row. */
export interface Env {
  /** Bound parameters, already converted to their inferred types. */
  readonly params: readonly Value[];
  /** Rows of the enclosing queries of a correlated subquery, innermost first. */
  readonly outer: readonly Row[];
  /** Results of subqueries for the row being evaluated, by slot. */
  readonly slots: unknown[];
  /** Results of uncorrelated subqueries, computed once per execution. */
  readonly cache: Map<object, unknown>;
  readonly txn: Txn;
  readonly signal: AbortSignal | undefined;
  /** The statement's start time (microseconds), what `now()` returns. */
  readonly now: bigint;
  /** Allocates hidden row ids for tables without a primary key. */
  readonly rowIds: RowIdSource;
  /** When the statement last let the event loop run (`performance.now()`); see {@link cooperate}. */
  readonly pace: { last: number };
  /** Rows produced per plan node, when EXPLAIN ANALYZE counts them. */
  readonly counts?: Map<PlanNode, number> | undefined;
  /** The same execution as seen by a correlated subquery run for `row` (pushed on `outer`). */
  withOuter(row: Row): Env;
}

/** Hands out unique hidden row ids per table. */
export interface RowIdSource {
  next(tableId: number, env: Env): Promise<bigint>;
}

/** Evaluates an expression over one row. */
export type Eval = (row: Row, env: Env) => Value;

/** A compiled expression: its type, its evaluator, and what it depends on. */
export interface Compiled {
  readonly type: TypeId;
  readonly eval: Eval;
  /** True when the value depends on neither the row nor the environment (folded). */
  readonly isConst: boolean;
  /** True when it reads columns of the current row. */
  readonly local: boolean;
  /** Set for a plain reference to a column of the current row, to its position. */
  readonly column?: number | undefined;
  /** Set for a parameter whose type is not yet known, to its 0-based index. */
  readonly param?: number | undefined;
  /** Runs the subqueries it contains for a row; absent when there are none. */
  readonly prepare?: ((row: Row, env: Env) => Promise<void>) | undefined;
}

/** A column a plan produces. */
export interface OutputColumn {
  readonly name: string;
  readonly type: TypeId;
  /** The table (alias) it comes from, for qualified references. */
  readonly table?: string | undefined;
  /** Not part of `*` (a table's hidden row id). */
  readonly hidden?: boolean | undefined;
}

/** A node of an executable plan. Plans are built once and run many times with different envs. */
export interface PlanNode {
  /** EXPLAIN's label, e.g. `Range Scan on reading using reading_pkey`. */
  readonly label: string;
  readonly columns: readonly OutputColumn[];
  readonly children: readonly PlanNode[];
  /** More EXPLAIN lines (key ranges, conditions), computed with the env's parameters. */
  details(env: Env): Promise<string[]>;
  run(env: Env): AsyncIterable<Row[]>;
}

/** Evaluates a compiled expression, running its subqueries first. */
export async function evaluate(c: Compiled, row: Row, env: Env): Promise<Value> {
  if (c.prepare !== undefined) await c.prepare(row, env);
  return c.eval(row, env);
}

/** Throws 57014 when the statement was cancelled. */
export function checkSignal(env: Env): void {
  if (env.signal?.aborted) throwCancelled();
}

/** How long a statement may hold the thread before it lets other connections' work run. */
export const STATEMENT_SLICE_MS = 10;

/**
 * Checks for cancellation and, once the statement has held the thread for
 * {@link STATEMENT_SLICE_MS}, yields to the event loop: a CPU-bound query (a huge join over an
 * in-memory or cached engine) must not stall other connections or its own cancel request.
 */
export async function cooperate(env: Env): Promise<void> {
  checkSignal(env);
  if (performance.now() - env.pace.last < STATEMENT_SLICE_MS) return;
  await new Promise<void>((resolve) => setImmediate(resolve));
  env.pace.last = performance.now();
  checkSignal(env);
}

export function throwCancelled(): never {
  throw new SqlError('ERR_SQL_CANCELED', 'canceling statement due to user request');
}

/** Wraps a node's rows so that EXPLAIN ANALYZE can count them (only then). */
export function counted(node: PlanNode, env: Env, rows: AsyncIterable<Row[]>): AsyncIterable<Row[]> {
  const counts = env.counts;
  return counts === undefined ? rows : countRows(node, counts, rows);
}

async function* countRows(
  node: PlanNode,
  counts: Map<PlanNode, number>,
  rows: AsyncIterable<Row[]>,
): AsyncIterable<Row[]> {
  for await (const batch of rows) {
    counts.set(node, (counts.get(node) ?? 0) + batch.length);
    yield batch;
  }
}
