/**
 * FROM clauses: tables, derived tables and joins. WHERE and ON conjuncts are pushed down to the
 * table they mention (where they choose its access path); conjuncts joining two sides become
 * join keys (merge join when both sides are primary-key scans ordered on the keys, hash join
 * otherwise) or a join condition (nested loop). LEFT JOIN keeps WHERE conditions on its right
 * side above the join.
 */
import type { Expr, JoinType, Query, TableRef } from './ast.ts';
import { coerce, compile, compileCondition } from './compile.ts';
import { SqlError } from './errors.ts';
import { FilterNode, ProjectNode } from './exec-basic.ts';
import { HashJoinNode, type JoinKey, MergeJoinNode, NestedLoopNode } from './exec-join.ts';
import { TableScanNode } from './exec-scan.ts';
import { formatExpr } from './format.ts';
import { chooseAccessPath } from './plan-access.ts';
import type { Compiled, OutputColumn, PlanNode } from './plan-types.ts';
import { andAll } from './plan-util.ts';
import {
  columnRefs,
  compileContext,
  conjunctsOf,
  lookupTable,
  type PlannerContext,
} from './planner-context.ts';
import { RowScope, type Scope, type SubqueryMarker } from './scope.ts';
import type { TableInfo } from './table-info.ts';
import { commonType, comparatorFor } from './types.ts';

type Leaf =
  | {
      readonly kind: 'table';
      readonly id: number;
      readonly info: TableInfo;
      readonly alias: string;
      readonly columns: OutputColumn[];
    }
  | {
      readonly kind: 'derived';
      readonly id: number;
      readonly node: PlanNode;
      readonly alias: string;
      readonly columns: OutputColumn[];
    };
type Tree =
  | Leaf
  | {
      readonly kind: 'join';
      readonly type: JoinType;
      readonly left: Tree;
      readonly right: Tree;
      readonly on: Expr | undefined;
    };

interface Build {
  readonly pc: PlannerContext;
  readonly outer: Scope | undefined;
  readonly marker: SubqueryMarker | undefined;
  readonly leaves: Leaf[];
}

/** The result of planning FROM + WHERE: the rows, their scope, and the scan when there is one table. */
export interface FromPlan {
  readonly node: PlanNode;
  readonly scope: RowScope;
  readonly scan: TableScanNode | undefined;
}

function leafOf(ref: TableRef, b: Build, planQuery: PlanQuery): Tree {
  if (ref.kind === 'Join') {
    return {
      kind: 'join',
      type: ref.type,
      left: leafOf(ref.left, b, planQuery),
      right: leafOf(ref.right, b, planQuery),
      on: ref.on,
    };
  }
  const id = b.leaves.length;
  let leaf: Leaf;
  if (ref.kind === 'TableName') {
    const info = lookupTable(b.pc, ref.name, ref.pos);
    const alias = ref.alias ?? ref.name;
    const columns = info.columns.map((c) => ({
      name: c.name,
      type: c.type.name,
      table: alias,
      hidden: c.hidden,
    }));
    leaf = { kind: 'table', id, info, alias, columns };
  } else {
    const node = planQuery(ref.query, b.outer, { correlated: false });
    const names = ref.columnAliases ?? [];
    const columns = node.columns.map((c, i) => ({
      name: names[i] ?? c.name,
      type: c.type,
      table: ref.alias,
    }));
    leaf = { kind: 'derived', id, node, alias: ref.alias, columns };
  }
  b.leaves.push(leaf);
  return leaf;
}

function leavesOf(t: Tree): Leaf[] {
  return t.kind === 'join' ? [...leavesOf(t.left), ...leavesOf(t.right)] : [t];
}

function columnsOf(t: Tree): OutputColumn[] {
  return leavesOf(t).flatMap((l) => l.columns);
}

