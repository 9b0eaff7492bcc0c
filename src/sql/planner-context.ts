/** State shared by the planning of one statement. */
import type { ColumnRef, Expr } from './ast.ts';
import type { CatalogReader } from './catalog.ts';
import type { CompileContext, ParamTypes, SubqueryPlanner } from './compile.ts';
import { SqlError } from './errors.ts';
import type { KeyNameResolver } from './key-format.ts';
import type { Scope } from './scope.ts';
import type { TableInfo } from './table-info.ts';

export interface PlannerContext {
  readonly catalog: CatalogReader;
  readonly params: ParamTypes;
  readonly names: KeyNameResolver;
  /** Tables the plan reads or writes (their descriptors join the transaction's read set). */
  readonly tables: Set<TableInfo>;
  readonly subqueries: SubqueryPlanner;
}

/** A compile context over `scope` for a clause. */
export function compileContext(pc: PlannerContext, scope: Scope, clause: string): CompileContext {
  return { scope, params: pc.params, subqueries: pc.subqueries, clause };
}

/** Looks a table up; 42P01 when it does not exist. */
export function lookupTable(pc: PlannerContext, name: string, pos?: Expr['pos']): TableInfo {
  const t = pc.catalog.table(name);
  if (t === undefined) {
    throw new SqlError('ERR_SQL_UNDEFINED_TABLE', `relation "${name}" does not exist`, { position: pos });
  }
  pc.tables.add(t);
  return t;
}

/** Splits a condition into its AND-ed conjuncts. */
export function conjunctsOf(e: Expr | undefined): Expr[] {
  if (e === undefined) return [];
  if (e.kind === 'Binary' && e.op === 'AND') return [...conjunctsOf(e.left), ...conjunctsOf(e.right)];
  return [e];
}

/** Every column reference in an expression, including inside its subqueries. */
export function columnRefs(node: unknown, out: ColumnRef[] = []): ColumnRef[] {
  if (Array.isArray(node)) {
    for (const x of node) columnRefs(x, out);
  } else if (node !== null && typeof node === 'object') {
    if ((node as Expr).kind === 'ColumnRef') out.push(node as ColumnRef);
    else for (const [k, v] of Object.entries(node)) if (k !== 'pos') columnRefs(v, out);
  }
  return out;
}
