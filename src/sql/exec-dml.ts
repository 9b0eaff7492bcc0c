/** Execution of INSERT (with ON CONFLICT), UPDATE and DELETE, with RETURNING. */

import { NOT_NOW } from '../kvs/types.ts';
import { SqlError } from './errors.ts';
import { ValuesNode } from './exec-basic.ts';
import { type Compiled, cooperate, type Env, type OutputColumn, type PlanNode } from './plan-types.ts';
import type { KeyLayout, TableInfo } from './table-info.ts';
import { TableWriter, uniqueViolation } from './table-writer.ts';
import { keyString } from './txn.ts';
import type { Row, Value } from './types.ts';

/** What a DML statement did. */
export interface DmlResult {
  readonly rowCount: number;
  /** RETURNING rows. */
  readonly rows: Row[];
}

/** A column assignment: the row position and the value (evaluated over the statement's scope row). */
export interface Assignment {
  readonly position: number;
  readonly value: Compiled;
}

export interface OnConflictPlan {
  readonly action: 'nothing' | 'update';
  /** The constraint named by the conflict target; undefined: any unique constraint. */
  readonly target: KeyLayout | undefined;
  /** DO UPDATE SET, over `existing ‖ excluded` rows. */
  readonly set: readonly Assignment[];
  readonly where: Compiled | undefined;
}

async function evalAll(exprs: readonly Compiled[], row: Row, env: Env): Promise<Row> {
  const out: Row = new Array(exprs.length);
  for (let i = 0; i < exprs.length; i++) {
    const c = exprs[i]!;
    if (c.prepare !== undefined) await c.prepare(row, env);
    out[i] = c.eval(row, env);
  }
  return out;
}

async function applySet(set: readonly Assignment[], base: Row, scopeRow: Row, env: Env): Promise<Row> {
  const next = base.slice();
  const values: Value[] = [];
  for (const a of set) {
    if (a.value.prepare !== undefined) await a.value.prepare(scopeRow, env);
    values.push(a.value.eval(scopeRow, env));
  }
  set.forEach((a, i) => {
    next[a.position] = values[i]!;
  });
  return next;
}

abstract class DmlNode implements PlanNode {
  abstract readonly label: string;
  abstract readonly command: 'INSERT' | 'UPDATE' | 'DELETE';
  readonly children: readonly PlanNode[];
  readonly columns: readonly OutputColumn[];
  protected readonly table: TableInfo;
  protected readonly returning: readonly Compiled[] | undefined;

  constructor(
    table: TableInfo,
    source: PlanNode,
    returning: readonly Compiled[] | undefined,
    columns: readonly OutputColumn[],
  ) {
    this.table = table;
    this.children = [source];
    this.returning = returning;
    this.columns = columns;
  }

  async details(): Promise<string[]> {
    return [];
  }

  async *run(env: Env): AsyncIterable<Row[]> {
    const r = await this.execute(env);
    if (r.rows.length > 0) yield r.rows;
  }

  /** Runs the statement; without awaiting where nothing needs it (a single-row INSERT, see InsertNode). */
  abstract execute(env: Env): DmlResult | Promise<DmlResult>;

  protected async returned(row: Row, env: Env, out: Row[]): Promise<void> {
    if (this.returning !== undefined) out.push(await evalAll(this.returning, row, env));
  }

  protected async source(env: Env): Promise<Row[]> {
    const rows: Row[] = [];
    for await (const batch of this.children[0]!.run(env)) for (const r of batch) rows.push(r);
    return rows;
  }
}

const NO_VALUES: Row = [];

/** What an INSERT execution carries from one batch of source rows to the next. */
interface InsertState {
  readonly writer: TableWriter;
  /** RETURNING rows. */
  readonly rows: Row[];
  /** Keys an ON CONFLICT DO UPDATE inserted or updated (a second touch is an error). */
  readonly touched: Set<string>;
  count: number;
  n: number;
}

/** INSERT: source rows give the target columns; the rest come from defaults (or a hidden row id). */
export class InsertNode extends DmlNode {
  readonly command = 'INSERT' as const;
  readonly label: string;
  readonly #targets: readonly number[];
  readonly #convert: readonly ((v: Value) => Value)[];
  readonly #defaults: readonly (Compiled | undefined)[];
  readonly #onConflict: OnConflictPlan | undefined;
  readonly #rowIdPosition: number;
  readonly #defaulted: readonly number[];
  readonly #asyncFill: boolean;
  /** A row of NULLs to copy (cheaper than filling a new array). */
  readonly #nullRow: Row;
  /** The source is the statement's own VALUES, already cast to the target columns. */
  readonly #directValues: boolean;
  /** Only the primary key can conflict, and a conflict is an error: see {@link #insertNow}. */
  readonly #plain: boolean;
  /**
   * A single VALUES row of bare parameters: per target, the parameter whose bound value (already
   * of the column's type) the column takes.
   */
  readonly #directParams: readonly number[] | undefined;
  /**
   * The bound parameters are the table row itself ($1 … $n for every column in order, nothing
   * else): the row is the execution's own parameter array, not a copy. Only for {@link #plain}
   * inserts: nothing evaluates the parameters after the row is built.
   */
  readonly #paramsAreRow: boolean;

