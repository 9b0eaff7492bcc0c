/** Planning of queries: SELECT blocks and set operations, with ORDER BY, DISTINCT, LIMIT/OFFSET. */
import type {
  ColumnRef,
  Expr,
  OrderByItem,
  Query,
  SelectItem,
  SelectStatement,
  SetOperation,
} from './ast.ts';
import { type CompileContext, coerce, combinePrepare, compile, compileCondition } from './compile.ts';
import { SqlError } from './errors.ts';
import { AggregateNode } from './exec-aggregate.ts';
import { DistinctNode, FilterNode, LimitNode, ProjectNode, SortNode, ValuesNode } from './exec-basic.ts';
import { SetOpNode } from './exec-setop.ts';
import { formatExpr } from './format.ts';
import { AggregateMatcher, AggScope, aggregateSpec, exprKey, findAggregates } from './plan-aggregate.ts';
import { type FromPlan, planFrom } from './plan-from.ts';
import { orderByOutput, orderFromScan, type ResolvedOrder, resolvedOrder, sortKeys } from './plan-order.ts';
import type { Compiled, OutputColumn, PlanNode } from './plan-types.ts';
import { compileContext, type PlannerContext } from './planner-context.ts';
import { RowScope, type Scope, type SubqueryMarker } from './scope.ts';
import { commonType, type TypeId } from './types.ts';

/** Plans a query; `outer` is the enclosing query's scope for a subquery. */
export function planQuery(
  q: Query,
  outer: Scope | undefined,
  pc: PlannerContext,
  marker?: SubqueryMarker,
): PlanNode {
  return q.kind === 'Select' ? planSelect(q, outer, pc, marker) : planSetOp(q, outer, pc, marker);
}

/** PostgreSQL's default output column name of an expression. */
export function columnName(e: Expr): string {
  switch (e.kind) {
    case 'ColumnRef':
      return e.name;
    case 'FunctionCall':
      return e.name;
    case 'Cast': {
      const inner = columnName(e.expr);
      return inner === '?column?' ? e.type.name : inner;
    }
    case 'Case':
      return 'case';
    case 'Exists':
      return 'exists';
    default:
      return '?column?';
  }
}

interface Item {
  readonly expr: Expr;
  readonly name: string;
}

function expandItems(items: readonly SelectItem[], scope: RowScope): Item[] {
  const out: Item[] = [];
  for (const it of items) {
    if (it.kind === 'SelectExpr') {
      out.push({ expr: it.expr, name: it.alias ?? columnName(it.expr) });
      continue;
    }
    const cols = scope.columns.filter((c) => !c.hidden && (it.table === undefined || c.table === it.table));
    if (it.table !== undefined && cols.length === 0 && !scope.hasTable(it.table)) {
      throw new SqlError('ERR_SQL_UNDEFINED_TABLE', `missing FROM-clause entry for table "${it.table}"`, {
        position: it.pos,
      });
    }
    if (scope.columns.length === 0)
      throw new SqlError('ERR_SQL_SYNTAX', 'SELECT * with no tables specified is not valid', {
        position: it.pos,
      });
    for (const c of cols) {
      const ref: ColumnRef = { kind: 'ColumnRef', table: c.table, name: c.name, pos: it.pos };
      out.push({ expr: ref, name: c.name });
    }
  }
  return out;
}

function textIfUnknown(c: Compiled, ctx: CompileContext): Compiled {
  return c.type === 'unknown' ? coerce(c, 'text', ctx) : c;
}

/** GROUP BY items may be output ordinals or output names that are not input columns. */
function groupItem(g: Expr, items: readonly Item[], scope: RowScope): Expr {
  if (g.kind === 'IntegerLiteral') {
    const n = Number(g.value);
    const it = items[n - 1];
    if (it === undefined)
      throw new SqlError('ERR_SQL_INVALID_COLUMN_REFERENCE', `GROUP BY position ${n} is not in select list`, {
        position: g.pos,
      });
    return it.expr;
  }
  if (g.kind === 'ColumnRef' && g.table === undefined && scope.resolveHere(g) === undefined) {
    const it = items.find((i) => i.name === g.name);
    if (it !== undefined) return it.expr;
  }
  return g;
}

interface Grouped {
  readonly node: PlanNode;
  readonly scope: Scope;
  readonly agg: AggregateMatcher | undefined;
}

