/** Planning of INSERT, UPDATE and DELETE. */
import type {
  Assignment as AssignmentAst,
  DeleteStatement,
  Expr,
  InsertStatement,
  SelectItem,
  UpdateStatement,
} from './ast.ts';
import { applyTypmod, castValue, implicitlyCastable } from './cast.ts';
import {
  type CompileContext,
  coerce,
  compile,
  compileCondition,
  constant,
  explicitCast,
  node,
} from './compile.ts';
import { SqlError } from './errors.ts';
import { ValuesNode } from './exec-basic.ts';
import { type Assignment, DeleteNode, InsertNode, type OnConflictPlan, UpdateNode } from './exec-dml.ts';
import { TableScanNode } from './exec-scan.ts';
import { formatExpr } from './format.ts';
import { chooseAccessPath } from './plan-access.ts';
import { planQuery } from './plan-select.ts';
import type { Compiled, OutputColumn, PlanNode } from './plan-types.ts';
import { andAll } from './plan-util.ts';
import { compileContext, conjunctsOf, lookupTable, type PlannerContext } from './planner-context.ts';
import { RowScope } from './scope.ts';
import type { ColumnDesc, KeyLayout, TableInfo } from './table-info.ts';
import { isNumeric, isTextual, type TypeId, typeLabel, type Value } from './types.ts';

function tableColumns(table: TableInfo, alias: string): OutputColumn[] {
  return table.columns.map((c) => ({ name: c.name, type: c.type.name, table: alias, hidden: c.hidden }));
}

function withTypmod(c: Compiled, col: ColumnDesc): Compiled {
  if (col.type.precision === undefined) return c;
  const f = c.eval;
  return node(c.type, [c], (r, env) => applyTypmod(f(r, env), col.type));
}

/** Converts a value for storing in a column (PostgreSQL's assignment casts), with the column's typmod. */
export function assignTo(c: Compiled, col: ColumnDesc, ctx: CompileContext, pos?: Expr['pos']): Compiled {
  const t = col.type.name;
  let r: Compiled;
  if (c.param !== undefined || c.type === 'unknown' || implicitlyCastable(c.type, t))
    r = coerce(c, t, ctx, pos);
  else if ((isNumeric(c.type) && isNumeric(t)) || isTextual(t)) r = explicitCast(c, t);
  else {
    throw new SqlError(
      'ERR_SQL_DATATYPE_MISMATCH',
      `column "${col.name}" is of type ${typeLabel(t)} but expression is of type ${typeLabel(c.type)}`,
      {
        position: pos,
        hint: 'You will need to rewrite or cast the expression.',
      },
    );
  }
  return withTypmod(r, col);
}

function defaultOf(col: ColumnDesc, pc: PlannerContext): Compiled {
  if (col.default === undefined) return constant(col.type.name, null);
  const ctx = compileContext(pc, new RowScope([]), 'DEFAULT');
  return assignTo(compile(col.default, ctx), col, ctx);
}

function returningOf(
  items: readonly SelectItem[] | undefined,
  scope: RowScope,
  pc: PlannerContext,
): [Compiled[] | undefined, OutputColumn[]] {
  if (items === undefined) return [undefined, []];
  const ctx = compileContext(pc, scope, 'RETURNING');
  const exprs: Compiled[] = [];
  const cols: OutputColumn[] = [];
  for (const it of items) {
    if (it.kind === 'SelectStar') {
      scope.columns.forEach((c, i) => {
        if (c.hidden || (it.table !== undefined && c.table !== it.table)) return;
        exprs.push({ type: c.type, eval: (row) => row[i]!, isConst: false, local: true, column: i });
        cols.push({ name: c.name, type: c.type });
      });
      continue;
    }
    let c = compile(it.expr, ctx);
    if (c.type === 'unknown') c = coerce(c, 'text', ctx);
    exprs.push(c);
    cols.push({
      name:
        it.alias ??
        (it.expr.kind === 'ColumnRef' || it.expr.kind === 'FunctionCall' ? it.expr.name : '?column?'),
      type: c.type,
    });
  }
  return [exprs, cols];
}

function column(table: TableInfo, name: string, pos: Expr['pos']): number {
  const p = table.positionOf(name);
  if (p < 0)
    throw new SqlError(
      'ERR_SQL_UNDEFINED_COLUMN',
      `column "${name}" of relation "${table.name}" does not exist`,
      { position: pos },
    );
  return p;
}

function assignments(
  set: readonly AssignmentAst[],
  table: TableInfo,
  ctx: CompileContext,
  pc: PlannerContext,
): Assignment[] {
  const seen = new Set<number>();
  return set.map((a) => {
    const position = column(table, a.column, a.pos);
    if (seen.has(position))
      throw new SqlError('ERR_SQL_SYNTAX', `multiple assignments to same column "${a.column}"`, {
        position: a.pos,
      });
    seen.add(position);
    const col = table.columns[position]!;
    const value =
      a.value.kind === 'Default'
        ? defaultOf(col, pc)
        : assignTo(compile(a.value, ctx), col, ctx, a.value.pos);
    return { position, value };
  });
}

function conflictTarget(
  table: TableInfo,
  cols: readonly string[] | undefined,
  pos: Expr['pos'],
): KeyLayout | undefined {
  if (cols === undefined) return undefined;
  const want = new Set(cols.map((c) => column(table, c, pos)));
  const same = (ix: KeyLayout) => ix.positions.length === want.size && ix.positions.every((p) => want.has(p));
  const hit = [table.primary, ...table.indexes.filter((i) => i.unique)].find(same);
  if (hit === undefined) {
    throw new SqlError(
      'ERR_SQL_INVALID_COLUMN_REFERENCE',
      'there is no unique or exclusion constraint matching the ON CONFLICT specification',
      {
        position: pos,
      },
    );
  }
  return hit;
}

