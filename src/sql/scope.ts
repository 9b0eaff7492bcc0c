/** Name resolution: which row position a column reference reads, here or in an enclosing query. */
import type { ColumnRef } from './ast.ts';
import { SqlError } from './errors.ts';
import type { OutputColumn } from './plan-types.ts';
import type { TypeId } from './types.ts';

/** Marks a subquery as correlated when a reference inside it resolves to an enclosing query. */
export interface SubqueryMarker {
  correlated: boolean;
}

/** Where a column reference reads: `depth` 0 is the current row, 1 the enclosing query's row… */
export interface Resolved {
  readonly depth: number;
  readonly index: number;
  readonly type: TypeId;
}

/** A level of name resolution. */
export interface Scope {
  readonly parent: Scope | undefined;
  /** Set on the outermost scope of a subquery. */
  readonly marker: SubqueryMarker | undefined;
  /** The position and type of a reference in this level's rows, or undefined if it is not here. */
  resolveHere(ref: ColumnRef): { index: number; type: TypeId } | undefined;
  /** Whether a table or alias of that name is visible at this level. */
  hasTable(name: string): boolean;
}

function refText(ref: ColumnRef): string {
  return ref.table === undefined ? ref.name : `${ref.table}.${ref.name}`;
}

/** The columns of a FROM clause (or of a table for DML), in row order. */
export class RowScope implements Scope {
  readonly columns: readonly OutputColumn[];
  readonly parent: Scope | undefined;
  readonly marker: SubqueryMarker | undefined;

  constructor(columns: readonly OutputColumn[], parent?: Scope, marker?: SubqueryMarker) {
    this.columns = columns;
    this.parent = parent;
    this.marker = marker;
  }

  resolveHere(ref: ColumnRef): { index: number; type: TypeId } | undefined {
    let found = -1;
    for (let i = 0; i < this.columns.length; i++) {
      const c = this.columns[i]!;
      if (c.name !== ref.name || (ref.table !== undefined && c.table !== ref.table)) continue;
      if (ref.table === undefined && c.hidden) continue;
      if (found >= 0) {
        throw new SqlError('ERR_SQL_AMBIGUOUS_COLUMN', `column reference "${refText(ref)}" is ambiguous`, {
          position: ref.pos,
        });
      }
      found = i;
    }
    return found < 0 ? undefined : { index: found, type: this.columns[found]!.type };
  }

  hasTable(name: string): boolean {
    return this.columns.some((c) => c.table === name);
  }
}

/** Resolves a column reference through the scope chain; 42703 / 42P01 when it names nothing. */
export function resolveColumn(scope: Scope, ref: ColumnRef): Resolved {
  let depth = 0;
  let tableSeen = ref.table === undefined;
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
    const hit = s.resolveHere(ref);
    if (hit !== undefined) {
      // Every subquery boundary crossed on the way up depends on the outer row.
      for (let t: Scope | undefined = scope; t !== s && t !== undefined; t = t.parent) {
        if (t.marker !== undefined) t.marker.correlated = true;
      }
      return { depth, ...hit };
    }
    if (ref.table !== undefined && s.hasTable(ref.table)) tableSeen = true;
    if (s.marker !== undefined) depth++;
  }
  if (!tableSeen) {
    throw new SqlError('ERR_SQL_UNDEFINED_TABLE', `missing FROM-clause entry for table "${ref.table}"`, {
      position: ref.pos,
    });
  }
  throw new SqlError('ERR_SQL_UNDEFINED_COLUMN', `column "${refText(ref)}" does not exist`, {
    position: ref.pos,
  });
}
