/**
 * `securecloud sql import TABLE --csv FILE`: streams a CSV file (RFC 4180; first row = column
 * names) into a table with batched multi-row INSERTs whose values are parameters, so the server
 * parses and plans each batch shape once. An unquoted empty field is NULL, a quoted one ("") the
 * empty string; values are parsed by the server as literals of the column's type.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { UsageError } from './io.ts';
import type { SqlClient } from './sql-client.ts';

/** A CSV field: text, or null for an unquoted empty field. */
export type CsvField = string | null;

/**
 * Parses CSV from chunks of text, yielding one record (array of fields) at a time.
 *
 * @example
 * for await (const row of parseCsv(createReadStream(file, 'utf8'))) console.log(row);
 */
export async function* parseCsv(chunks: AsyncIterable<string | Buffer>): AsyncGenerator<CsvField[]> {
  // States: 0 start of a field, 1 unquoted field, 2 inside quotes, 3 a quote seen inside quotes.
  let state = 0;
  let field = '';
  let quoted = false;
  let record: CsvField[] = [];
  const endField = (): void => {
    record.push(field === '' && !quoted ? null : field);
    field = '';
    quoted = false;
    state = 0;
  };
  for await (const chunk of chunks) {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    for (const c of text) {
      if (state === 2) {
        if (c === '"') state = 3;
        else field += c;
        continue;
      }
      if (c === '"' && (state === 0 || state === 3)) {
        if (state === 3) field += '"';
        quoted = true;
        state = 2;
      } else if (c === ',') endField();
      else if (c === '\n') {
        endField();
        if (!(record.length === 1 && record[0] === null)) yield record;
        record = [];
      } else if (c !== '\r') {
        field += c;
        state = 1;
      }
    }
  }
  if (state === 2) throw new UsageError('the CSV file ends inside a quoted field');
  if (field !== '' || quoted || record.length > 0) {
    endField();
    yield record;
  }
}

/** Progress of an import, reported after each batch. */
export interface ImportProgress {
  readonly rows: number;
  readonly bytes: number;
  readonly totalBytes: number;
  readonly seconds: number;
}

/** Options of {@link importCsv}. */
export interface ImportCsvOptions {
  readonly client: SqlClient;
  readonly table: string;
  readonly file: string;
  /** Rows per INSERT. Default 500. */
  readonly batchRows?: number;
  readonly onProgress?: (p: ImportProgress) => void;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function quoteIdent(name: string): string {
  return IDENTIFIER.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** Imports the file; resolves with the number of rows inserted. */
export async function importCsv(o: ImportCsvOptions): Promise<number> {
  const totalBytes = (await stat(o.file)).size;
  let bytes = 0;
  async function* counted(): AsyncGenerator<string> {
    // The stream decodes UTF-8 itself, so a character split across chunks stays whole.
    for await (const chunk of createReadStream(o.file, { encoding: 'utf8' }) as AsyncIterable<string>) {
      bytes += Buffer.byteLength(chunk);
      yield chunk;
    }
  }
  const started = performance.now();
  const batchRows = o.batchRows ?? 500;
  let columns: string[] | undefined;
  let batch: CsvField[][] = [];
  let rows = 0;
  const flush = async () => {
    if (batch.length === 0 || columns === undefined) return;
    await o.client.query(insertSql(o.table, columns, batch.length), batch.flat());
    rows += batch.length;
    batch = [];
    o.onProgress?.({ rows, bytes, totalBytes, seconds: (performance.now() - started) / 1000 });
  };
  let line = 1;
  for await (const record of parseCsv(counted())) {
    if (columns === undefined) {
      columns = record.map((c, i) => {
        if (c === null || c.trim() === '') throw new UsageError(`${o.file}: header column ${i + 1} is empty`);
        return c.trim();
      });
      continue;
    }
    line++;
    if (record.length !== columns.length) {
      throw new UsageError(
        `${o.file}: record ${line} has ${record.length} fields, the header ${columns.length}`,
      );
    }
    batch.push(record);
    if (batch.length >= batchRows) await flush();
  }
  if (columns === undefined) throw new UsageError(`${o.file} is empty: the first row must name the columns`);
  await flush();
  return rows;
}

/** `INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)…` for `n` rows. */
export function insertSql(table: string, columns: readonly string[], n: number): string {
  const tuples: string[] = [];
  for (let r = 0; r < n; r++) {
    tuples.push(`(${columns.map((_, c) => `$${r * columns.length + c + 1}`).join(', ')})`);
  }
  const target = table.split('.').map(quoteIdent).join('.');
  return `INSERT INTO ${target} (${columns.map(quoteIdent).join(', ')}) VALUES ${tuples.join(', ')}`;
}

/** One progress line: `[#####-----]  50%  12,000 rows  8,000 rows/s`. */
export function progressLine(p: ImportProgress): string {
  const fraction = p.totalBytes === 0 ? 1 : Math.min(1, p.bytes / p.totalBytes);
  const filled = Math.round(fraction * 20);
  const rate = p.seconds > 0 ? Math.round(p.rows / p.seconds) : 0;
  return `[${'#'.repeat(filled)}${'-'.repeat(20 - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}%  ${p.rows.toLocaleString('en')} rows  ${rate.toLocaleString('en')} rows/s`;
}