/** Which leaves an expression mentions (conservatively: a name any leaf has counts for it). */
function sourcesOf(e: Expr, b: Build): Set<number> {
  const out = new Set<number>();
  for (const ref of columnRefs(e)) {
    for (const leaf of b.leaves) {
      if (ref.table !== undefined && ref.table !== leaf.alias) continue;
      if (leaf.columns.some((c) => c.name === ref.name)) out.add(leaf.id);
    }
  }
  return out;
}

function within(ids: Set<number>, t: Tree): boolean {
  const mine = new Set(leavesOf(t).map((l) => l.id));
  return ids.size > 0 && [...ids].every((i) => mine.has(i));
}

type PlanQuery = (q: Query, outer: Scope | undefined, marker: SubqueryMarker) => PlanNode;

function scopeOf(t: Tree, b: Build): RowScope {
  return new RowScope(columnsOf(t), b.outer, b.marker);
}

function compileAll(
  conjuncts: readonly Expr[],
  scope: RowScope,
  b: Build,
  clause: string,
): { compiled: Compiled; text: string } | undefined {
  if (conjuncts.length === 0) return undefined;
  const ctx = compileContext(b.pc, scope, clause);
  const compiled = andAll(conjuncts.map((c) => compileCondition(c, ctx)));
  return { compiled, text: conjuncts.map((c) => formatExpr(c)).join(' AND ') };
}

function buildLeaf(leaf: Leaf, conjuncts: readonly Expr[], b: Build): PlanNode {
  const scope = new RowScope(leaf.columns, b.outer, b.marker);
  if (leaf.kind === 'derived') {
    const f = compileAll(conjuncts, scope, b, 'WHERE');
    return f === undefined ? leaf.node : new FilterNode(leaf.node, f.compiled, f.text);
  }
  const path = chooseAccessPath(leaf.info, conjuncts, compileContext(b.pc, scope, 'WHERE'));
  const residual = compileAll(
    conjuncts.filter((_, i) => !path.consumed.has(i)),
    scope,
    b,
    'WHERE',
  );
  return new TableScanNode(path, leaf.alias, leaf.columns, residual, b.pc.names);
}

function joinKeys(
  conjuncts: readonly Expr[],
  left: Tree,
  right: Tree,
  b: Build,
): { keys: JoinKey[]; rest: Expr[]; keyExprs: Expr[] } {
  const keys: JoinKey[] = [];
  const rest: Expr[] = [];
  const keyExprs: Expr[] = [];
  for (const c of conjuncts) {
    if (c.kind === 'Binary' && c.op === '=') {
      const l = sourcesOf(c.left, b);
      const r = sourcesOf(c.right, b);
      const [le, re] =
        within(l, left) && within(r, right)
          ? [c.left, c.right]
          : within(r, left) && within(l, right)
            ? [c.right, c.left]
            : [];
      if (le !== undefined && re !== undefined) {
        const lc = compile(le, compileContext(b.pc, scopeOf(left, b), 'JOIN'));
        const rc = compile(re, compileContext(b.pc, scopeOf(right, b), 'JOIN'));
        const t = commonType(lc.type, rc.type);
        if (t !== undefined && t !== 'unknown') {
          const ctx = compileContext(b.pc, scopeOf(left, b), 'JOIN');
          keys.push({ left: coerce(lc, t, ctx), right: coerce(rc, t, ctx), cmp: comparatorFor(t) });
          keyExprs.push(c);
          continue;
        }
      }
    }
    rest.push(c);
  }
  return { keys, rest, keyExprs };
}

