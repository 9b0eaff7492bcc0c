/**
 * A session: one connection's state. Statements outside BEGIN … COMMIT run in their own
 * transaction (statement atomicity; a write statement that loses an optimistic conflict is
 * retried transparently). Inside a transaction, a failing statement is undone and the
 * transaction refuses every statement but ROLLBACK/COMMIT (25P02). Calls on one session are
 * serialized; use several sessions for concurrency.
 */
import type { Statement } from './ast.ts';
import { type Catalog, CatalogTxn } from './catalog.ts';
import type { CachedStatements, DatabaseStats } from './database.ts';
import { executeDdl } from './ddl.ts';
import { isSqlError, SqlError } from './errors.ts';
import type { KeyNameResolver } from './key-format.ts';
import { parseStatement } from './parser.ts';
import type { RowIdSource } from './plan-types.ts';
import { isPlannable, type PlannableStatement, planStatement, type StatementPlan } from './planner.ts';
import { PreparedStatement } from './prepared.ts';
import { type QueryResult, type RunContext, runExplain, runPlan, streamPlan } from './run-plan.ts';
import { toSqlError } from './sql-errors.ts';
import type { Txn, TxnManager } from './txn.ts';

/** What a session needs from its database. */
export interface SessionServices {
  readonly catalog: Catalog;
  readonly txns: TxnManager;
  readonly rowIds: RowIdSource;
  readonly names: KeyNameResolver;
  readonly parse: (sql: string) => CachedStatements;
  readonly stats: DatabaseStats;
  readonly closed: () => boolean;
  readonly forget: (s: Session) => void;
}

/** Options of one call. */
export interface QueryOptions {
  readonly signal?: AbortSignal;
}

/** Optimistic attempts of an autocommit statement before it runs under the commit lock. */
const OPTIMISTIC_ATTEMPTS = 3;
const SETTINGS_DEFAULTS: Record<string, string> = {
  transaction_isolation: 'serializable',
  server_version: '15.0 (CascaDB)',
  timezone: 'UTC',
  client_encoding: 'UTF8',
  standard_conforming_strings: 'on',
};

function tagOnly(command: string): QueryResult {
  return { columns: [], rows: [], rowCount: 0, command };
}

function nowMicros(): bigint {
  return BigInt(Date.now()) * 1000n;
}

export class Session {
  readonly #svc: SessionServices;
  #txn: Txn | undefined;
  #catalogTxn: CatalogTxn | undefined;
  /** The run context of the open transaction's statements without a signal, made once per transaction. */
  #txnContext: RunContext | undefined;
  #txnNow = 0n;
  #failed = false;
  #readOnly = false;
  #closed = false;
  #queue: Promise<unknown> = Promise.resolve();
  /** Operations queued or running (see {@link #serializeNow}). */
  #pending = 0;
  readonly #settings = new Map<string, string>();

  /** @internal Use `Database.session()`. */
  constructor(svc: SessionServices) {
    this.#svc = svc;
  }

  /** True inside BEGIN … COMMIT/ROLLBACK. */
  get inTransaction(): boolean {
    return this.#txn !== undefined;
  }

  /** True when a statement failed inside the open transaction (only ROLLBACK is accepted). */
  get inFailedTransaction(): boolean {
    return this.#failed;
  }

