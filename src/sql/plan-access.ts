/**
 * Access-path selection: which index a table is read through and which key ranges, from the
 * conjuncts of WHERE/ON that constrain its columns with row-independent values (constants,
 * parameters, outer columns, uncorrelated subqueries). `col = v` on a key prefix gives a point or
 * a prefix; `<`, `<=`, `>`, `>=`, BETWEEN give a range on the next column; `IN (…)` several points;
 * `LIKE 'abc%'` the range of keys starting with `abc`. Conjuncts the ranges enforce exactly are
 * consumed (not re-checked).
 */
import type { Expr } from './ast.ts';
import { type CompileContext, coerce, compile } from './compile.ts';
import type { Compiled } from './plan-types.ts';
import type { KeyLayout, TableInfo } from './table-info.ts';
import type { TypeId } from './types.ts';

interface EqTerm {
  readonly kind: 'eq';
  readonly values: readonly Compiled[];
  readonly isNull: boolean;
}
export interface BoundTerm {
  readonly kind: 'lower' | 'upper';
  readonly value: Compiled;
  readonly inclusive: boolean;
}
export interface LikeTerm {
  readonly kind: 'like';
  readonly pattern: Compiled;
  readonly escape: string;
}
type Term = EqTerm | BoundTerm | LikeTerm;

interface ColumnTerm {
  readonly position: number;
  readonly term: Term;
  readonly conjunct: number;
}

/** How a table is read. */
export interface AccessPath {
  readonly table: TableInfo;
  readonly index: KeyLayout;
  /** Values of the leading index columns (each one or several alternatives). */
  readonly eq: readonly { readonly values: readonly Compiled[]; readonly isNull: boolean }[];
  /** Bounds on the index column after the equalities. */
  readonly bounds: readonly BoundTerm[];
  readonly likes: readonly LikeTerm[];
  /** Equalities on every column of the primary key: one `get` per point. */
  readonly point: boolean;
  /** Indices of the conjuncts the key ranges enforce. */
  readonly consumed: ReadonlySet<number>;
}

const FLIP: Record<string, string> = { '<': '>', '<=': '>=', '>': '<', '>=': '<=', '=': '=' };
const MAX_POINTS = 1000;

/** Whether a value of type `v` can be encoded as a key of column type `col` without changing comparisons. */
function keyCompatible(col: TypeId, v: TypeId): boolean {
  if (v === col || v === 'unknown') return true;
  if (col === 'text' || col === 'varchar') return v === 'text' || v === 'varchar';
  if (col === 'bigint') return v === 'integer';
  if (col === 'double') return v === 'integer' || v === 'bigint' || v === 'real';
  if (col === 'numeric') return v === 'integer' || v === 'bigint';
  return false;
}

function asColumn(e: Expr, ctx: CompileContext): number | undefined {
  if (e.kind !== 'ColumnRef') return undefined;
  const hit = ctx.scope.resolveHere(e);
  return hit?.index;
}

/** Compiles a row-independent value converted to the column's type, or undefined. */
function keyValue(e: Expr, colType: TypeId, ctx: CompileContext): Compiled | undefined {
  const c = compile(e, ctx);
  if (c.local || !keyCompatible(colType, c.type)) return undefined;
  return coerce(c, colType, ctx);
}

