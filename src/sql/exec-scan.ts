/** Reading a table through its access path: point gets, prefix and range scans, index lookups. */
import { SqlError } from './errors.ts';
import { formatKey, type KeyNameResolver } from './key-format.ts';
import { type KeyRange, keyRanges, pointKeyNow } from './key-ranges.ts';
import type { AccessPath } from './plan-access.ts';
import {
  type Compiled,
  cooperate,
  counted,
  type Env,
  type OutputColumn,
  type PlanNode,
} from './plan-types.ts';
import type { Row } from './types.ts';

const FIRST_BATCH = 16;
const MAX_BATCH = 512;
const LOOKUP_CHUNK = 64;

/** Options of a table scan the planner may still change (direction, limit) before running. */
export interface ScanSettings {
  reverse: boolean;
  /** Rows the consumer needs at most (LIMIT + OFFSET pushed down), evaluated per execution. */
  limit: ((env: Env) => number) | undefined;
}

/** Reads one table: the access path's ranges, then the residual filter. Rows are whole table rows. */
export class TableScanNode implements PlanNode {
  readonly columns: readonly OutputColumn[];
  readonly children: readonly PlanNode[] = [];
  readonly path: AccessPath;
  readonly alias: string;
  readonly settings: ScanSettings = { reverse: false, limit: undefined };
  readonly #residual: Compiled | undefined;
  readonly #residualText: string | undefined;
  readonly #names: KeyNameResolver;

  constructor(
    path: AccessPath,
    alias: string,
    columns: readonly OutputColumn[],
    residual: { compiled: Compiled; text: string } | undefined,
    names: KeyNameResolver,
  ) {
    this.path = path;
    this.alias = alias;
    this.columns = columns;
    this.#residual = residual?.compiled;
    this.#residualText = residual?.text;
    this.#names = names;
  }

  /** True when the scan has no residual filter (every row it reads is produced). */
  get exact(): boolean {
    return this.#residual === undefined;
  }

  get label(): string {
    const { path } = this;
    const on = `${path.table.name}${this.alias === path.table.name ? '' : ` ${this.alias}`}`;
    const using = ` using ${path.index.name}`;
    const dir = this.settings.reverse ? ' (reverse)' : '';
    if (path.point) return `Point Get on ${on}${using}`;
    const kind =
      path.eq.length === 0 && path.bounds.length === 0 && path.likes.length === 0
        ? 'Full'
        : path.bounds.length > 0 || path.likes.length > 0
          ? 'Range'
          : 'Prefix';
    if (kind === 'Full' && path.index.primary) return `Full Scan on ${on}${dir}`;
    return `${path.index.primary ? '' : 'Index '}${kind} Scan on ${on}${using}${dir}`;
  }