function insertSource(
  s: InsertStatement,
  table: TableInfo,
  targets: readonly number[],
  pc: PlannerContext,
): [PlanNode, ((v: Value) => Value)[], (readonly number[])?] {
  const empty = compileContext(pc, new RowScope([]), 'VALUES');
  if (s.source.kind === 'Values') {
    // Per target of a single VALUES row: the parameter whose bound value goes into the column
    // as it is (no cast, no type modifier), or -1.
    const direct: number[] = [];
    const rows = s.source.rows.map((r) => {
      if (r.length > targets.length)
        throw new SqlError('ERR_SQL_SYNTAX', 'INSERT has more expressions than target columns', {
          position: r[targets.length]!.pos,
        });
      return targets.map((p, i) => {
        const col = table.columns[p]!;
        const e = r[i];
        if (e === undefined || e.kind === 'Default') {
          direct.push(-1);
          return defaultOf(col, pc);
        }
        const c = compile(e, empty);
        const assigned = assignTo(c, col, empty, e.pos);
        const same = e.kind === 'Parameter' && assigned.eval === c.eval && assigned.type === col.type.name;
        direct.push(same ? e.index - 1 : -1);
        return assigned;
      });
    });
    const cols = targets.map((p) => ({ name: table.columns[p]!.name, type: table.columns[p]!.type.name }));
    const params = rows.length === 1 && direct.every((d) => d >= 0) ? direct : undefined;
    return [new ValuesNode(rows, cols), targets.map(() => (v: Value) => v), params];
  }
  const src = planQuery(s.source, undefined, pc);
  if (src.columns.length > targets.length)
    throw new SqlError('ERR_SQL_SYNTAX', 'INSERT has more expressions than target columns', {
      position: s.source.pos,
    });
  const convert = src.columns.map((c, i) => {
    const col = table.columns[targets[i]!]!;
    const from: TypeId = c.type;
    assignTo({ type: from, eval: () => null, isConst: false, local: true }, col, empty); // 42804 when not assignable
    return (v: Value) => applyTypmod(castValue(v, from, col.type.name), col.type);
  });
  return [src, convert];
}

export function planInsert(s: InsertStatement, pc: PlannerContext): InsertNode {
  const table = lookupTable(pc, s.table, s.pos);
  const targets = (s.columns ?? table.columns.filter((c) => !c.hidden).map((c) => c.name)).map((n) =>
    column(table, n, s.pos),
  );
  if (new Set(targets).size !== targets.length)
    throw new SqlError('ERR_SQL_DUPLICATE_COLUMN', 'column specified more than once', { position: s.pos });
  const [source, convert, directParams] = insertSource(s, table, targets, pc);
  const used = targets.slice(0, source.columns.length);
  const defaults = table.columns.map((c, p) =>
    used.includes(p) || c.hidden || c.default === undefined ? undefined : defaultOf(c, pc),
  );
  const alias = s.alias ?? s.table;
  let onConflict: OnConflictPlan | undefined;
  const oc = s.onConflict;
  if (oc !== undefined) {
    const target = conflictTarget(table, oc.target, oc.pos);
    if (oc.kind === 'DoNothing') onConflict = { action: 'nothing', target, set: [], where: undefined };
    else {
      const scope = new RowScope([...tableColumns(table, alias), ...tableColumns(table, 'excluded')]);
      const ctx = compileContext(pc, scope, 'ON CONFLICT DO UPDATE');
      const where = oc.where === undefined ? undefined : compileCondition(oc.where, ctx);
      onConflict = { action: 'update', target, set: assignments(oc.set, table, ctx, pc), where };
    }
  }
  const [returning, columns] = returningOf(s.returning, new RowScope(tableColumns(table, alias)), pc);
  return new InsertNode(
    table,
    source,
    used,
    convert.slice(0, used.length),
    defaults,
    onConflict,
    returning,
    columns,
    s.source.kind === 'Values',
    directParams,
  );
}

function scanFor(
  table: TableInfo,
  alias: string,
  where: Expr | undefined,
  pc: PlannerContext,
): { scan: TableScanNode; scope: RowScope } {
  const scope = new RowScope(tableColumns(table, alias));
  const conj = conjunctsOf(where);
  const ctx = compileContext(pc, scope, 'WHERE');
  const path = chooseAccessPath(table, conj, ctx);
  const rest = conj.filter((_, i) => !path.consumed.has(i));
  const residual =
    rest.length === 0
      ? undefined
      : {
          compiled: andAll(rest.map((c) => compileCondition(c, ctx))),
          text: rest.map((c) => formatExpr(c)).join(' AND '),
        };
  return { scan: new TableScanNode(path, alias, scope.columns, residual, pc.names), scope };
}

export function planUpdate(s: UpdateStatement, pc: PlannerContext): UpdateNode {
  const table = lookupTable(pc, s.table, s.pos);
  const alias = s.alias ?? s.table;
  const { scan, scope } = scanFor(table, alias, s.where, pc);
  const set = assignments(s.set, table, compileContext(pc, scope, 'UPDATE'), pc);
  const [returning, columns] = returningOf(s.returning, scope, pc);
  return new UpdateNode(table, scan, set, returning, columns);
}

export function planDelete(s: DeleteStatement, pc: PlannerContext): DeleteNode {
  const table = lookupTable(pc, s.table, s.pos);
  const { scan, scope } = scanFor(table, s.alias ?? s.table, s.where, pc);
  const [returning, columns] = returningOf(s.returning, scope, pc);
  return new DeleteNode(table, scan, returning, columns);
}