function termsOf(e: Expr, table: TableInfo, ctx: CompileContext): { position: number; term: Term }[] {
  const typeAt = (p: number) => table.columns[p]!.type.name;
  if (e.kind === 'Binary' && FLIP[e.op] !== undefined) {
    let col = asColumn(e.left, ctx);
    let other = e.right;
    let op = e.op;
    if (col === undefined) {
      col = asColumn(e.right, ctx);
      other = e.left;
      op = FLIP[e.op] as typeof op;
    }
    if (col === undefined) return [];
    const v = keyValue(other, typeAt(col), ctx);
    if (v === undefined) return [];
    if (op === '=') return [{ position: col, term: { kind: 'eq', values: [v], isNull: false } }];
    const kind = op === '>' || op === '>=' ? 'lower' : 'upper';
    return [{ position: col, term: { kind, value: v, inclusive: op.length === 2 } }];
  }
  if (e.kind === 'Between' && !e.negated) {
    const col = asColumn(e.expr, ctx);
    if (col === undefined) return [];
    const lo = keyValue(e.low, typeAt(col), ctx);
    const hi = keyValue(e.high, typeAt(col), ctx);
    if (lo === undefined || hi === undefined) return [];
    return [
      { position: col, term: { kind: 'lower', value: lo, inclusive: true } },
      { position: col, term: { kind: 'upper', value: hi, inclusive: true } },
    ];
  }
  if (e.kind === 'InList' && !e.negated) {
    const col = asColumn(e.expr, ctx);
    if (col === undefined || e.list.length > MAX_POINTS) return [];
    const values = e.list.map((x) => keyValue(x, typeAt(col), ctx));
    if (values.some((v) => v === undefined)) return [];
    return [{ position: col, term: { kind: 'eq', values: values as Compiled[], isNull: false } }];
  }
  if (e.kind === 'IsNull' && !e.negated) {
    const col = asColumn(e.expr, ctx);
    return col === undefined ? [] : [{ position: col, term: { kind: 'eq', values: [], isNull: true } }];
  }
  if (e.kind === 'Like' && !e.negated && !e.caseInsensitive) {
    const col = asColumn(e.expr, ctx);
    const t = col === undefined ? undefined : typeAt(col);
    if (col === undefined || (t !== 'text' && t !== 'varchar')) return [];
    const escapeChar =
      e.escape === undefined ? '\\' : e.escape.kind === 'StringLiteral' ? e.escape.value : undefined;
    const pattern = keyValue(e.pattern, 'text', ctx);
    if (escapeChar === undefined || pattern === undefined || [...escapeChar].length > 1) return [];
    return [{ position: col, term: { kind: 'like', pattern, escape: escapeChar } }];
  }
  return [];
}

interface Candidate {
  readonly path: AccessPath;
  readonly score: number;
}

function candidate(table: TableInfo, index: KeyLayout, terms: readonly ColumnTerm[]): Candidate {
  const eq: { values: readonly Compiled[]; isNull: boolean }[] = [];
  const consumed = new Set<number>();
  let points = 1;
  let k = 0;
  for (; k < index.positions.length; k++) {
    const pos = index.positions[k]!;
    const hit = terms.find((t) => t.position === pos && t.term.kind === 'eq');
    if (hit === undefined) break;
    const term = hit.term as EqTerm;
    if (term.isNull && index.primary) break;
    points *= Math.max(1, term.values.length);
    if (points > MAX_POINTS) break;
    eq.push({ values: term.values, isNull: term.isNull });
    consumed.add(hit.conjunct);
  }
  const bounds: BoundTerm[] = [];
  const likes: LikeTerm[] = [];
  if (k < index.positions.length) {
    const pos = index.positions[k]!;
    for (const t of terms) {
      if (t.position !== pos) continue;
      if (t.term.kind === 'lower' || t.term.kind === 'upper') {
        bounds.push(t.term);
        consumed.add(t.conjunct);
      } else if (t.term.kind === 'like') likes.push(t.term);
    }
  }
  const point = index.primary && k === index.positions.length;
  const ranged = bounds.length > 0 || likes.length > 0;
  let score = point ? 1000 : k * 10 + (ranged ? 5 : 0);
  if (!index.primary && score > 0) score -= 2; // a secondary index costs a lookup per row
  if (index.unique && k === index.positions.length) score += 100;
  return { path: { table, index, eq, bounds, likes, point, consumed }, score };
}

/**
 * Chooses how to read `table` given the WHERE/ON conjuncts that mention only it, compiled in
 * `ctx` (whose scope is the table's).
 */
export function chooseAccessPath(
  table: TableInfo,
  conjuncts: readonly Expr[],
  ctx: CompileContext,
): AccessPath {
  const terms: ColumnTerm[] = [];
  conjuncts.forEach((e, conjunct) => {
    for (const t of termsOf(e, table, ctx)) terms.push({ ...t, conjunct });
  });
  // A conjunct giving two terms (BETWEEN) is consumed only if both are used.
  let best = candidate(table, table.primary, terms);
  for (const index of table.indexes) {
    const c = candidate(table, index, terms);
    if (c.score > best.score) best = c;
  }
  if (best.score <= 0 && best.path.index !== table.primary) best = candidate(table, table.primary, []);
  return best.path;
}

/** A full scan of the primary index. */
export function fullScan(table: TableInfo): AccessPath {
  return { table, index: table.primary, eq: [], bounds: [], likes: [], point: false, consumed: new Set() };
}
