/**
 * The external engine: a table `(k bytea PRIMARY KEY, v bytea NOT NULL)` in a PostgreSQL-protocol
 * database, through the `pg` package (the only file that imports it). bytea compares as memcmp,
 * so the index order is the engine order. The SQL is deliberately plain (CREATE TABLE IF NOT
 * EXISTS, INSERT … ON CONFLICT DO UPDATE, DELETE … IN, keyset-paged SELECT … ORDER BY … LIMIT) so
 * that CockroachDB and YugabyteDB accept it too; it was tested only against PostgreSQL 15.
 */
import { Pool } from 'pg';
import {
  abortedError,
  asBuffer,
  assertBatch,
  assertKey,
  assertValue,
  checkOpen,
  closedError,
  keyId,
  throwIfAborted,
} from './engine-guards.ts';
import { errorCodeOf, RETRYABLE_SQLSTATES, redactUrl, toKvsError } from './postgres-errors.ts';
import { PostgresScanner, type Queryable } from './postgres-scan.ts';
import { compareBytes, resolveScan } from './range.ts';
import type { BatchOp, KeyValue, OpOptions, ScanRange, StorageEngine } from './types.ts';

export interface PostgresEngineOptions {
  /** A `postgres://user:password@host:port/database` URL (`?host=/run/postgresql` for a socket). */
  readonly url: string;
  /** Table name, `name` or `schema.name` of letters, digits and `_` (default `kvs`); created if absent. */
  readonly table?: string;
  readonly pool?: {
    /** Most connections at once (default 10). */
    readonly max?: number;
    /** How long to wait for a connection, pooled or new (default 10 s). */
    readonly connectionTimeoutMs?: number;
  };
  /** Server-side statement timeout (default 60 s). */
  readonly statementTimeoutMs?: number;
  /** Most rows a scan reads per query (default 2048; pages also stop growing past 4 MiB). */
  readonly pageSize?: number;
  readonly signal?: AbortSignal;
}

/** The slice of `pg`'s Pool this adapter uses. */
interface PgPool extends Queryable {
  connect(): Promise<PgClient>;
  end(): Promise<void>;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

interface PgClient extends Queryable {
  release(destroy?: boolean | Error): void;
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$/;
const ROWS_PER_STATEMENT = 1000;
const BATCH_ATTEMPTS = 3;

/**
 * Connects to `url` and creates the table if absent. Resolves once the table is usable, so that a
 * wrong URL or a stopped server fails here with `ERR_KVS_CONNECTION`.
 *
 * @example
 * const engine = await createPostgresEngine({ url: 'postgres://app@db:5432/app', table: 'kvs' });
 */
export async function createPostgresEngine(options: PostgresEngineOptions): Promise<StorageEngine> {
  if (!options || typeof options.url !== 'string') throw new TypeError('createPostgresEngine needs { url }');
  const table = quoteTable(options.table ?? 'kvs');
  throwIfAborted(options.signal);
  const pool = new Pool({
    connectionString: options.url,
    max: positive(options.pool?.max ?? 10, 'pool.max'),
    connectionTimeoutMillis: positive(
      options.pool?.connectionTimeoutMs ?? 10_000,
      'pool.connectionTimeoutMs',
    ),
    statement_timeout: positive(options.statementTimeoutMs ?? 60_000, 'statementTimeoutMs'),
    idleTimeoutMillis: 30_000,
    allowExitOnIdle: true,
    keepAlive: true,
  }) as unknown as PgPool;
  // An idle connection that dies (server restart) is reported here; the next query reconnects.
  pool.on('error', () => undefined);
  const target = `${redactUrl(options.url)} table ${table}`;
  try {
    await createTable(pool, table);
  } catch (cause) {
    await pool.end().catch(() => undefined);
    throw toKvsError(cause, 'creating the key-value table', target);
  }
  return new PostgresEngine(pool, table, target, positive(options.pageSize ?? 2048, 'pageSize'));
}

/**
 * Drops a key-value table if it exists: for tests and for decommissioning a store. Irreversible.
 */
export async function dropPostgresTable(options: {
  readonly url: string;
  readonly table: string;
}): Promise<void> {
  const table = quoteTable(options.table);
  const pool = new Pool({
    connectionString: options.url,
    max: 1,
    connectionTimeoutMillis: 10_000,
  }) as unknown as PgPool;
  pool.on('error', () => undefined);
  try {
    await pool.query({ text: `DROP TABLE IF EXISTS ${table}` });
  } catch (cause) {
    throw toKvsError(cause, 'dropping the key-value table', `${redactUrl(options.url)} table ${table}`);
  } finally {
    await pool.end();
  }
}

/** Validates a table name and quotes it as an SQL identifier (each part, `schema.name`). */
export function quoteTable(name: string): string {
  if (typeof name !== 'string' || !TABLE_NAME.test(name)) {
    throw new TypeError(
      `table must be a name or schema.name of letters, digits and _ (at most 63 each), got ${JSON.stringify(name)}`,
    );
  }
  return name
    .split('.')
    .map((part) => `"${part.replaceAll('"', '""')}"`)
    .join('.');
}

async function createTable(pool: PgPool, table: string): Promise<void> {
  try {
    await pool.query({ text: `CREATE TABLE IF NOT EXISTS ${table} (k bytea PRIMARY KEY, v bytea NOT NULL)` });
  } catch (cause) {
    // Two processes creating the same table at once: one loses on the catalog's unique index.
    const code = errorCodeOf(cause);
    if (code !== '23505' && code !== '42P07') throw cause;
  }
}

class PostgresEngine implements StorageEngine {
  readonly name = 'postgres';
  readonly #pool: PgPool;
  readonly #table: string;
  readonly #target: string;
  readonly #pageSize: number;
  #closed = false;

