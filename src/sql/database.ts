/**
 * CascaDB's public engine API: `openDatabase({ engine })` → {@link Database} → `session()` →
 * {@link Session} with `query`, `prepare`, `stream`. One `Database` must own its store: two
 * processes (or two `Database` objects) on one store do not see each other's catalog changes or
 * commits for conflict detection.
 */
import type { StorageEngine } from '../kvs/types.ts';
import type { Statement } from './ast.ts';
import { Catalog } from './catalog.ts';
import { SqlError } from './errors.ts';
import { KeyReader, readKeyValue } from './key-decoding.ts';
import { formatKey, type KeyNameResolver } from './key-format.ts';
import { parseSql } from './parser.ts';
import type { Env, RowIdSource } from './plan-types.ts';
import type { StatementPlan } from './planner.ts';
import { Session } from './session.ts';
import { toSqlError } from './sql-errors.ts';
import type { TableDesc } from './table-info.ts';
import { TxnManager, withoutPrefix } from './txn.ts';

/** Options of {@link openDatabase}. */
export interface DatabaseOptions {
  /** The ordered store (memory, lmdb, postgres — usually wrapped by the secure store). */
  readonly engine: StorageEngine;
  /** Aborts opening (loading the catalog). */
  readonly signal?: AbortSignal;
  /** How many distinct SQL texts keep their parsed statements and plans (default 256). */
  readonly statementCacheSize?: number;
}

/** Counters of the work a database did, for monitoring and tests. */
export interface DatabaseStats {
  /** SQL texts parsed (a statement-cache hit or a prepared statement does not parse). */
  parses: number;
  /** Statements planned. */
  plans: number;
}

/** A parsed SQL text and the plans of its statements, valid for one catalog version. */
export interface CachedStatements {
  readonly statements: readonly Statement[];
  plans: (StatementPlan | undefined)[];
  version: number;
}

class RowIds implements RowIdSource {
  readonly #next = new Map<number, Promise<{ value: bigint }>>();
  readonly #catalog: Catalog;
  readonly #engine: StorageEngine;

  constructor(catalog: Catalog, engine: StorageEngine) {
    this.#catalog = catalog;
    this.#engine = engine;
  }

  async next(tableId: number, env: Env): Promise<bigint> {
    let state = this.#next.get(tableId);
    if (state === undefined) {
      state = this.#load(tableId, env.signal);
      this.#next.set(tableId, state);
    }
    const s = await state;
    return s.value++;
  }

  /** The largest committed row id + 1 (read from the engine, so it joins no transaction's read set). */
  async #load(tableId: number, signal: AbortSignal | undefined): Promise<{ value: bigint }> {
    const table = this.#catalog.tables().find((t) => t.id === tableId);
    if (table === undefined) return { value: 1n };
    const range = withoutPrefix({ prefix: table.primary.prefix, reverse: true, limit: 1 });
    for await (const kv of this.#engine.scan(range, signal === undefined ? undefined : { signal })) {
      const last = readKeyValue(new KeyReader(kv.key, table.primary.prefix.length), 'bigint') as bigint;
      return { value: last + 1n };
    }
    return { value: 1n };
  }

  forget(tableId: number): void {
    this.#next.delete(tableId);
  }
}

/** An open CascaDB database. */
export class Database {
  readonly #engine: StorageEngine;
  readonly #catalog: Catalog;
  readonly #txns: TxnManager;
  readonly #rowIds: RowIds;
  readonly #cache = new Map<string, CachedStatements>();
  readonly #cacheSize: number;
  readonly #sessions = new Set<Session>();
  readonly #stats: DatabaseStats = { parses: 0, plans: 0 };
  #closed = false;

  /** @internal Use {@link openDatabase}. */
  constructor(engine: StorageEngine, catalog: Catalog, cacheSize: number) {
    this.#engine = engine;
    this.#catalog = catalog;
    this.#txns = new TxnManager(engine);
    this.#rowIds = new RowIds(catalog, engine);
    this.#cacheSize = cacheSize;
  }

  /** Opens a session: a connection's worth of state (transaction, prepared statements). */
  session(): Session {
    if (this.#closed) throw new SqlError('ERR_SQL_INVALID_TRANSACTION_STATE', 'the database is closed');
    const s = new Session({
      catalog: this.#catalog,
      txns: this.#txns,
      rowIds: this.#rowIds,
      names: this.keyNames(),
      parse: (sql) => this.#parse(sql),
      stats: this.#stats,
      closed: () => this.#closed,
      forget: (session) => this.#sessions.delete(session),
    });
    this.#sessions.add(s);
    return s;
  }

  /** Names tables and indexes in keys, for {@link formatKey}. */
  keyNames(): KeyNameResolver {
    return this.#catalog.keyNames();
  }

  /** A stored key in its logical form, e.g. `reading|42|2024-03-01T00:15:00Z` (for debugging tools). */
  formatKey(key: Uint8Array): string {
    return formatKey(key, this.keyNames());
  }

  /** How many parses and plans this database did so far (a copy). */
  stats(): DatabaseStats {
    return { ...this.#stats };
  }

  /** The committed tables' descriptors (read-only; for catalog views such as the pg wire server's). */
  tables(): readonly TableDesc[] {
    return this.#catalog.tables().map((t) => t.desc);
  }

  /** The engine this database stores into. */
  get engine(): StorageEngine {
    return this.#engine;
  }

  #parse(sql: string): CachedStatements {
    const hit = this.#cache.get(sql);
    if (hit !== undefined) {
      this.#cache.delete(sql);
      this.#cache.set(sql, hit);
      return hit;
    }
    this.#stats.parses++;
    const entry: CachedStatements = { statements: parseSql(sql), plans: [], version: this.#catalog.version };
    this.#cache.set(sql, entry);
    if (this.#cache.size > this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
    return entry;
  }

  /** Closes every session (rolling back open transactions). The engine stays open: its owner closes it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#sessions]) await s.close();
    this.#cache.clear();
  }
}

/**
 * Opens a database on a storage engine, loading its catalog.
 *
 * @example
 * const db = await openDatabase({ engine: createMemoryEngine() });
 * const s = db.session();
 * await s.query('CREATE TABLE t (id bigint PRIMARY KEY, v text)');
 * await s.query('INSERT INTO t VALUES ($1, $2)', [1n, 'one']);
 * (await s.query('SELECT v FROM t WHERE id = $1', [1n])).rows // [['one']]
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.engine === undefined) throw new TypeError('openDatabase: options.engine is required');
  try {
    const catalog = await Catalog.load(options.engine, options.signal);
    return new Database(options.engine, catalog, options.statementCacheSize ?? 256);
  } catch (err) {
    throw toSqlError(err);
  }
}