/** Merge join applies when both inputs are forward primary-key scans and the keys are a PK prefix of both. */
function mergeable(
  left: PlanNode,
  right: PlanNode,
  keys: readonly JoinKey[],
  keyExprs: readonly Expr[],
  lt: Tree,
  rt: Tree,
): JoinKey[] | undefined {
  if (!(left instanceof TableScanNode) || !(right instanceof TableScanNode)) return undefined;
  if (lt.kind !== 'table' || rt.kind !== 'table') return undefined;
  const lp = left.path;
  const rp = right.path;
  if (!lp.index.primary || !rp.index.primary || lp.point || rp.point || lp.eq.length > 0 || rp.eq.length > 0)
    return undefined;
  const ordered: JoinKey[] = [];
  for (let i = 0; i < keys.length; i++) {
    const e = keyExprs[i]! as Extract<Expr, { kind: 'Binary' }>;
    if (e.left.kind !== 'ColumnRef' || e.right.kind !== 'ColumnRef') return undefined;
  }
  for (let pos = 0; pos < keys.length; pos++) {
    const want = [lp.index.positions[pos], rp.index.positions[pos]];
    const k = keys.find((key) => positionOf(key.left) === want[0] && positionOf(key.right) === want[1]);
    if (k === undefined || lp.index.desc[pos] || rp.index.desc[pos]) return undefined;
    if (lp.index.types[pos] !== rp.index.types[pos]) return undefined;
    ordered.push(k);
  }
  return ordered;
}

/** The row position a compiled plain column reference reads. */
function positionOf(c: Compiled): number | undefined {
  return c.column;
}

function buildTree(t: Tree, pushed: readonly Expr[], b: Build): { node: PlanNode; above: Expr[] } {
  if (t.kind !== 'join') return { node: buildLeaf(t, pushed, b), above: [] };
  const onConj = conjunctsOf(t.on);
  const toLeft: Expr[] = [];
  const toRight: Expr[] = [];
  const atJoin: Expr[] = [];
  const above: Expr[] = [];
  for (const c of pushed) {
    const s = sourcesOf(c, b);
    if (within(s, t.left)) toLeft.push(c);
    else if (t.type !== 'LEFT' && within(s, t.right)) toRight.push(c);
    else if (t.type !== 'LEFT') atJoin.push(c);
    else above.push(c);
  }
  for (const c of onConj) {
    const s = sourcesOf(c, b);
    if (t.type !== 'LEFT' && within(s, t.left)) toLeft.push(c);
    else if (within(s, t.right)) toRight.push(c);
    else atJoin.push(c);
  }
  const l = buildTree(t.left, toLeft, b);
  const r = buildTree(t.right, toRight, b);
  const kind = t.type === 'LEFT' ? 'LEFT' : atJoin.length === 0 ? 'CROSS' : 'INNER';
  const { keys, rest, keyExprs } = joinKeys(atJoin, t.left, t.right, b);
  const residual = compileAll(rest, scopeOf(t, b), b, 'JOIN');
  const text = atJoin.map((c) => formatExpr(c)).join(' AND ');
  let node: PlanNode;
  const merge = keys.length > 0 ? mergeable(l.node, r.node, keys, keyExprs, t.left, t.right) : undefined;
  if (merge !== undefined) node = new MergeJoinNode(kind, l.node, r.node, merge, residual?.compiled, text);
  else if (keys.length > 0) node = new HashJoinNode(kind, l.node, r.node, keys, residual?.compiled, text);
  else node = new NestedLoopNode(kind, l.node, r.node, residual?.compiled, text);
  const lifted = [...l.above, ...r.above, ...above];
  return { node, above: lifted };
}