function planGrouping(
  sel: SelectStatement,
  from: FromPlan,
  items: readonly Item[],
  pc: PlannerContext,
): Grouped {
  const calls = findAggregates([
    ...items.map((i) => i.expr),
    ...(sel.having ? [sel.having] : []),
    ...sel.orderBy.map((o) => o.expr),
  ]);
  if (sel.groupBy.length === 0 && calls.length === 0 && sel.having === undefined)
    return { node: from.node, scope: from.scope, agg: undefined };
  const inputCtx = compileContext(pc, from.scope, 'GROUP BY');
  const groupExprs = sel.groupBy.map((g) => groupItem(g, items, from.scope));
  const keys = groupExprs.map((g) => textIfUnknown(compile(g, inputCtx), inputCtx));
  const specs = calls.map((c) => aggregateSpec(c, compileContext(pc, from.scope, 'aggregate')));
  const columns: OutputColumn[] = [
    ...keys.map((k, i) => ({ name: `group${i}`, type: k.type })),
    ...specs.map((s) => ({ name: s.func, type: s.type })),
  ];
  let node: PlanNode = new AggregateNode(
    from.node,
    keys,
    specs,
    columns,
    groupExprs.map((g) => formatExpr(g)).join(', '),
  );
  const groupCols = new Map<number, { index: number; type: TypeId }>();
  keys.forEach((k, i) => {
    if (k.column !== undefined && !groupCols.has(k.column))
      groupCols.set(k.column, { index: i, type: k.type });
  });
  const scope = new AggScope(from.scope, groupCols);
  const agg = new AggregateMatcher(
    from.scope,
    groupExprs,
    keys.map((k) => k.type),
    calls,
    specs.map((s) => s.type),
  );
  if (sel.having !== undefined) {
    const ctx = { ...compileContext(pc, scope, 'HAVING'), agg };
    node = new FilterNode(node, compileCondition(sel.having, ctx), formatExpr(sel.having));
  }
  return { node, scope, agg };
}

function planSelect(
  sel: SelectStatement,
  outer: Scope | undefined,
  pc: PlannerContext,
  marker: SubqueryMarker | undefined,
): PlanNode {
  let from: FromPlan;
  if (sel.from.length === 0) {
    const scope = new RowScope([], outer, marker);
    let node: PlanNode = new ValuesNode([[]], [], 'Result');
    if (sel.where !== undefined)
      node = new FilterNode(
        node,
        compileCondition(sel.where, compileContext(pc, scope, 'WHERE')),
        formatExpr(sel.where),
      );
    from = { node, scope, scan: undefined };
  } else {
    from = planFrom(sel.from, sel.where, pc, outer, marker, (q, o, m) => planQuery(q, o, pc, m));
  }
  const items = expandItems(sel.columns, from.scope);
  const grouped = planGrouping(sel, from, items, pc);
  const ctx: CompileContext = { ...compileContext(pc, grouped.scope, 'SELECT'), agg: grouped.agg };
  const exprs = items.map((i) => textIfUnknown(compile(i.expr, ctx), ctx));
  const columns: OutputColumn[] = items.map((it, i) => ({ name: it.name, type: exprs[i]!.type }));
  const names = items.map((i) => i.name);
  const itemKeys = items.map((i) => exprKey(i.expr, from.scope));
  const hidden: Compiled[] = [];
  const order: ResolvedOrder[] = sel.orderBy.map((o) => {
    let index = orderByOutput(o, names) ?? itemKeys.indexOf(exprKey(o.expr, from.scope));
    if (index < 0) {
      if (sel.distinct) {
        throw new SqlError(
          'ERR_SQL_INVALID_COLUMN_REFERENCE',
          'for SELECT DISTINCT, ORDER BY expressions must appear in select list',
          {
            position: o.pos,
          },
        );
      }
      hidden.push(textIfUnknown(compile(o.expr, { ...ctx, clause: 'ORDER BY' }), ctx));
      index = exprs.length + hidden.length - 1;
    }
    return resolvedOrder(
      o,
      index,
      index < exprs.length ? exprs[index]!.type : hidden[index - exprs.length]!.type,
    );
  });
  const all = [...exprs, ...hidden];
  const scanOrdered =
    order.length > 0 &&
    from.scan !== undefined &&
    grouped.agg === undefined &&
    orderFromScan(from.scan, order, all);
  let node: PlanNode = identity(all, grouped.node)
    ? grouped.node
    : new ProjectNode(
        grouped.node,
        all,
        [...columns, ...hidden.map((h, i) => ({ name: `sort${i}`, type: h.type }))],
        combinePrepare(all),
      );
  if (sel.distinct) node = new DistinctNode(node, node.columns);
  if (order.length > 0 && !scanOrdered)
    node = new SortNode(node, sortKeys(order), sel.orderBy.map(orderText).join(', '));
  node = limitAndTrim(node, sel, exprs.length, columns, pc);
  if (
    node instanceof LimitNode &&
    from.scan !== undefined &&
    grouped.agg === undefined &&
    !sel.distinct &&
    (order.length === 0 || scanOrdered)
  ) {
    const limit = node;
    from.scan.settings.limit = (env) => limit.needed(env);
  }
  return node;
}

