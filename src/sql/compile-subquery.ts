/**
 * Subqueries in expressions: scalar `(SELECT …)`, `EXISTS (…)`, `x IN (SELECT …)`. An
 * uncorrelated subquery runs once per execution (its result is cached in the env); a correlated
 * one runs again for every row, with that row pushed on `env.outer`. Results are put in a slot
 * by `prepare` before the (synchronous) evaluator reads them.
 */
import type { ExistsExpr, InSubqueryExpr, Query, SubqueryExpr } from './ast.ts';
import { castValue } from './cast.ts';
import { type CompileContext, coerce, combinePrepare, compile } from './compile.ts';
import { SqlError } from './errors.ts';
import type { Compiled, Env, PlanNode } from './plan-types.ts';
import { commonType, hashValue, type Row, type TypeId, typeLabel, type Value } from './types.ts';

type Collect = (root: PlanNode, env: Env) => Promise<unknown>;

interface InSet {
  readonly values: Set<unknown>;
  readonly hasNull: boolean;
}

function plan(
  query: Query,
  ctx: CompileContext,
  collect: Collect,
): { prepare: NonNullable<Compiled['prepare']>; slot: number; root: PlanNode; correlated: boolean } {
  const { root, marker } = ctx.subqueries.plan(query, ctx.scope);
  const slot = ctx.subqueries.slot();
  const key = {};
  const correlated = marker.correlated;
  const prepare = async (row: Row, env: Env): Promise<void> => {
    if (!correlated && env.cache.has(key)) {
      env.slots[slot] = env.cache.get(key);
      return;
    }
    const inner: Env = correlated ? env.withOuter(row) : env;
    const result = await collect(root, inner);
    if (!correlated) env.cache.set(key, result);
    env.slots[slot] = result;
  };
  return { prepare, slot, root, correlated };
}

function oneColumn(root: PlanNode, pos: SubqueryExpr['pos']): TypeId {
  if (root.columns.length !== 1) {
    throw new SqlError('ERR_SQL_SYNTAX', 'subquery must return only one column', { position: pos });
  }
  return root.columns[0]!.type;
}

async function collectScalar(root: PlanNode, env: Env): Promise<Value> {
  let result: Value = null;
  let seen = 0;
  for await (const batch of root.run(env)) {
    seen += batch.length;
    if (seen > 1) {
      throw new SqlError(
        'ERR_SQL_CARDINALITY',
        'more than one row returned by a subquery used as an expression',
      );
    }
    if (batch.length === 1) result = batch[0]![0]!;
  }
  return result;
}

async function collectExists(root: PlanNode, env: Env): Promise<boolean> {
  for await (const batch of root.run(env)) if (batch.length > 0) return true;
  return false;
}

function compiledFrom(
  type: TypeId,
  slot: number,
  prepare: Compiled['prepare'],
  correlated: boolean,
  extra: Compiled[] = [],
): Compiled {
  return {
    type,
    eval: (_row, env) => env.slots[slot] as Value,
    isConst: false,
    local: correlated || extra.some((c) => c.local),
    prepare: combinePrepare([...extra, { prepare } as Compiled]),
  };
}

export function compileScalarSubquery(e: SubqueryExpr, ctx: CompileContext): Compiled {
  const p = plan(e.query, ctx, collectScalar);
  const type = oneColumn(p.root, e.pos);
  return compiledFrom(type === 'unknown' ? 'text' : type, p.slot, p.prepare, p.correlated);
}

export function compileExists(e: ExistsExpr, ctx: CompileContext): Compiled {
  const p = plan(e.query, ctx, collectExists);
  return compiledFrom('boolean', p.slot, p.prepare, p.correlated);
}

export function compileInSubquery(e: InSubqueryExpr, ctx: CompileContext): Compiled {
  let x = compile(e.expr, ctx);
  let target: TypeId = 'unknown';
  const collect: Collect = async (root, env) => {
    const from = root.columns[0]!.type;
    const values = new Set<unknown>();
    let hasNull = false;
    for await (const batch of root.run(env)) {
      for (const row of batch) {
        const v = row[0]!;
        if (v === null) hasNull = true;
        else values.add(hashValue(from === target ? v : castValue(v, from, target)));
      }
    }
    return { values, hasNull } satisfies InSet;
  };
  const p = plan(e.query, ctx, collect);
  const inner = oneColumn(p.root, e.pos);
  const t = commonType(x.type, inner);
  if (t === undefined) {
    throw new SqlError(
      'ERR_SQL_UNDEFINED_FUNCTION',
      `operator does not exist: ${typeLabel(x.type)} = ${typeLabel(inner)}`,
      {
        position: e.pos,
      },
    );
  }
  target = t === 'unknown' ? 'text' : t;
  x = coerce(x, target, ctx, e.pos);
  const xf = x.eval;
  const slot = p.slot;
  const base = compiledFrom('boolean', slot, p.prepare, p.correlated, [x]);
  return {
    ...base,
    eval: (row, env) => {
      const set = env.slots[slot] as InSet;
      const v = xf(row, env);
      let r: Value;
      if (v === null) r = set.values.size === 0 && !set.hasNull ? false : null;
      else r = set.values.has(hashValue(v)) ? true : set.hasNull ? null : false;
      return e.negated && r !== null ? !r : r;
    },
  };
}