/** Plans FROM and WHERE. */
export function planFrom(
  from: readonly TableRef[],
  where: Expr | undefined,
  pc: PlannerContext,
  outer: Scope | undefined,
  marker: SubqueryMarker | undefined,
  planQuery: PlanQuery,
): FromPlan {
  const b: Build = { pc, outer, marker, leaves: [] };
  let tree = leafOf(from[0]!, b, planQuery);
  for (const ref of from.slice(1))
    tree = { kind: 'join', type: 'CROSS', left: tree, right: leafOf(ref, b, planQuery), on: undefined };
  checkAliases(b.leaves);
  const scope = scopeOf(tree, b);
  let conj = conjunctsOf(where);
  // Inner joins only: choose the join order (the rows are put back in FROM order below).
  const ordered =
    innerOnly(tree) && b.leaves.length > 2 ? joinOrder(b, [...conj, ...onConjuncts(tree)]) : undefined;
  if (ordered !== undefined) {
    conj = ordered.conjuncts;
    tree = ordered.tree;
  }
  const local: Expr[] = [];
  const free: Expr[] = [];
  for (const c of conj) (sourcesOf(c, b).size === 0 ? free : local).push(c);
  const { node, above } = buildTree(tree, local, b);
  const top = compileAll([...above, ...free], scopeOf(tree, b), b, 'WHERE');
  let result = top === undefined ? node : new FilterNode(node, top.compiled, top.text);
  if (ordered !== undefined) result = fromOrder(result, columnsOf(tree), scope);
  return { node: result, scope, scan: result instanceof TableScanNode ? result : undefined };
}

function innerOnly(t: Tree): boolean {
  return t.kind !== 'join' || (t.type !== 'LEFT' && innerOnly(t.left) && innerOnly(t.right));
}

function onConjuncts(t: Tree): Expr[] {
  return t.kind === 'join' ? [...onConjuncts(t.left), ...onConjuncts(t.right), ...conjunctsOf(t.on)] : [];
}

/**
 * A greedy join order for inner joins (there are no statistics): start from the table with the
 * most equality filters of its own, then always add a table joined to the ones already chosen by
 * an equality (the most filtered first), and only when none is left, a cross product.
 */
function joinOrder(b: Build, conjuncts: readonly Expr[]): { tree: Tree; conjuncts: Expr[] } {
  const sources = conjuncts.map((c) => sourcesOf(c, b));
  const rank = (leaf: Leaf) =>
    conjuncts.reduce((r, c, i) => {
      const s = sources[i]!;
      if (s.size !== 1 || !s.has(leaf.id)) return r;
      return r + (c.kind === 'Binary' && c.op === '=' ? 2 : 1);
    }, 0);
  const joined = (leaf: Leaf, chosen: Set<number>) =>
    conjuncts.some((c, i) => {
      const s = sources[i]!;
      return (
        c.kind === 'Binary' &&
        c.op === '=' &&
        s.has(leaf.id) &&
        s.size === 2 &&
        [...s].some((x) => chosen.has(x))
      );
    });
  const left = [...b.leaves];
  const order: Leaf[] = [];
  const chosen = new Set<number>();
  while (left.length > 0) {
    const candidates = order.length === 0 ? left : left.filter((l) => joined(l, chosen));
    const pool = candidates.length > 0 ? candidates : left;
    const next = pool.reduce((best, l) => (rank(l) > rank(best) ? l : best));
    order.push(next);
    chosen.add(next.id);
    left.splice(left.indexOf(next), 1);
  }
  let tree: Tree = order[0]!;
  for (const leaf of order.slice(1))
    tree = { kind: 'join', type: 'CROSS', left: tree, right: leaf, on: undefined };
  return { tree, conjuncts: [...conjuncts] };
}

/** Puts the columns of a reordered join back in FROM order. */
function fromOrder(node: PlanNode, columns: readonly OutputColumn[], scope: RowScope): PlanNode {
  const exprs = scope.columns.map((c): Compiled => {
    const i = columns.findIndex((x) => x.table === c.table && x.name === c.name);
    return { type: c.type, eval: (row) => row[i]!, isConst: false, local: true, column: i };
  });
  return new ProjectNode(node, exprs, scope.columns, undefined);
}

function checkAliases(leaves: readonly Leaf[]): void {
  const seen = new Set<string>();
  for (const l of leaves) {
    if (seen.has(l.alias)) {
      throw new SqlError('ERR_SQL_DUPLICATE_ALIAS', `table name "${l.alias}" specified more than once`);
    }
    seen.add(l.alias);
  }
}
