/** Running a plan in a transaction: binding parameters, collecting rows, command tags, EXPLAIN. */
import type { ExplainStatement } from './ast.ts';
import { bindValue, outputValue } from './cast.ts';
import { SqlError } from './errors.ts';
import type { DmlNode, DmlResult } from './exec-dml.ts';
import { TableScanNode } from './exec-scan.ts';
import type { Env, OutputColumn, PlanNode, RowIdSource } from './plan-types.ts';
import { explainLines, type StatementPlan } from './planner.ts';
import type { Txn } from './txn.ts';
import { type Row, type TypeId, typeLabel, type Value } from './types.ts';

/** A column of a result. */
export interface ResultColumn {
  readonly name: string;
  /** The SQL type, as PostgreSQL names it (`bigint`, `double precision`, `timestamp`…). */
  readonly type: string;
}

/** What a statement returns. */
export interface QueryResult {
  readonly columns: readonly ResultColumn[];
  /** Rows of values (see `types.ts` for how each SQL type is represented). */
  readonly rows: unknown[][];
  /** Rows returned by a query, or affected by INSERT/UPDATE/DELETE. */
  readonly rowCount: number;
  /** The command tag, as PostgreSQL sends it: `SELECT 3`, `INSERT 0 3`, `UPDATE 1`, `BEGIN`. */
  readonly command: string;
}

/** What one execution needs from the session. */
export interface RunContext {
  readonly txn: Txn;
  readonly signal: AbortSignal | undefined;
  /** The statement's (or transaction's) time, read only if the statement calls now(). */
  readonly now: () => bigint;
  readonly rowIds: RowIdSource;
}

/** Converts parameters to the plan's inferred types; 08P01 when their number is wrong. */
export function bindParams(params: readonly unknown[], types: readonly TypeId[]): Value[] {
  if (params.length !== types.length) {
    throw new SqlError(
      'ERR_SQL_PROTOCOL_VIOLATION',
      `bind message supplies ${params.length} parameters, but prepared statement requires ${types.length}`,
    );
  }
  const out: Value[] = new Array(params.length);
  for (let i = 0; i < params.length; i++) out[i] = bindValue(params[i], types[i]!, i + 1);
  return out;
}

const NO_ROWS: readonly Row[] = Object.freeze([]);

/**
 * One execution's {@link Env}. A class, not an object literal with getters: one is made per
 * statement, and a literal with accessors costs about a microsecond to create.
 */
class ExecEnv implements Env {
  readonly params: readonly Value[];
  readonly outer: readonly Row[];
  readonly slots: unknown[];
  readonly txn: Txn;
  readonly signal: AbortSignal | undefined;
  readonly rowIds: RowIdSource;
  readonly pace: { last: number };
  readonly counts: Map<PlanNode, number> | undefined;
  readonly #shared: { cache?: Map<object, unknown>; now?: bigint; readonly clock: () => bigint };

  constructor(
    ctx: Pick<RunContext, 'txn' | 'signal' | 'rowIds'>,
    params: readonly Value[],
    outer: readonly Row[],
    counts: Map<PlanNode, number> | undefined,
    shared: { cache?: Map<object, unknown>; now?: bigint; readonly clock: () => bigint },
    pace: { last: number },
    slots: unknown[],
  ) {
    this.params = params;
    this.outer = outer;
    this.slots = slots;
    this.txn = ctx.txn;
    this.signal = ctx.signal;
    this.rowIds = ctx.rowIds;
    this.counts = counts;
    this.#shared = shared;
    this.pace = pace;
  }

  get cache(): Map<object, unknown> {
    this.#shared.cache ??= new Map();
    return this.#shared.cache;
  }

  get now(): bigint {
    this.#shared.now ??= this.#shared.clock();
    return this.#shared.now;
  }