  async details(env: Env): Promise<string[]> {
    const out: string[] = [];
    const ranges = await keyRanges(this.path, env);
    const f = (k: Uint8Array | undefined) => (k === undefined ? '∞' : formatKey(k, this.#names));
    const shown = ranges.slice(0, 8);
    for (const r of shown) {
      if (r.point) out.push(`Key: ${f(r.start)}`);
      else if (this.path.bounds.length === 0 && this.path.likes.length === 0)
        out.push(`Prefix: ${f(r.prefix)}`);
      else out.push(`Range: [${f(r.start)}, ${f(r.end)})`);
    }
    if (ranges.length > shown.length) out.push(`… ${ranges.length - shown.length} more ranges`);
    if (ranges.length === 0 && env.params.length > 0 && env.params.every((p) => p === null)) {
      out.push('Ranges: computed from the parameters at execution (give EXPLAIN the parameters to see them)');
    } else if (ranges.length === 0) out.push('Ranges: none (no key can match)');
    if (this.#residualText !== undefined) out.push(`Filter: ${this.#residualText}`);
    if (this.settings.limit !== undefined) out.push(`Limit: ${this.settings.limit(env)}`);
    return out;
  }

  run(env: Env): AsyncIterable<Row[]> {
    return counted(this, env, this.#rows(env));
  }

  async *#rows(env: Env): AsyncIterable<Row[]> {
    const ranges = await keyRanges(this.path, env);
    if (this.path.point && this.path.index.primary) {
      const rows = await this.#points(ranges, env);
      if (rows.length > 0) yield rows;
      return;
    }
    if (this.settings.reverse) ranges.reverse();
    const limit = this.settings.limit?.(env) ?? Infinity;
    if (limit <= 0) return;
    const residual = this.#residual;
    let produced = 0;
    let batch: Row[] = [];
    let size = FIRST_BATCH;
    const source = this.path.index.primary ? this.#primary(ranges, env, limit) : this.#secondary(ranges, env);
    // Rows come in chunks (a storage block, a lookup chunk): the loop over a chunk is synchronous.
    for await (const rows of source) {
      for (const row of rows) {
        if (residual !== undefined) {
          if (residual.prepare !== undefined) await residual.prepare(row, env);
          if (residual.eval(row, env) !== true) continue;
        }
        batch.push(row);
        if (++produced >= limit) break;
      }
      if (produced >= limit) break;
      if (batch.length >= size) {
        await cooperate(env);
        yield batch;
        batch = [];
        size = Math.min(size * 2, MAX_BATCH);
      }
    }
    if (batch.length > 0) yield batch;
  }

  /**
   * The rows of a single-key point lookup, read without the iterator machinery (the hot path of
   * `SELECT … WHERE pk = $1`); undefined when this scan is not one.
   */
  lookupNow(env: Env): Promise<Row[]> | undefined {
    if (!this.path.index.primary || env.counts !== undefined) return undefined;
    const key = pointKeyNow(this.path, env);
    if (key === undefined) return undefined;
    if (key === null) return Promise.resolve([]);
    return this.#points([{ start: key, end: undefined, point: true, prefix: key }], env);
  }

  /** Point gets (the whole primary key is known): no scan, no generator per row. */
  async #points(ranges: readonly KeyRange[], env: Env): Promise<Row[]> {
    const { table } = this.path;
    const out: Row[] = [];
    const order = this.settings.reverse ? [...ranges].reverse() : ranges;
    const limit = this.settings.limit?.(env) ?? Infinity;
    for (const r of order) {
      if (out.length >= limit) break;
      const value = await env.txn.get(r.start, env.signal);
      if (value === undefined) continue;
      const row = table.decode(r.start, value);
      if (this.#residual !== undefined) {
        if (this.#residual.prepare !== undefined) await this.#residual.prepare(row, env);
        if (this.#residual.eval(row, env) !== true) continue;
      }
      out.push(row);
    }
    return out;
  }

  /** The rows of primary-key ranges, decoded a storage chunk at a time. */
  async *#primary(ranges: readonly KeyRange[], env: Env, limit: number): AsyncIterable<Row[]> {
    const { table } = this.path;
    const engineLimit = this.#residual === undefined && Number.isFinite(limit) ? limit : undefined;
    for (const r of ranges) {
      if (r.point) {
        const value = await env.txn.get(r.start, env.signal);
        if (value !== undefined) yield [table.decode(r.start, value)];
        continue;
      }
      const chunks = env.txn.scanChunks(
        { start: r.start, end: r.end, reverse: this.settings.reverse, limit: engineLimit },
        env.signal,
      );
      for await (const chunk of chunks) {
        const rows: Row[] = new Array(chunk.length);
        for (let i = 0; i < chunk.length; i++) rows[i] = table.decode(chunk[i]!.key, chunk[i]!.value);
        yield rows;
      }
    }
  }

  async *#secondary(ranges: readonly KeyRange[], env: Env): AsyncIterable<Row[]> {
    const { table, index } = this.path;
    for (const r of ranges) {
      let keys: Uint8Array[] = [];
      const flush = async (): Promise<Row[]> => {
        const values = await Promise.all(keys.map((k) => env.txn.get(k, env.signal)));
        const rows: Row[] = [];
        for (let i = 0; i < keys.length; i++) {
          const v = values[i];
          if (v === undefined) {
            throw new SqlError(
              'ERR_SQL_DATA_CORRUPTED',
              `index ${index.name} names a row that does not exist`,
            );
          }
          rows.push(table.decode(keys[i]!, v));
        }
        keys = [];
        return rows;
      };
      for await (const chunk of env.txn.scanChunks(
        { start: r.start, end: r.end, reverse: this.settings.reverse },
        env.signal,
      )) {
        for (const kv of chunk) {
          keys.push(table.primaryKeyFromIndex(index, kv.key));
          if (keys.length >= LOOKUP_CHUNK) yield await flush();
        }
      }
      if (keys.length > 0) yield await flush();
    }
  }
}
