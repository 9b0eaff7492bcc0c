/** Prepared statements: parsed and planned once, run many times with parameters. */
import type { Statement } from './ast.ts';
import type { Catalog, CatalogTxn } from './catalog.ts';
import type { PlannableStatement, StatementPlan } from './planner.ts';
import { type QueryResult, type ResultColumn, resultColumns } from './run-plan.ts';
import type { TypeId } from './types.ts';

/** What a prepared statement needs from its session. */
export interface PreparedHost {
  run(
    p: PreparedStatement,
    params: readonly unknown[],
    signal: AbortSignal | undefined,
  ): Promise<QueryResult>;
  replan(stmt: PlannableStatement, catalog: CatalogTxn | Catalog): StatementPlan;
}

/**
 * A statement parsed and planned once. Running it binds the parameters and executes the cached
 * plan; it is re-planned only when DDL has changed the catalog since (or inside a transaction that
 * ran DDL itself).
 *
 * @example
 * const insert = await session.prepare('INSERT INTO reading VALUES ($1, $2, $3)');
 * for (const r of readings) await insert.query([r.meter, r.ts, r.kwh]);
 */
export class PreparedStatement {
  readonly sql: string;
  readonly statement: Statement;
  #plan: StatementPlan | undefined;
  #version: number;
  readonly #host: PreparedHost;

  /** @internal Use `Session.prepare()`. */
  constructor(
    sql: string,
    statement: Statement,
    plan: StatementPlan | undefined,
    version: number,
    host: PreparedHost,
  ) {
    this.sql = sql;
    this.statement = statement;
    this.#plan = plan;
    this.#version = version;
    this.#host = host;
  }

  /** The result columns (empty for statements without rows). */
  get columns(): readonly ResultColumn[] {
    return this.#plan === undefined ? [] : resultColumns(this.#plan.columns);
  }

  /** The SQL types the parameters are converted to, `$1` first. */
  get paramTypes(): readonly TypeId[] {
    return this.#plan?.paramTypes ?? [];
  }

  /** Runs the statement with parameters. */
  query(
    params: readonly unknown[] = [],
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<QueryResult> {
    return this.#host.run(this, params, options.signal);
  }

  /** @internal The plan to run against the session's catalog view. */
  planFor(catalog: CatalogTxn, version: number): StatementPlan {
    if (catalog.dirty) return this.#host.replan(this.statement as PlannableStatement, catalog);
    if (this.#plan === undefined || this.#version !== version) {
      this.#plan = this.#host.replan(this.statement as PlannableStatement, catalog);
      this.#version = version;
    }
    return this.#plan;
  }
}