  withOuter(row: Row): Env {
    const outer = [row, ...this.outer];
    return new ExecEnv(this, this.params, outer, this.counts, this.#shared, this.pace, this.slots);
  }
}

export function makeEnv(ctx: RunContext, params: readonly Value[], counts?: Map<PlanNode, number>): Env {
  const pace = { last: performance.now() };
  return new ExecEnv(ctx, params, NO_ROWS, counts, { clock: ctx.now }, pace, []);
}

export function resultColumns(columns: readonly OutputColumn[]): ResultColumn[] {
  return columns.map((c) => ({ name: c.name, type: typeLabel(c.type) }));
}

/** Converts rows for callers, in place (rows are fresh arrays): only TIMESTAMP and NUMERIC change. */
function output(rows: Row[], columns: readonly OutputColumn[]): unknown[][] {
  if (rows.length === 0) return rows as unknown[][];
  const convert: number[] = [];
  columns.forEach((c, i) => {
    if (c.type === 'timestamp' || c.type === 'numeric') convert.push(i);
  });
  if (convert.length === 0) return rows as unknown[][];
  const out = rows as unknown[][];
  for (const r of out) {
    for (const i of convert) r[i] = outputValue(r[i] as Value, columns[i]!.type);
  }
  return out;
}

function tag(plan: StatementPlan, n: number): string {
  if (plan.command === 'INSERT') return n === 1 ? 'INSERT 0 1' : `INSERT 0 ${n}`;
  return `${plan.command} ${n}`;
}

/** Runs a plan: a query's rows, or a DML statement's effect and RETURNING rows. */
export function runPlan(
  plan: StatementPlan,
  ctx: RunContext,
  params: readonly unknown[],
): QueryResult | Promise<QueryResult> {
  for (const t of plan.tables) ctx.txn.trackKey(t.descriptorKeyText);
  const env = makeEnv(ctx, bindParams(params, plan.paramTypes));
  if (plan.kind === 'query') return runQuery(plan, env);
  // DML: without awaiting when the statement needs nothing awaited (a single-row INSERT).
  const r = (plan.root as DmlNode).execute(env);
  return r instanceof Promise ? r.then((done) => dmlResult(plan, done)) : dmlResult(plan, r);
}

function dmlResult(plan: StatementPlan, r: DmlResult): QueryResult {
  return {
    columns: plan.resultColumns,
    rows: output(r.rows, plan.columns),
    rowCount: r.rowCount,
    command: tag(plan, r.rowCount),
  };
}

async function runQuery(plan: StatementPlan, env: Env): Promise<QueryResult> {
  const direct = plan.root instanceof TableScanNode ? plan.root.lookupNow(env) : undefined;
  let rows: Row[];
  if (direct !== undefined) rows = await direct;
  else {
    rows = [];
    for await (const batch of plan.root.run(env)) for (const r of batch) rows.push(r);
  }
  return {
    columns: plan.resultColumns,
    rows: output(rows, plan.columns),
    rowCount: rows.length,
    command: tag(plan, rows.length),
  };
}

/** Streams a query's rows (converted for callers) as the scan reads them. */
export async function* streamPlan(
  plan: StatementPlan,
  ctx: RunContext,
  params: readonly unknown[],
): AsyncIterable<unknown[]> {
  for (const t of plan.tables) ctx.txn.trackKey(t.descriptorKey);
  const env = makeEnv(ctx, bindParams(params, plan.paramTypes));
  for await (const batch of plan.root.run(env)) yield* output(batch, plan.columns);
}

/** EXPLAIN [ANALYZE]: the plan's lines, after running it when ANALYZE. */
export async function runExplain(
  stmt: ExplainStatement,
  plan: StatementPlan,
  ctx: RunContext,
  params: readonly unknown[],
): Promise<QueryResult> {
  const bound = params.length === 0 ? plan.paramTypes.map(() => null) : bindParams(params, plan.paramTypes);
  const counts = stmt.analyze ? new Map<PlanNode, number>() : undefined;
  const env = makeEnv(ctx, bound, counts);
  if (stmt.analyze) {
    if (plan.kind === 'query') for await (const _ of plan.root.run(env));
    else {
      const r = await (plan.root as DmlNode).execute(env);
      counts!.set(plan.root, r.rowCount);
    }
  }
  const lines = await explainLines(plan.root, env);
  return {
    columns: [{ name: 'QUERY PLAN', type: 'text' }],
    rows: lines.map((l) => [l]),
    rowCount: lines.length,
    command: 'EXPLAIN',
  };
}