/** True when the projection passes the input rows through unchanged. */
function identity(exprs: readonly Compiled[], input: PlanNode): boolean {
  return (
    exprs.length === input.columns.length &&
    exprs.every((e, i) => e.column === i && e.type === input.columns[i]!.type)
  );
}

function orderText(o: OrderByItem): string {
  return `${formatExpr(o.expr)}${o.direction === 'DESC' ? ' DESC' : ''}${o.nulls === undefined ? '' : ` NULLS ${o.nulls}`}`;
}

function limitAndTrim(
  input: PlanNode,
  q: SelectStatement | SetOperation,
  visible: number,
  columns: readonly OutputColumn[],
  pc: PlannerContext,
): PlanNode {
  let node = input;
  if (q.limit !== undefined || q.offset !== undefined) {
    const limit = q.limit === undefined ? undefined : limitExpr(q.limit, pc, 'LIMIT');
    const offset = q.offset === undefined ? undefined : limitExpr(q.offset, pc, 'OFFSET');
    node = new LimitNode(node, limit, offset);
  }
  if (node.columns.length > visible) {
    const keep = columns.map(
      (c, i): Compiled => ({ type: c.type, eval: (row) => row[i]!, isConst: false, local: true, column: i }),
    );
    node = new ProjectNode(node, keep, columns, undefined);
  }
  return node;
}

function limitExpr(e: Expr, pc: PlannerContext, clause: string): Compiled {
  const ctx = compileContext(pc, new RowScope([]), clause);
  const c = compile(e, ctx);
  if (c.local) {
    throw new SqlError(
      'ERR_SQL_INVALID_COLUMN_REFERENCE',
      `argument of ${clause} must not contain variables`,
      { position: e.pos },
    );
  }
  return coerce(c, 'bigint', ctx, e.pos);
}

function planSetOp(
  q: SetOperation,
  outer: Scope | undefined,
  pc: PlannerContext,
  marker: SubqueryMarker | undefined,
): PlanNode {
  let left = planQuery(q.left, outer, pc, marker);
  let right = planQuery(q.right, outer, pc, marker);
  if (left.columns.length !== right.columns.length) {
    throw new SqlError('ERR_SQL_SYNTAX', `each ${q.op} query must have the same number of columns`, {
      position: q.pos,
    });
  }
  const types = left.columns.map((c, i) => {
    const t = commonType(c.type, right.columns[i]!.type);
    if (t === undefined) {
      throw new SqlError(
        'ERR_SQL_DATATYPE_MISMATCH',
        `${q.op} types ${c.type} and ${right.columns[i]!.type} cannot be matched`,
        { position: q.pos },
      );
    }
    return t === 'unknown' ? 'text' : t;
  });
  left = castColumns(left, types, pc);
  right = castColumns(right, types, pc);
  let node: PlanNode = new SetOpNode(q.op, q.all, left, right);
  const names = node.columns.map((c) => c.name);
  const order = q.orderBy.map((o) => {
    const index = orderByOutput(o, names);
    if (index === undefined) {
      throw new SqlError(
        'ERR_SQL_FEATURE_NOT_SUPPORTED',
        `ORDER BY on a ${q.op} must name an output column or position`,
        { position: o.pos },
      );
    }
    return resolvedOrder(o, index, types[index]!);
  });
  if (order.length > 0) node = new SortNode(node, sortKeys(order), q.orderBy.map(orderText).join(', '));
  return limitAndTrim(node, q, node.columns.length, node.columns, pc);
}

function castColumns(node: PlanNode, types: readonly TypeId[], pc: PlannerContext): PlanNode {
  if (node.columns.every((c, i) => c.type === types[i])) return node;
  const scope = new RowScope(node.columns);
  const ctx = compileContext(pc, scope, 'UNION');
  const exprs = node.columns.map((c, i) =>
    coerce({ type: c.type, eval: (row) => row[i]!, isConst: false, local: true, column: i }, types[i]!, ctx),
  );
  return new ProjectNode(
    node,
    exprs,
    node.columns.map((c, i) => ({ ...c, type: types[i]! })),
    undefined,
  );
}