  /** Runs `f` after every operation queued before it (one at a time, in call order). */
  #serialize<T>(f: () => T | Promise<T>): Promise<T> {
    this.#pending++;
    const run = this.#queue.then(f, f);
    // Registered before any caller's reaction: the count is down before the caller goes on.
    this.#queue = run.then(this.#settled, this.#settled);
    return run;
  }

  /**
   * {@link #serialize}, but with nothing queued `f` runs at once, and a result it gives without
   * awaiting skips the queue's turn (a prepared INSERT in a bulk load).
   */
  #serializeNow<T>(f: () => T | Promise<T>): Promise<T> {
    if (this.#pending > 0) return this.#serialize(f);
    let r: T | Promise<T>;
    try {
      r = f();
    } catch (err) {
      return Promise.reject(err);
    }
    if (!(r instanceof Promise)) return Promise.resolve(r);
    this.#pending++;
    this.#queue = r.then(this.#settled, this.#settled);
    return r;
  }

  readonly #settled = (): void => {
    this.#pending--;
  };

  #checkOpen(): void {
    if (this.#closed || this.#svc.closed())
      throw new SqlError('ERR_SQL_INVALID_TRANSACTION_STATE', 'the session is closed');
  }

  /**
   * Runs SQL text (one or more statements separated by `;`; parameters only with one) and returns
   * the last statement's result.
   *
   * @example
   * await session.query('SELECT v FROM t WHERE id = $1', [1n])
   */
  query(sql: string, params: readonly unknown[] = [], options: QueryOptions = {}): Promise<QueryResult> {
    return this.#serialize(async () => {
      try {
        this.#checkOpen();
        const entry = this.#svc.parse(sql);
        if (entry.statements.length > 1 && params.length > 0) {
          throw new SqlError('ERR_SQL_SYNTAX', 'cannot insert multiple commands into a prepared statement');
        }
        let result = tagOnly('');
        for (let i = 0; i < entry.statements.length; i++) {
          result = await this.#run(entry.statements[i]!, params, options.signal, (catalog) =>
            this.#cachedPlan(entry, i, catalog),
          );
        }
        return result;
      } catch (err) {
        throw toSqlError(err);
      }
    });
  }

  /** Parses and plans a statement once; run it with `prepared.query(params)`. */
  prepare(sql: string): Promise<PreparedStatement> {
    return this.#serialize(async () => {
      try {
        this.#checkOpen();
        this.#svc.stats.parses++;
        const stmt = parseStatement(sql);
        const plan = isPlannable(stmt)
          ? this.#planFresh(stmt, this.#catalogTxn ?? this.#svc.catalog)
          : undefined;
        return new PreparedStatement(sql, stmt, plan, this.#svc.catalog.version, {
          run: (p, params, signal) => this.#serializeNow(() => this.#runPrepared(p, params, signal)),
          replan: (s, catalog) => this.#planFresh(s, catalog),
        });
      } catch (err) {
        throw toSqlError(err);
      }
    });
  }

  #runPrepared(
    p: PreparedStatement,
    params: readonly unknown[],
    signal: AbortSignal | undefined,
  ): QueryResult | Promise<QueryResult> {
    try {
      this.#checkOpen();
      const txn = this.#txn;
      const stmt = p.statement;
      // The hot path of a prepared statement inside BEGIN … COMMIT (a batch of inserts): what
      // #run → #inTxn → #execute would do, without their steps, and without awaiting when the
      // statement needs nothing awaited.
      if (
        txn !== undefined &&
        !this.#failed &&
        signal === undefined &&
        isPlannable(stmt) &&
        (!this.#readOnly || stmt.kind === 'Select' || stmt.kind === 'SetOperation')
      ) {
        const r = this.#statement(txn, () => {
          this.#txnContext ??= this.#runContext(txn, undefined);
          return runPlan(p.planFor(this.#catalogTxn!, this.#svc.catalog.version), this.#txnContext, params);
        });
        return r instanceof Promise ? r.catch(rethrowAsSqlError) : r;
      }
      return this.#run(stmt, params, signal, (catalog) =>
        p.planFor(catalog, this.#svc.catalog.version),
      ).catch(rethrowAsSqlError);
    } catch (err) {
      throw toSqlError(err);
    }
  }

  /**
   * Streams a query's rows as they are read (an AsyncIterable of row arrays); the session is busy
   * until the iteration ends. Outside a transaction the query runs in its own.
   */
  async *stream(
    sql: string,
    params: readonly unknown[] = [],
    options: QueryOptions = {},
  ): AsyncIterable<unknown[]> {
    let release!: () => void;
    let entered!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const turn = new Promise<void>((r) => {
      entered = r;
    });
    void this.#serialize(async () => {
      entered();
      await gate;
    });
    await turn;
    const own = this.#txn === undefined;
    const txn = this.#txn ?? this.#svc.txns.begin(false);
    try {
      this.#checkOpen();
      if (this.#failed) throw this.#abortedError();
      const entry = this.#svc.parse(sql);
      const stmt = entry.statements[0];
      if (entry.statements.length !== 1 || (stmt?.kind !== 'Select' && stmt?.kind !== 'SetOperation')) {
        throw new TypeError('stream() runs exactly one query (SELECT)');
      }
      const plan = this.#cachedPlan(entry, 0, this.#catalogTxn ?? new CatalogTxn(this.#svc.catalog, txn));
      yield* streamPlan(plan, this.#runContext(txn, options.signal), params);
    } catch (err) {
      throw err instanceof TypeError ? err : toSqlError(err);
    } finally {
      if (own) this.#svc.txns.release(txn);
      release();
    }
  }

  #planFresh(stmt: PlannableStatement, catalog: CatalogTxn | Catalog): StatementPlan {
    this.#svc.stats.plans++;
    return planStatement(stmt, catalog, this.#svc.names);
  }

  #cachedPlan(entry: CachedStatements, i: number, catalog: CatalogTxn): StatementPlan {
    const stmt = entry.statements[i]! as PlannableStatement;
    if (catalog.dirty) return this.#planFresh(stmt, catalog);
    const version = this.#svc.catalog.version;
    if (entry.version !== version) {
      entry.plans = [];
      entry.version = version;
    }
    let plan = entry.plans[i];
    if (plan === undefined) {
      plan = this.#planFresh(stmt, catalog);
      if (this.#svc.catalog.version === version) entry.plans[i] = plan;
    }
    return plan;
  }

  #runContext(txn: Txn, signal: AbortSignal | undefined): RunContext {
    return {
      txn,
      signal,
      now: this.#txn === undefined ? nowMicros : () => this.#txnNow,
      rowIds: this.#svc.rowIds,
    };
  }

  #abortedError(): SqlError {
    return new SqlError(
      'ERR_SQL_IN_FAILED_TRANSACTION',
      'current transaction is aborted, commands ignored until end of transaction block',
      {
        hint: 'ROLLBACK the transaction',
      },
    );
  }

  async #run(
    stmt: Statement,
    params: readonly unknown[],
    signal: AbortSignal | undefined,
    planOf: (c: CatalogTxn) => StatementPlan,
  ): Promise<QueryResult> {
    if (signal?.aborted) throw new SqlError('ERR_SQL_CANCELED', 'canceling statement due to user request');
    switch (stmt.kind) {
      case 'Begin':
        if (this.#txn === undefined) {
          this.#txn = this.#svc.txns.begin();
          this.#txnContext = undefined;
          this.#catalogTxn = new CatalogTxn(this.#svc.catalog, this.#txn);
          this.#txnNow = nowMicros();
          this.#readOnly = stmt.readOnly === true;
        }
        return tagOnly('BEGIN');
      case 'Commit':
        return this.#commit(signal);
      case 'Rollback':
        this.#endTxn();
        return tagOnly('ROLLBACK');
      case 'Set':
        this.#settings.set(stmt.name, stmt.values.map((v) => v.text).join(', '));
        return tagOnly('SET');
      case 'Show': {
        const value = this.#settings.get(stmt.name) ?? SETTINGS_DEFAULTS[stmt.name];
        if (value === undefined)
          throw new SqlError(
            'ERR_SQL_UNDEFINED_OBJECT',
            `unrecognized configuration parameter "${stmt.name}"`,
          );
        return {
          columns: [{ name: stmt.name, type: 'text' }],
          rows: [[value]],
          rowCount: 1,
          command: 'SHOW',
        };
      }
      default:
        if (this.#failed) throw this.#abortedError();
        return this.#txn === undefined
          ? this.#autocommit(stmt, params, signal, planOf)
          : this.#inTxn(stmt, params, signal, planOf);
    }
  }

  async #commit(signal: AbortSignal | undefined): Promise<QueryResult> {
    const txn = this.#txn;
    const catalogTxn = this.#catalogTxn;
    if (txn === undefined || catalogTxn === undefined) return tagOnly('COMMIT');
    if (this.#failed) {
      this.#endTxn();
      return tagOnly('ROLLBACK');
    }
    this.#txn = undefined;
    this.#catalogTxn = undefined;
    this.#txnContext = undefined;
    await this.#svc.txns.commit(txn, signal);
    if (catalogTxn.dirty) this.#svc.catalog.apply(catalogTxn.changes);
    return tagOnly('COMMIT');
  }

  #endTxn(): void {
    if (this.#txn !== undefined) this.#svc.txns.release(this.#txn);
    this.#txn = undefined;
    this.#catalogTxn = undefined;
    this.#txnContext = undefined;
    this.#failed = false;
    this.#readOnly = false;
  }

  async #inTxn(
    stmt: Statement,
    params: readonly unknown[],
    signal: AbortSignal | undefined,
    planOf: (c: CatalogTxn) => StatementPlan,
  ): Promise<QueryResult> {
    const txn = this.#txn!;
    return this.#statement(txn, () => this.#execute(stmt, txn, this.#catalogTxn!, params, signal, planOf));
  }

  /**
   * One statement of an explicit transaction: atomic, and a failure fails the transaction.
   * Without awaiting when the statement ran without (see `runPlan`).
   */
  #statement(txn: Txn, run: () => QueryResult | Promise<QueryResult>): QueryResult | Promise<QueryResult> {
    txn.beginStatement();
    let r: QueryResult | Promise<QueryResult>;
    try {
      r = run();
    } catch (err) {
      this.#statementFailed(txn);
      throw err;
    }
    if (!(r instanceof Promise)) {
      txn.endStatement();
      return r;
    }
    return r.then(
      (done) => {
        txn.endStatement();
        return done;
      },
      (err: unknown) => {
        this.#statementFailed(txn);
        throw err;
      },
    );
  }

  #statementFailed(txn: Txn): void {
    txn.rollbackStatement();
    this.#failed = true;
  }

  async #autocommit(
    stmt: Statement,
    params: readonly unknown[],
    signal: AbortSignal | undefined,
    planOf: (c: CatalogTxn) => StatementPlan,
  ): Promise<QueryResult> {
    for (let attempt = 0; ; attempt++) {
      if (attempt >= OPTIMISTIC_ATTEMPTS) {
        // Contended: run once more holding the commit lock, which cannot conflict.
        let changes: CatalogTxn | undefined;
        const result = await this.#svc.txns.exclusive(async (txn) => {
          changes = new CatalogTxn(this.#svc.catalog, txn);
          return this.#execute(stmt, txn, changes, params, signal, planOf);
        }, signal);
        if (changes?.dirty) this.#svc.catalog.apply(changes.changes);
        return result;
      }
      // A lone query is never validated (see README: isolation), so it need not record its reads.
      const txn = this.#svc.txns.begin(!(stmt.kind === 'Select' || stmt.kind === 'SetOperation'));
      const catalogTxn = new CatalogTxn(this.#svc.catalog, txn);
      try {
        const result = await this.#execute(stmt, txn, catalogTxn, params, signal, planOf);
        if (txn.writeCount === 0 && !catalogTxn.dirty) {
          this.#svc.txns.release(txn);
          return result;
        }
        await this.#svc.txns.commit(txn, signal);
        if (catalogTxn.dirty) this.#svc.catalog.apply(catalogTxn.changes);
        return result;
      } catch (err) {
        this.#svc.txns.release(txn);
        if (!isSqlError(err, 'ERR_SQL_SERIALIZATION_FAILURE')) throw err;
      }
    }
  }

  async #execute(
    stmt: Statement,
    txn: Txn,
    catalog: CatalogTxn,
    params: readonly unknown[],
    signal: AbortSignal | undefined,
    planOf: (c: CatalogTxn) => StatementPlan,
  ): Promise<QueryResult> {
    const writes = stmt.kind !== 'Select' && stmt.kind !== 'SetOperation' && stmt.kind !== 'Explain';
    if (writes && this.#readOnly) {
      throw new SqlError(
        'ERR_SQL_READ_ONLY_TRANSACTION',
        `cannot execute ${stmt.kind.toUpperCase()} in a read-only transaction`,
      );
    }
    const ctx = this.#runContext(txn, signal);
    if (isPlannable(stmt)) return runPlan(planOf(catalog), ctx, params);
    if (stmt.kind === 'Explain') {
      const inner = stmt.statement;
      if (!isPlannable(inner))
        throw new SqlError('ERR_SQL_FEATURE_NOT_SUPPORTED', `EXPLAIN ${inner.kind} is not supported`, {
          position: inner.pos,
        });
      return runExplain(stmt, this.#planFresh(inner, catalog), ctx, params);
    }
    return tagOnly(await executeDdl(stmt, { txn, catalog, signal, names: this.#svc.names }));
  }

  /** Rolls back an open transaction and ends the session. */
  async close(): Promise<void> {
    await this.#serialize(async () => {
      this.#endTxn();
      this.#closed = true;
      this.#svc.forget(this);
    });
  }
}

function rethrowAsSqlError(err: unknown): never {
  throw toSqlError(err);
}
