/** CREATE TABLE, DROP TABLE, CREATE [UNIQUE] INDEX, DROP INDEX, inside a transaction. */
import type {
  CreateIndexStatement,
  CreateTableStatement,
  DropIndexStatement,
  DropTableStatement,
  IndexColumn,
  Statement,
} from './ast.ts';
import { valueToText } from './cast.ts';
import type { CatalogTxn } from './catalog.ts';
import { compile } from './compile.ts';
import { SqlError } from './errors.ts';
import { KeyWriter, prefixEnd, writeIntNumber } from './key-encoding.ts';
import type { KeyNameResolver } from './key-format.ts';
import { assignTo } from './plan-dml.ts';
import { compileContext, type PlannerContext } from './planner-context.ts';
import { RowScope } from './scope.ts';
import type { ColumnDesc, IndexDesc, KeyColumnDesc, TableDesc, TableInfo } from './table-info.ts';
import { PRIMARY_INDEX_ID } from './table-info.ts';
import type { Txn } from './txn.ts';
import { columnTypeOf, hashRow } from './types.ts';

const EMPTY = new Uint8Array(0);

/** What DDL needs: the transaction, its catalog view, and a planner context to check DEFAULTs. */
export interface DdlContext {
  readonly txn: Txn;
  readonly catalog: CatalogTxn;
  readonly pc: PlannerContext;
  readonly signal: AbortSignal | undefined;
}

/** A planner context for compiling DEFAULT expressions (no parameters, no subqueries). */
function ddlPlanner(catalog: CatalogTxn, names: KeyNameResolver): PlannerContext {
  return {
    catalog,
    names,
    params: { types: [] },
    tables: new Set(),
    subqueries: {
      plan: () => {
        throw new SqlError('ERR_SQL_FEATURE_NOT_SUPPORTED', 'cannot use a subquery in a DEFAULT expression');
      },
      slot: () => 0,
    },
  };
}

/** Runs a DDL statement; returns its command tag. */
export async function executeDdl(
  stmt: Statement,
  env: { txn: Txn; catalog: CatalogTxn; signal: AbortSignal | undefined; names: KeyNameResolver },
): Promise<string> {
  const ctx: DdlContext = { ...env, pc: ddlPlanner(env.catalog, env.names) };
  switch (stmt.kind) {
    case 'CreateTable':
      await createTable(stmt, ctx);
      return 'CREATE TABLE';
    case 'DropTable':
      await dropTable(stmt, ctx);
      return 'DROP TABLE';
    case 'CreateIndex':
      await createIndex(stmt, ctx);
      return 'CREATE INDEX';
    case 'DropIndex':
      await dropIndex(stmt, ctx);
      return 'DROP INDEX';
    default:
      throw new SqlError('ERR_SQL_FEATURE_NOT_SUPPORTED', `${stmt.kind} is not supported here`, {
        position: stmt.pos,
      });
  }
}

function exists(name: string): SqlError {
  return new SqlError('ERR_SQL_DUPLICATE_TABLE', `relation "${name}" already exists`);
}

function keyColumns(
  cols: readonly IndexColumn[],
  byName: ReadonlyMap<string, ColumnDesc>,
  table: string,
): KeyColumnDesc[] {
  const seen = new Set<string>();
  return cols.map((c) => {
    const col = byName.get(c.name);
    if (col === undefined) {
      throw new SqlError('ERR_SQL_UNDEFINED_COLUMN', `column "${c.name}" named in key does not exist`, {
        position: c.pos,
        detail: `table ${table}`,
      });
    }
    if (seen.has(c.name))
      throw new SqlError('ERR_SQL_DUPLICATE_COLUMN', `column "${c.name}" appears twice in the key`, {
        position: c.pos,
      });
    seen.add(c.name);
    return { columnId: col.id, desc: c.direction === 'DESC' };
  });
}

function checkDefault(col: ColumnDesc, ctx: DdlContext): void {
  if (col.default === undefined) return;
  const c = compileContext(ctx.pc, new RowScope([]), 'DEFAULT');
  assignTo(compile(col.default, c), col, c, col.default.pos);
}

