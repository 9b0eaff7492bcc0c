/** ORDER BY: resolving sort items, and using the scan's key order instead of sorting when possible. */
import type { Expr, OrderByItem } from './ast.ts';
import { SqlError } from './errors.ts';
import type { SortKey } from './exec-basic.ts';
import type { TableScanNode } from './exec-scan.ts';
import type { Compiled } from './plan-types.ts';
import { comparatorFor, type TypeId } from './types.ts';

/** A sort item resolved to a position of the projected row. */
export interface ResolvedOrder {
  readonly index: number;
  readonly type: TypeId;
  readonly desc: boolean;
  readonly nullsFirst: boolean;
}

/** Resolves an ORDER BY item to an output position when it is an ordinal or an output name. */
export function orderByOutput(item: OrderByItem, names: readonly string[]): number | undefined {
  const e: Expr = item.expr;
  if (e.kind === 'IntegerLiteral') {
    const n = Number(e.value);
    if (n < 1 || n > names.length) {
      throw new SqlError('ERR_SQL_INVALID_COLUMN_REFERENCE', `ORDER BY position ${n} is not in select list`, {
        position: e.pos,
      });
    }
    return n - 1;
  }
  if (e.kind === 'ColumnRef' && e.table === undefined) {
    const hits = names.flatMap((n, i) => (n === e.name ? [i] : []));
    if (hits.length > 1) {
      throw new SqlError('ERR_SQL_AMBIGUOUS_COLUMN', `ORDER BY "${e.name}" is ambiguous`, {
        position: e.pos,
      });
    }
    return hits[0];
  }
  return undefined;
}

export function resolvedOrder(item: OrderByItem, index: number, type: TypeId): ResolvedOrder {
  const desc = item.direction === 'DESC';
  return { index, type, desc, nullsFirst: item.nulls === 'FIRST' || (item.nulls === undefined && desc) };
}

export function sortKeys(order: readonly ResolvedOrder[]): SortKey[] {
  return order.map((o) => ({
    index: o.index,
    cmp: comparatorFor(o.type),
    desc: o.desc,
    nullsFirst: o.nullsFirst,
  }));
}

/**
 * True when the scan already yields rows in the requested order (forwards, or backwards after
 * setting `reverse`): the sort columns follow the index columns, skipping columns fixed by a
 * single equality, with one consistent direction. Sets the scan's direction when it returns true.
 */
export function orderFromScan(
  scan: TableScanNode,
  order: readonly ResolvedOrder[],
  exprs: readonly Compiled[],
): boolean {
  const { index, eq } = scan.path;
  const fixed = new Set<number>();
  eq.forEach((e, i) => {
    if (e.values.length + (e.isNull ? 1 : 0) === 1) fixed.add(index.positions[i]!);
  });
  const notNull = (pos: number) => scan.path.table.columns[pos]!.notNull || scan.path.index.primary;
  let j = 0;
  let reverse: boolean | undefined;
  for (const o of order) {
    const pos = exprs[o.index]?.column;
    if (pos === undefined) return false;
    if (fixed.has(pos)) continue;
    while (j < index.positions.length && fixed.has(index.positions[j]!) && index.positions[j] !== pos) j++;
    if (j >= index.positions.length || index.positions[j] !== pos) return false;
    const flip = o.desc !== index.desc[j];
    if (reverse !== undefined && reverse !== flip) return false;
    reverse = flip;
    const naturalNullsFirst = index.desc[j] !== flip;
    if (!notNull(pos) && naturalNullsFirst !== o.nullsFirst) return false;
    j++;
  }
  scan.settings.reverse = reverse ?? false;
  return true;
}
