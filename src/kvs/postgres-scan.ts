/**
 * Keyset pagination for the PostgreSQL engine: each page is one `SELECT k, v … WHERE k > $last …
 * ORDER BY k LIMIT n` (or `k < $last … DESC`), so a large scan never holds more than a page in
 * memory, and never holds a connection between pages. Pages start small and grow fourfold up to
 * the configured size while they stay under a byte budget; large values shrink them again.
 */
import { asBuffer } from './engine-guards.ts';
import type { ResolvedScan } from './range.ts';
import type { KeyValue } from './types.ts';

/** The slice of `pg`'s query API the engine uses. */
export interface Queryable {
  query(config: {
    text: string;
    values?: unknown[];
    rowMode?: 'array';
  }): Promise<{ rows: unknown[][]; rowCount: number | null }>;
}

const FIRST_PAGE_ROWS = 64;
const PAGE_BYTE_BUDGET = 4 * 1024 * 1024;

/** Reads one scan page by page. Not a snapshot: each page sees the data committed when it runs. */
export class PostgresScanner {
  readonly #db: Queryable;
  readonly #table: string;
  readonly #maxRows: number;
  #rows: number;
  #after: Uint8Array | undefined;
  #emitted = 0;
  #done = false;

  constructor(db: Queryable, table: string, maxRows: number) {
    this.#db = db;
    this.#table = table;
    this.#maxRows = maxRows;
    this.#rows = Math.min(FIRST_PAGE_ROWS, maxRows);
  }

  /** True once the last page was read. */
  get done(): boolean {
    return this.#done;
  }

  /** The next page of `scan` (empty and done at the end). */
  async next(scan: ResolvedScan): Promise<KeyValue[]> {
    const want = Math.min(this.#rows, scan.limit - this.#emitted);
    const { where, values } = this.#conditions(scan);
    const order = scan.reverse ? 'DESC' : 'ASC';
    values.push(want);
    const text = `SELECT k, v FROM ${this.#table}${where} ORDER BY k ${order} LIMIT $${values.length}`;
    const result = await this.#db.query({ text, values, rowMode: 'array' });
    const page: KeyValue[] = [];
    let bytes = 0;
    for (const row of result.rows) {
      const [key, value] = row as [Uint8Array, Uint8Array];
      page.push({ key, value });
      bytes += key.length + value.length;
    }
    this.#emitted += page.length;
    this.#after = page.at(-1)?.key ?? this.#after;
    this.#done = page.length < want || this.#emitted >= scan.limit;
    this.#resize(page.length, bytes);
    return page;
  }

  #conditions(scan: ResolvedScan): { where: string; values: unknown[] } {
    const clauses: string[] = [];
    const values: unknown[] = [];
    const add = (clause: string, value: Uint8Array): void => {
      values.push(asBuffer(value));
      clauses.push(`k ${clause} $${values.length}`);
    };
    if (!scan.reverse) {
      if (this.#after) add('>', this.#after);
      else if (scan.start) add('>=', scan.start);
      if (scan.end) add('<', scan.end);
    } else {
      if (this.#after) add('<', this.#after);
      else if (scan.end) add('<', scan.end);
      if (scan.start) add('>=', scan.start);
    }
    return { where: clauses.length ? ` WHERE ${clauses.join(' AND ')}` : '', values };
  }

  #resize(rows: number, bytes: number): void {
    if (rows === 0) return;
    if (bytes > PAGE_BYTE_BUDGET) this.#rows = Math.max(1, Math.floor((rows * PAGE_BYTE_BUDGET) / bytes));
    else if (bytes * 4 <= PAGE_BYTE_BUDGET) this.#rows = Math.min(this.#maxRows, this.#rows * 4);
  }
}