  constructor(
    table: TableInfo,
    source: PlanNode,
    targets: readonly number[],
    convert: readonly ((v: Value) => Value)[],
    defaults: readonly (Compiled | undefined)[],
    onConflict: OnConflictPlan | undefined,
    returning: readonly Compiled[] | undefined,
    columns: readonly OutputColumn[],
    directValues = false,
    directParams?: readonly number[],
  ) {
    super(table, source, returning, columns);
    this.#directValues = directValues && source instanceof ValuesNode;
    this.#targets = targets;
    this.#convert = convert;
    this.#defaults = defaults;
    this.#onConflict = onConflict;
    this.#rowIdPosition = table.columns.findIndex((c) => c.hidden);
    this.#defaulted = defaults.flatMap((d, p) => (d === undefined ? [] : [p]));
    this.#asyncFill =
      this.#rowIdPosition >= 0 || this.#defaulted.some((p) => defaults[p]!.prepare !== undefined);
    this.#nullRow = new Array(table.columns.length).fill(null);
    this.#plain = onConflict === undefined && returning === undefined && !table.hasUnique;
    this.#directParams = this.#directValues ? directParams : undefined;
    const n = table.columns.length;
    this.#paramsAreRow =
      this.#plain &&
      !this.#asyncFill &&
      this.#defaulted.length === 0 &&
      directParams !== undefined &&
      directParams.length === n &&
      targets.length === n &&
      targets.every((t, i) => t === i && directParams[i] === i);
    this.label = `Insert on ${table.name}${onConflict === undefined ? '' : ` (ON CONFLICT DO ${onConflict.action.toUpperCase()})`}`;
  }

  /** The full row from the source values and the defaults (without awaiting when nothing needs it). */
  #buildRow(values: Row, env: Env): Row | Promise<Row> {
    const row: Row = this.#nullRow.slice();
    const targets = this.#targets;
    for (let i = 0; i < targets.length; i++) row[targets[i]!] = this.#convert[i]!(values[i]!);
    if (!this.#asyncFill) {
      for (const p of this.#defaulted) row[p] = this.#defaults[p]!.eval([], env);
      return row;
    }
    return this.#fillAsync(row, env);
  }

  async #fillAsync(row: Row, env: Env): Promise<Row> {
    for (const p of this.#defaulted) {
      const d = this.#defaults[p]!;
      if (d.prepare !== undefined) await d.prepare([], env);
      row[p] = d.eval([], env);
    }
    if (this.#rowIdPosition >= 0) row[this.#rowIdPosition] = await env.rowIds.next(this.table.id, env);
    return row;
  }

  execute(env: Env): DmlResult | Promise<DmlResult> {
    const writer = new TableWriter(this.table, env.txn, env.signal);
    // `INSERT … VALUES` with plain expressions: evaluated straight into table rows, without an
    // iterator (the hot path of a prepared single-row insert).
    const direct = this.#directValues ? this.#valuesNow(this.children[0] as ValuesNode, env) : undefined;
    if (direct?.length === 1 && this.#plain && this.#insertNow(writer, direct[0]!, env))
      return { rowCount: 1, rows: [] };
    return this.#execute(writer, direct, env);
  }

  /**
   * Inserts one row without awaiting when the transaction can tell at once whether its key is
   * taken (`Txn.getNow`); false when it cannot (nothing was written then).
   */
  #insertNow(writer: TableWriter, row: Row, env: Env): boolean {
    writer.checkNotNull(row);
    const key = this.table.primaryKey(row);
    const keyStr = keyString(key);
    const existing = env.txn.getNow(key, keyStr);
    if (existing === NOT_NOW) return false;
    if (existing !== undefined) throw uniqueViolation(this.table, this.table.primary, row);
    writer.insert(row, key, keyStr);
    return true;
  }