export async function createTable(s: CreateTableStatement, ctx: DdlContext): Promise<void> {
  if (ctx.catalog.table(s.name) !== undefined || ctx.catalog.findIndex(s.name) !== undefined) {
    if (s.ifNotExists) return;
    throw exists(s.name);
  }
  const columns: ColumnDesc[] = [];
  const byName = new Map<string, ColumnDesc>();
  for (const def of s.columns) {
    if (byName.has(def.name))
      throw new SqlError('ERR_SQL_DUPLICATE_COLUMN', `column "${def.name}" specified more than once`, {
        position: def.pos,
      });
    const col: ColumnDesc = {
      id: columns.length + 1,
      name: def.name,
      type: columnTypeOf(def.type),
      notNull: def.notNull || def.primaryKey,
      default: def.default,
    };
    checkDefault(col, ctx);
    columns.push(col);
    byName.set(def.name, col);
  }
  const pks = [
    ...s.columns
      .filter((c) => c.primaryKey)
      .map((c) => ({
        name: undefined,
        columns: [{ kind: 'IndexColumn' as const, name: c.name, direction: 'ASC' as const, pos: c.pos }],
      })),
    ...s.constraints.filter((c) => c.kind === 'PrimaryKey'),
  ];
  if (pks.length > 1)
    throw new SqlError(
      'ERR_SQL_INVALID_TABLE_DEFINITION',
      `multiple primary keys for table "${s.name}" are not allowed`,
      { position: s.pos },
    );
  let primaryKey: KeyColumnDesc[];
  if (pks.length === 1) {
    primaryKey = keyColumns(pks[0]!.columns, byName, s.name);
    for (const k of primaryKey) {
      const i = columns.findIndex((c) => c.id === k.columnId);
      columns[i] = { ...columns[i]!, notNull: true };
    }
  } else {
    const rowid: ColumnDesc = {
      id: columns.length + 1,
      name: 'rowid',
      type: { name: 'bigint' },
      notNull: true,
      hidden: true,
    };
    columns.push(rowid);
    primaryKey = [{ columnId: rowid.id, desc: false }];
  }
  const indexes: IndexDesc[] = [];
  const uniques = [
    ...s.columns
      .filter((c) => c.unique)
      .map((c) => ({
        name: undefined,
        columns: [{ kind: 'IndexColumn' as const, name: c.name, direction: 'ASC' as const, pos: c.pos }],
      })),
    ...s.constraints.filter((c) => c.kind === 'Unique'),
  ];
  for (const u of uniques) {
    const name = u.name ?? `${s.name}_${u.columns.map((c) => c.name).join('_')}_key`;
    if (indexes.some((i) => i.name === name) || ctx.catalog.findIndex(name) !== undefined) throw exists(name);
    indexes.push({
      id: PRIMARY_INDEX_ID + 1 + indexes.length,
      name,
      unique: true,
      columns: keyColumns(u.columns, byName, s.name),
    });
  }
  const pkName = pks[0]?.name ?? `${s.name}_pkey`;
  const id = await ctx.catalog.allocateTableId();
  ctx.catalog.putTable({
    id,
    name: s.name,
    columns,
    primaryKey,
    primaryKeyName: pkName,
    indexes,
    nextColumnId: columns.length + 1,
    nextIndexId: PRIMARY_INDEX_ID + 1 + indexes.length,
  });
}

async function deletePrefix(ctx: DdlContext, prefix: Uint8Array): Promise<void> {
  const keys: Uint8Array[] = [];
  for await (const kv of ctx.txn.scan({ start: prefix, end: prefixEnd(prefix) }, ctx.signal))
    keys.push(kv.key);
  for (const k of keys) ctx.txn.delete(k);
}

export async function dropTable(s: DropTableStatement, ctx: DdlContext): Promise<void> {
  for (const name of s.names) {
    const t = ctx.catalog.table(name);
    if (t === undefined) {
      if (s.ifExists) continue;
      throw new SqlError('ERR_SQL_UNDEFINED_TABLE', `table "${name}" does not exist`, { position: s.pos });
    }
    const w = new KeyWriter(8);
    writeIntNumber(w, t.id);
    await deletePrefix(ctx, w.finish());
    ctx.catalog.dropTable(name);
  }
}

async function backfill(table: TableInfo, index: IndexDesc, ctx: DdlContext): Promise<void> {
  const layout = table.layout(index.id)!;
  const seen = new Set<unknown>();
  for await (const kv of ctx.txn.scan({ prefix: table.primary.prefix }, ctx.signal)) {
    const row = table.decode(kv.key, kv.value);
    if (index.unique) {
      const vals = layout.positions.map((p) => row[p] ?? null);
      if (!vals.includes(null)) {
        const h = hashRow(vals);
        if (seen.has(h)) {
          const names = layout.positions.map((p) => table.columns[p]!.name).join(', ');
          throw new SqlError('ERR_SQL_UNIQUE_VIOLATION', `could not create unique index "${index.name}"`, {
            detail: `Key (${names})=(${vals.map((v, i) => valueToText(v, layout.types[i]!)).join(', ')}) is duplicated.`,
          });
        }
        seen.add(h);
      }
    }
    ctx.txn.put(table.indexKey(layout, row), EMPTY);
  }
}

export async function createIndex(s: CreateIndexStatement, ctx: DdlContext): Promise<void> {
  const t = ctx.catalog.table(s.table);
  if (t === undefined)
    throw new SqlError('ERR_SQL_UNDEFINED_TABLE', `relation "${s.table}" does not exist`, {
      position: s.pos,
    });
  const name = s.name ?? `${s.table}_${s.columns.map((c) => c.name).join('_')}_idx`;
  if (
    ctx.catalog.findIndex(name) !== undefined ||
    ctx.catalog.table(name) !== undefined ||
    name === t.desc.primaryKeyName
  ) {
    if (s.ifNotExists) return;
    throw exists(name);
  }
  const byName = new Map(t.columns.filter((c) => !c.hidden).map((c) => [c.name, c]));
  const index: IndexDesc = {
    id: t.desc.nextIndexId,
    name,
    unique: s.unique,
    columns: keyColumns(s.columns, byName, s.table),
  };
  const desc: TableDesc = {
    ...t.desc,
    indexes: [...t.desc.indexes, index],
    nextIndexId: t.desc.nextIndexId + 1,
  };
  const next = ctx.catalog.putTable(desc);
  await backfill(next, index, ctx);
}

export async function dropIndex(s: DropIndexStatement, ctx: DdlContext): Promise<void> {
  for (const name of s.names) {
    const found = ctx.catalog.findIndex(name);
    if (found === undefined) {
      if (s.ifExists) continue;
      throw new SqlError('ERR_SQL_UNDEFINED_OBJECT', `index "${name}" does not exist`, { position: s.pos });
    }
    const { table, index } = found;
    await deletePrefix(ctx, table.layout(index.id)!.prefix);
    ctx.catalog.putTable({ ...table.desc, indexes: table.desc.indexes.filter((i) => i.id !== index.id) });
  }
}
