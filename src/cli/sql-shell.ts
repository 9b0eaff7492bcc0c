/**
 * `securecloud sql shell`: a small SQL REPL. A statement may span lines and runs when a line ends
 * with `;` outside quotes; `\q` quits, `\dt` lists tables, `\?` shows help. Results print as
 * aligned tables, errors with a caret under the position.
 */
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { CliIo } from './io.ts';
import { type SqlClient, SqlClientError } from './sql-client.ts';
import { formatResultTable, formatSqlError } from './sql-format.ts';

/** The query psql 15 sends for `\dt` (the server's catalog emulation answers it). */
export const LIST_TABLES_SQL = `SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN 'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' WHEN 'I' THEN 'partitioned index' END as "Type",
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;`;

const HELP = `\\q          quit
\\dt         list tables
\\?          this help
SQL;        statements end with ';' (they may span lines)`;

/** Options of {@link runSqlShell}. */
export interface SqlShellOptions {
  readonly client: SqlClient;
  readonly input: Readable;
  readonly io: CliIo;
  /** Show prompts (`cascadb=> `); default: when the input is a terminal. */
  readonly prompts?: boolean;
  /** Where prompts go (default process.stdout). */
  readonly promptOut?: (text: string) => void;
}

/** True when `sql` ends with `;` outside quotes and comments. */
export function isComplete(sql: string): boolean {
  let quote: string | undefined;
  let last = '';
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '"') quote = c;
    else if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      if (end < 0) break;
      i = end;
      continue;
    }
    if (!/\s/.test(c)) last = c;
  }
  return quote === undefined && last === ';';
}

/** Runs the REPL until `\q` or the end of the input; resolves with the exit code (0, or 1 if a statement failed). */
export async function runSqlShell(o: SqlShellOptions): Promise<number> {
  const prompts = o.prompts ?? (o.input as Readable & { isTTY?: boolean }).isTTY === true;
  const write = o.promptOut ?? ((t: string) => process.stdout.write(t));
  const rl = createInterface({ input: o.input, terminal: false, crlfDelay: Number.POSITIVE_INFINITY });
  let buffer = '';
  let failed = false;
  const prompt = () => {
    if (prompts) write(buffer === '' ? 'cascadb=> ' : 'cascadb-> ');
  };
  prompt();
  for await (const line of rl) {
    if (buffer === '' && line.trim().startsWith('\\')) {
      const command = line.trim().split(/\s+/)[0];
      if (command === '\\q') break;
      if (command === '\\dt')
        failed = !(await execute(o, LIST_TABLES_SQL, 'Did not find any relations.')) || failed;
      else if (command === '\\?') o.io.out(HELP);
      else o.io.err(`invalid command ${command}; try \\? for help`);
      prompt();
      continue;
    }
    buffer = buffer === '' ? line : `${buffer}\n${line}`;
    if (buffer.trim() === '') buffer = '';
    else if (isComplete(buffer)) {
      failed = !(await execute(o, buffer.trim())) || failed;
      buffer = '';
    }
    prompt();
  }
  rl.close();
  if (buffer.trim() !== '') failed = !(await execute(o, buffer.trim())) || failed;
  return failed ? 1 : 0;
}

async function execute(o: SqlShellOptions, sql: string, whenEmpty?: string): Promise<boolean> {
  try {
    const result = await o.client.query(sql);
    o.io.out(result.rows.length === 0 && whenEmpty ? whenEmpty : formatResultTable(result));
    return true;
  } catch (err) {
    if (!(err instanceof SqlClientError)) throw err;
    o.io.err(formatSqlError(err, sql));
    return false;
  }
}
