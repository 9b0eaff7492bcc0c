/**
 * The data dictionary, stored in the key-value store itself under the reserved table id 1:
 * `int(1) int(1) text(tableName)` → the table's descriptor as JSON (UTF-8), and `int(1) int(2)`
 * → the next table id. User tables get ids from 16 on. The whole catalog is loaded at open and
 * kept in memory; a transaction's DDL lives in a {@link CatalogTxn} overlay until it commits.
 */
import type { StorageEngine } from '../kvs/types.ts';
import { SqlError } from './errors.ts';
import { indexPrefix } from './key-encoding.ts';
import type { KeyNameResolver } from './key-format.ts';
import type { IndexDesc, TableDesc } from './table-info.ts';
import { descriptorKey, PRIMARY_INDEX_ID, TableInfo } from './table-info.ts';
import { type Txn, withoutPrefix } from './txn.ts';

export const CATALOG_TABLE_ID = 1;
export const FIRST_USER_TABLE_ID = 16;
const TABLES = indexPrefix(CATALOG_TABLE_ID, 1);
const NEXT_ID_KEY = indexPrefix(CATALOG_TABLE_ID, 2);

export { descriptorKey };

function encodeDesc(desc: TableDesc): Uint8Array {
  const json = JSON.stringify(desc, (_k, v) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
  return new TextEncoder().encode(json);
}

function decodeDesc(bytes: Uint8Array): TableDesc {
  try {
    return JSON.parse(new TextDecoder().decode(bytes), (_k, v) =>
      v !== null && typeof v === 'object' && typeof v.$bigint === 'string' ? BigInt(v.$bigint) : v,
    ) as TableDesc;
  } catch (cause) {
    throw new SqlError('ERR_SQL_DATA_CORRUPTED', 'malformed catalog entry', { cause });
  }
}

/** Read access to table definitions. */
export interface CatalogReader {
  table(name: string): TableInfo | undefined;
  /** The table owning a named index, and the index. */
  findIndex(name: string): { table: TableInfo; index: IndexDesc } | undefined;
}

/** The committed catalog, shared by every session of a database. */
export class Catalog implements CatalogReader {
  readonly #tables = new Map<string, TableInfo>();
  readonly #byId = new Map<number, TableInfo>();
  /** Incremented by every committed DDL: cached plans of older versions are re-planned. */
  version = 0;

  static async load(engine: StorageEngine, signal?: AbortSignal): Promise<Catalog> {
    const catalog = new Catalog();
    for await (const { value } of engine.scan(
      withoutPrefix({ prefix: TABLES }),
      signal === undefined ? undefined : { signal },
    )) {
      catalog.#put(new TableInfo(decodeDesc(value)));
    }
    return catalog;
  }

  #put(info: TableInfo): void {
    this.#tables.set(info.name, info);
    this.#byId.set(info.id, info);
  }

  table(name: string): TableInfo | undefined {
    return this.#tables.get(name);
  }

  tables(): TableInfo[] {
    return [...this.#tables.values()];
  }

  findIndex(name: string): { table: TableInfo; index: IndexDesc } | undefined {
    for (const table of this.#tables.values()) {
      const index = table.desc.indexes.find((i) => i.name === name);
      if (index !== undefined) return { table, index };
    }
    return undefined;
  }

  /** Applies a committed transaction's DDL. */
  apply(changes: ReadonlyMap<string, TableInfo | null>): void {
    for (const [name, info] of changes) {
      const old = this.#tables.get(name);
      if (old !== undefined) {
        this.#tables.delete(name);
        this.#byId.delete(old.id);
      }
      if (info !== null) this.#put(info);
    }
    this.version++;
  }

  /** Names keys for `formatKey`: `reading`, `reading@reading_ts_idx`, `__catalog`. */
  keyNames(): KeyNameResolver {
    return (tableId, indexId) => {
      if (tableId === CATALOG_TABLE_ID) return '__catalog';
      const t = this.#byId.get(tableId);
      if (t === undefined) return undefined;
      if (indexId === PRIMARY_INDEX_ID || indexId === 0) return t.name;
      const ix = t.desc.indexes.find((i) => i.id === indexId);
      return `${t.name}@${ix?.name ?? indexId}`;
    };
  }
}

/** One transaction's view of the catalog: its own DDL over the committed catalog. */
export class CatalogTxn implements CatalogReader {
  readonly #base: Catalog;
  readonly #txn: Txn;
  readonly #changes = new Map<string, TableInfo | null>();

  constructor(base: Catalog, txn: Txn) {
    this.#base = base;
    this.#txn = txn;
  }

  /** True when this transaction changed the catalog (its plans must not be cached). */
  get dirty(): boolean {
    return this.#changes.size > 0;
  }

  get changes(): ReadonlyMap<string, TableInfo | null> {
    return this.#changes;
  }

  table(name: string): TableInfo | undefined {
    this.#txn.trackKey(descriptorKey(name));
    const changed = this.#changes.get(name);
    if (changed !== undefined) return changed ?? undefined;
    return this.#base.table(name);
  }

  findIndex(name: string): { table: TableInfo; index: IndexDesc } | undefined {
    for (const [, info] of this.#changes) {
      const index = info?.desc.indexes.find((i) => i.name === name);
      if (info && index) return { table: info, index };
    }
    const found = this.#base.findIndex(name);
    if (found === undefined || this.#changes.has(found.table.name)) return undefined;
    return found;
  }

  /** Allocates a table id (reads and bumps the stored counter, so concurrent DDL conflicts). */
  async allocateTableId(): Promise<number> {
    const stored = await this.#txn.get(NEXT_ID_KEY);
    const id = stored === undefined ? FIRST_USER_TABLE_ID : Number(new TextDecoder().decode(stored));
    this.#txn.put(NEXT_ID_KEY, new TextEncoder().encode(String(id + 1)));
    return id;
  }

  /** Writes a table's (new) descriptor. */
  putTable(desc: TableDesc): TableInfo {
    const info = new TableInfo(desc);
    this.#txn.put(descriptorKey(desc.name), encodeDesc(desc));
    this.#changes.set(desc.name, info);
    return info;
  }

  dropTable(name: string): void {
    this.#txn.delete(descriptorKey(name));
    this.#changes.set(name, null);
  }
}