  constructor(pool: PgPool, table: string, target: string, pageSize: number) {
    this.#pool = pool;
    this.#table = table;
    this.#target = target;
    this.#pageSize = pageSize;
  }

  async get(key: Uint8Array, options?: OpOptions): Promise<Uint8Array | undefined> {
    assertKey(key);
    checkOpen(this.#closed, this.name, options);
    const sql = `SELECT v FROM ${this.#table} WHERE k = $1`;
    const rows = await this.#read(
      this.#pool.query({ text: sql, values: [asBuffer(key)], rowMode: 'array' }),
      options?.signal,
    );
    return rows.rows[0]?.[0] as Uint8Array | undefined;
  }

  async put(key: Uint8Array, value: Uint8Array, options?: OpOptions): Promise<void> {
    assertKey(key);
    assertValue(value);
    checkOpen(this.#closed, this.name, options);
    await this.#run('put', () =>
      this.#pool.query({ text: this.#upsertSql(1), values: [asBuffer(key), asBuffer(value)] }),
    );
  }

  async delete(key: Uint8Array, options?: OpOptions): Promise<boolean> {
    assertKey(key);
    checkOpen(this.#closed, this.name, options);
    const sql = `DELETE FROM ${this.#table} WHERE k = $1`;
    const result = await this.#run('delete', () => this.#pool.query({ text: sql, values: [asBuffer(key)] }));
    return (result.rowCount ?? 0) > 0;
  }

  /**
   * One transaction: the final operation per key (later ones win), sorted by key so that
   * concurrent batches lock rows in the same order, sent as multi-row statements. A serialization
   * failure or deadlock is retried twice (the writes are blind, so a retry is safe).
   */
  async batch(ops: readonly BatchOp[], options?: OpOptions): Promise<void> {
    assertBatch(ops);
    checkOpen(this.#closed, this.name, options);
    const final = new Map<string, BatchOp>();
    for (const op of ops) final.set(keyId(op.key), op);
    if (final.size === 0) return;
    const sorted = [...final.values()].sort((a, b) => compareBytes(a.key, b.key));
    const puts = sorted.filter((op) => op.type === 'put');
    const deletes = sorted.filter((op) => op.type === 'delete');
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#transaction(puts, deletes, options?.signal);
      } catch (cause) {
        if (attempt >= BATCH_ATTEMPTS || !RETRYABLE_SQLSTATES.has(errorCodeOf(cause) ?? '')) {
          throw toKvsError(cause, `batch (attempt ${attempt} of ${BATCH_ATTEMPTS})`, this.#target);
        }
      }
    }
  }

  scan(range: ScanRange, options?: OpOptions): AsyncIterable<KeyValue> {
    const scan = resolveScan(range);
    const scanner = new PostgresScanner(this.#pool, this.#table, this.#pageSize);
    const signal = options?.signal;
    const engine = this;
    return (async function* () {
      checkOpen(engine.#closed, engine.name, { signal });
      if (scan.empty) return;
      while (!scanner.done) {
        const page = await engine.#read(scanner.next(scan), signal);
        for (const entry of page) {
          yield entry;
          checkOpen(engine.#closed, engine.name, { signal });
        }
      }
    })();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }

  async #transaction(puts: BatchOp[], deletes: BatchOp[], signal: AbortSignal | undefined): Promise<void> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    try {
      await client.query({ text: 'BEGIN' });
      for (let i = 0; i < deletes.length; i += ROWS_PER_STATEMENT) {
        const chunk = deletes.slice(i, i + ROWS_PER_STATEMENT);
        const marks = chunk.map((_, j) => `$${j + 1}`).join(', ');
        await client.query({
          text: `DELETE FROM ${this.#table} WHERE k IN (${marks})`,
          values: chunk.map((op) => asBuffer(op.key)),
        });
        throwIfAborted(signal);
      }
      for (let i = 0; i < puts.length; i += ROWS_PER_STATEMENT) {
        const chunk = puts.slice(i, i + ROWS_PER_STATEMENT);
        const values = chunk.flatMap((op) =>
          op.type === 'put' ? [asBuffer(op.key), asBuffer(op.value)] : [],
        );
        await client.query({ text: this.#upsertSql(chunk.length), values });
        throwIfAborted(signal);
      }
      await client.query({ text: 'COMMIT' });
    } catch (cause) {
      await client.query({ text: 'ROLLBACK' }).catch((err: Error) => {
        broken = err;
      });
      throw cause;
    } finally {
      client.release(broken ?? false);
    }
  }

  #upsertSql(rows: number): string {
    const tuples = Array.from({ length: rows }, (_, i) => `($${2 * i + 1}, $${2 * i + 2})`).join(', ');
    return `INSERT INTO ${this.#table} (k, v) VALUES ${tuples} ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v`;
  }

  /** Writes are awaited even when aborted: once sent, their outcome must be known. */
  async #run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (cause) {
      throw toKvsError(cause, what, this.#target);
    }
  }

  /** Reads give up at once when `signal` aborts; the query finishes in the background. */
  async #read<T>(query: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    const guarded = query.catch((cause: unknown) => {
      throw this.#closed ? closedError(this.name) : toKvsError(cause, 'read', this.#target);
    });
    if (!signal) return guarded;
    let onAbort = (): void => undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(abortedError(signal));
      signal.addEventListener('abort', onAbort, { once: true });
    });
    guarded.catch(() => undefined);
    try {
      return await Promise.race([guarded, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

function positive(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 1)
    throw new TypeError(`${what} must be a positive integer, got ${String(n)}`);
  return n;
}