  async #execute(writer: TableWriter, direct: Row[] | undefined, env: Env): Promise<DmlResult> {
    const state: InsertState = { writer, rows: [], touched: new Set<string>(), count: 0, n: 0 };
    if (direct !== undefined) {
      await this.#insertRows(direct, state, env, true);
      return { rowCount: state.count, rows: state.rows };
    }
    const source = this.children[0]!;
    const now = source instanceof ValuesNode ? source.rowsNow(env) : undefined;
    if (now !== undefined) await this.#insertRows(now, state, env, false);
    else for await (const batch of source.run(env)) await this.#insertRows(batch, state, env, false);
    return { rowCount: state.count, rows: state.rows };
  }

  /** Full table rows from the statement's VALUES, or undefined when that needs awaiting. */
  #valuesNow(source: ValuesNode, env: Env): Row[] | undefined {
    if (this.#asyncFill) return undefined;
    const targets = this.#targets;
    const direct = this.#directParams;
    if (direct !== undefined) {
      const params = env.params;
      if (this.#paramsAreRow && params.length === direct.length) return [params as Row];
      const row = this.#nullRow.slice();
      for (let i = 0; i < direct.length; i++) row[targets[i]!] = params[direct[i]!] ?? null;
      for (const p of this.#defaulted) row[p] = this.#defaults[p]!.eval(NO_VALUES, env);
      return [row];
    }
    const out: Row[] = [];
    for (const exprs of source.expressions) {
      const row = this.#nullRow.slice();
      for (let i = 0; i < exprs.length; i++) {
        const c = exprs[i]!;
        if (c.prepare !== undefined) return undefined;
        row[targets[i]!] = c.eval(NO_VALUES, env);
      }
      for (const p of this.#defaulted) row[p] = this.#defaults[p]!.eval(NO_VALUES, env);
      out.push(row);
    }
    return out;
  }

  async #insertRows(batch: readonly Row[], state: InsertState, env: Env, built: boolean): Promise<void> {
    const { writer, rows, touched } = state;
    const upsert = this.#onConflict?.action === 'update';
    for (const values of batch) {
      if ((++state.n & 255) === 0) await cooperate(env);
      const made = built ? values : this.#buildRow(values, env);
      const row = made instanceof Promise ? await made : made;
      writer.checkNotNull(row);
      const key = this.table.primaryKey(row);
      const keyStr = keyString(key);
      // Without unique indexes only the primary key can conflict: one read, one step fewer.
      const conflict = this.table.hasUnique
        ? await writer.findConflict(row, undefined, undefined, key, keyStr)
        : (await env.txn.get(key, env.signal, keyStr)) === undefined
          ? undefined
          : { index: this.table.primary, existingKey: key };
      if (conflict === undefined) {
        writer.insert(row, key, keyStr);
        if (upsert) touched.add(keyStr);
        state.count++;
        if (this.returning !== undefined) await this.returned(row, env, rows);
        continue;
      }
      const oc = this.#onConflict;
      const matches = oc !== undefined && (oc.target === undefined || oc.target === conflict.index);
      if (!matches) throw uniqueViolation(this.table, conflict.index, row);
      if (oc.action === 'nothing') continue;
      const updated = await this.#doUpdate(writer, conflict.existingKey, row, touched, env);
      if (updated === undefined) continue;
      state.count++;
      await this.returned(updated, env, rows);
    }
  }

  async #doUpdate(
    writer: TableWriter,
    key: Uint8Array,
    proposed: Row,
    touched: Set<string>,
    env: Env,
  ): Promise<Row | undefined> {
    const oc = this.#onConflict!;
    const k = keyString(key);
    if (touched.has(k)) {
      throw new SqlError(
        'ERR_SQL_CARDINALITY',
        'ON CONFLICT DO UPDATE command cannot affect row a second time',
        {
          hint: 'Ensure that no rows proposed for insertion within the same command have duplicate constrained values.',
        },
      );
    }
    const existing = await writer.read(key);
    if (existing === undefined)
      throw new SqlError('ERR_SQL_DATA_CORRUPTED', 'a unique index names a missing row');
    const scopeRow = existing.concat(proposed);
    if (oc.where !== undefined) {
      if (oc.where.prepare !== undefined) await oc.where.prepare(scopeRow, env);
      if (oc.where.eval(scopeRow, env) !== true) return undefined;
    }
    const next = await applySet(oc.set, existing, scopeRow, env);
    touched.add(keyString(await writer.update(existing, next)));
    return next;
  }
}

/** UPDATE: reads the matching rows first (so that moved rows are not seen again), then rewrites them. */
export class UpdateNode extends DmlNode {
  readonly command = 'UPDATE' as const;
  readonly label: string;
  readonly #set: readonly Assignment[];

  constructor(
    table: TableInfo,
    scan: PlanNode,
    set: readonly Assignment[],
    returning: readonly Compiled[] | undefined,
    columns: readonly OutputColumn[],
  ) {
    super(table, scan, returning, columns);
    this.#set = set;
    this.label = `Update on ${table.name}`;
  }

  async execute(env: Env): Promise<DmlResult> {
    const writer = new TableWriter(this.table, env.txn, env.signal);
    const targets = await this.source(env);
    const rows: Row[] = [];
    for (const old of targets) {
      const next = await applySet(this.#set, old, old, env);
      await writer.update(old, next);
      await this.returned(next, env, rows);
    }
    return { rowCount: targets.length, rows };
  }
}

/** DELETE: reads the matching rows, then removes them and their index entries. */
export class DeleteNode extends DmlNode {
  readonly command = 'DELETE' as const;
  readonly label: string;

  constructor(
    table: TableInfo,
    scan: PlanNode,
    returning: readonly Compiled[] | undefined,
    columns: readonly OutputColumn[],
  ) {
    super(table, scan, returning, columns);
    this.label = `Delete on ${table.name}`;
  }

  async execute(env: Env): Promise<DmlResult> {
    const writer = new TableWriter(this.table, env.txn, env.signal);
    const targets = await this.source(env);
    const rows: Row[] = [];
    for (const old of targets) {
      writer.delete(old);
      await this.returned(old, env, rows);
    }
    return { rowCount: targets.length, rows };
  }
}

export type { DmlNode };
