/**
 * Planning of GROUP BY / aggregates: finds the aggregate calls, compiles their arguments and the
 * group keys over the input rows, and resolves expressions above the aggregation to the group
 * key or aggregate they match (anything else naming an ungrouped column is 42803).
 */
import type { ColumnRef, Expr, FunctionCall } from './ast.ts';
import { type AggMatcher, type CompileContext, coerce, compile } from './compile.ts';
import { SqlError } from './errors.ts';
import { type AggFunc, type AggSpec, aggregateType } from './exec-aggregate.ts';
import { formatExpr } from './format.ts';
import { AGGREGATES } from './functions.ts';
import type { Compiled } from './plan-types.ts';
import type { RowScope, Scope, SubqueryMarker } from './scope.ts';
import type { TypeId } from './types.ts';

/** A structural key of an expression: positions dropped, column references resolved in `scope`. */
export function exprKey(e: Expr, scope: RowScope): string {
  return JSON.stringify(e, function (this: unknown, k, v) {
    if (k === 'pos') return undefined;
    if (typeof v === 'bigint') return `${v}n`;
    if (v !== null && typeof v === 'object' && (v as Expr).kind === 'ColumnRef') {
      try {
        const hit = scope.resolveHere(v as ColumnRef);
        if (hit !== undefined) return { col: hit.index };
      } catch {
        // ambiguous: keep the names
      }
    }
    return v;
  });
}

/** Visits an expression's nodes, not descending into subqueries' own queries. */
function walk(e: Expr, visit: (e: Expr) => boolean): void {
  if (!visit(e)) return;
  for (const [k, v] of Object.entries(e)) {
    if (k === 'pos' || k === 'query') continue;
    if (Array.isArray(v)) {
      for (const x of v) {
        if (x !== null && typeof x === 'object' && 'kind' in x) {
          if (x.kind === 'CaseWhen') {
            walk(x.when, visit);
            walk(x.then, visit);
          } else walk(x as Expr, visit);
        }
      }
    } else if (v !== null && typeof v === 'object' && 'kind' in v) walk(v as Expr, visit);
  }
}

/** The aggregate calls in expressions (outermost only; nested aggregates are an error). */
export function findAggregates(exprs: readonly Expr[]): FunctionCall[] {
  const found: FunctionCall[] = [];
  for (const e of exprs) {
    walk(e, (n) => {
      if (n.kind !== 'FunctionCall' || !AGGREGATES.has(n.name)) return true;
      for (const a of n.args) {
        walk(a, (inner) => {
          if (inner.kind === 'FunctionCall' && AGGREGATES.has(inner.name)) {
            throw new SqlError('ERR_SQL_GROUPING', 'aggregate function calls cannot be nested', {
              position: inner.pos,
            });
          }
          return true;
        });
      }
      found.push(n);
      return false;
    });
  }
  return found;
}

/** Compiles an aggregate call's argument over the input rows. */
export function aggregateSpec(call: FunctionCall, ctx: CompileContext): AggSpec {
  const func = call.name as AggFunc;
  if (call.star) {
    if (func !== 'count')
      throw new SqlError('ERR_SQL_SYNTAX', `${func}(*) is not valid`, { position: call.pos });
    return { func, arg: undefined, distinct: false, type: 'bigint', text: 'count(*)' };
  }
  if (call.args.length !== 1) {
    throw new SqlError('ERR_SQL_UNDEFINED_FUNCTION', `function ${func} takes exactly one argument`, {
      position: call.pos,
    });
  }
  let arg = compile(call.args[0]!, { ...ctx, clause: `${func}()` });
  if (arg.type === 'unknown')
    arg = coerce(arg, func === 'sum' || func === 'avg' ? 'numeric' : 'text', ctx, call.pos);
  if (
    (func === 'sum' || func === 'avg') &&
    !['integer', 'bigint', 'numeric', 'real', 'double'].includes(arg.type)
  ) {
    throw new SqlError('ERR_SQL_UNDEFINED_FUNCTION', `function ${func}(${arg.type}) does not exist`, {
      position: call.pos,
    });
  }
  return { func, arg, distinct: call.distinct, type: aggregateType(func, arg.type), text: formatExpr(call) };
}

/** Column references above an aggregation: only grouped columns are visible. */
export class AggScope implements Scope {
  readonly parent: Scope | undefined;
  readonly marker: SubqueryMarker | undefined;
  readonly #input: RowScope;
  readonly #groupCols: ReadonlyMap<number, { index: number; type: TypeId }>;

  constructor(input: RowScope, groupCols: ReadonlyMap<number, { index: number; type: TypeId }>) {
    this.#input = input;
    this.parent = input.parent;
    this.marker = input.marker;
    this.#groupCols = groupCols;
  }

  resolveHere(ref: ColumnRef): { index: number; type: TypeId } | undefined {
    const hit = this.#input.resolveHere(ref);
    if (hit === undefined) return undefined;
    const g = this.#groupCols.get(hit.index);
    if (g !== undefined) return g;
    const name = ref.table === undefined ? ref.name : `${ref.table}.${ref.name}`;
    throw new SqlError(
      'ERR_SQL_GROUPING',
      `column "${name}" must appear in the GROUP BY clause or be used in an aggregate function`,
      { position: ref.pos },
    );
  }

  hasTable(name: string): boolean {
    return this.#input.hasTable(name);
  }
}

/** Maps group-key expressions and aggregate calls to positions of the aggregated rows. */
export class AggregateMatcher implements AggMatcher {
  readonly #input: RowScope;
  readonly #groups: ReadonlyMap<string, { index: number; type: TypeId }>;
  readonly #aggs: ReadonlyMap<string, { index: number; type: TypeId }>;

  constructor(
    input: RowScope,
    groupKeys: readonly Expr[],
    groupTypes: readonly TypeId[],
    aggCalls: readonly FunctionCall[],
    aggTypes: readonly TypeId[],
  ) {
    this.#input = input;
    const groups = new Map<string, { index: number; type: TypeId }>();
    groupKeys.forEach((g, i) => {
      groups.set(exprKey(g, input), { index: i, type: groupTypes[i]! });
    });
    const aggs = new Map<string, { index: number; type: TypeId }>();
    aggCalls.forEach((a, i) => {
      aggs.set(exprKey(a, input), { index: groupKeys.length + i, type: aggTypes[i]! });
    });
    this.#groups = groups;
    this.#aggs = aggs;
  }

  match(e: Expr, _ctx: CompileContext): Compiled | undefined {
    if (e.kind === 'IntegerLiteral' || e.kind === 'StringLiteral' || e.kind === 'Parameter') return undefined;
    const key = exprKey(e, this.#input);
    const hit = (e.kind === 'FunctionCall' && AGGREGATES.has(e.name) ? this.#aggs : this.#groups).get(key);
    if (hit === undefined) return undefined;
    const { index, type } = hit;
    return { type, eval: (row) => row[index]!, isConst: false, local: true };
  }
}
