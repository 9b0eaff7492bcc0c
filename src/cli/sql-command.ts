/**
 * `securecloud sql …`: serve CascaDB (PostgreSQL protocol and HTTPS JSON API), run SQL against a
 * server (`exec`, `shell`), and import CSV files.
 */
import type { Command } from 'commander';
import { readText } from './cas-command.ts';
import { type CliIo, EXIT, UsageError } from './io.ts';
import type { CliRun } from './main.ts';
import { openSqlClient, type SqlClient, SqlClientError } from './sql-client.ts';
import { formatResultJson, formatResultTable, formatSqlError } from './sql-format.ts';
import { type ImportProgress, importCsv, progressLine } from './sql-import.ts';
import { registerSqlServeCommand } from './sql-serve-command.ts';
import { runSqlShell } from './sql-shell.ts';

/** The default server URL: `SECURECLOUD_SQL_URL` or the local PostgreSQL-protocol port. */
export const defaultSqlUrl = (): string =>
  process.env.SECURECLOUD_SQL_URL ?? 'postgres://cascadb@127.0.0.1:5433/cascadb';

interface ClientFlags {
  url?: string;
  ca?: string;
  cert?: string;
  key?: string;
  passwordFile?: string;
}

function withClientFlags(cmd: Command): Command {
  return cmd
    .option(
      '--url <url>',
      'postgres://… or https://… (default $SECURECLOUD_SQL_URL or postgres://127.0.0.1:5433)',
    )
    .option('--ca <file>', 'CA to pin for TLS (the CAS root, or the server certificate)')
    .option('--cert <file>', 'client certificate (PEM) for mutual TLS')
    .option('--key <file>', 'client key (PEM) for mutual TLS')
    .option('--password-file <file>', 'password file (default $SECURECLOUD_SQL_PASSWORD)');
}

async function connect(flags: ClientFlags): Promise<SqlClient> {
  const password =
    flags.passwordFile === undefined
      ? undefined
      : (await readText(flags.passwordFile, 'the password file')).trim();
  try {
    return await openSqlClient({
      url: flags.url ?? defaultSqlUrl(),
      ...(password !== undefined ? { password } : {}),
      ...(flags.ca ? { caFile: flags.ca } : {}),
      ...(flags.cert ? { certFile: flags.cert } : {}),
      ...(flags.key ? { keyFile: flags.key } : {}),
    });
  } catch (err) {
    if (err instanceof SqlClientError) throw new UsageError(err.message);
    throw err;
  }
}

async function withClient(
  flags: ClientFlags,
  io: CliIo,
  fn: (c: SqlClient) => Promise<number>,
): Promise<number> {
  const client = await connect(flags);
  try {
    return await fn(client);
  } catch (err) {
    if (!(err instanceof SqlClientError)) throw err;
    io.err(err.message.startsWith('cannot reach') ? `securecloud: ${err.message}` : formatSqlError(err, ''));
    return EXIT.refused;
  } finally {
    await client.close().catch(() => {});
  }
}

/** Registers `securecloud sql serve|exec|shell|import`. */
export function registerSqlCommands(program: Command, run: CliRun): void {
  const sql = program.command('sql').description('CascaDB: serve it, run SQL against it, import CSV');
  registerSqlServeCommand(sql, run);
  withClientFlags(
    sql.command('exec').description('run SQL (one or more statements) and print the last result'),
  )
    .argument('<sql>', 'the SQL text')
    .option('--json', 'print the result as JSON')
    .action(async (text: string, flags: ClientFlags & { json?: boolean }) => {
      run.exitCode = await withClient(flags, run.io, async (client) => {
        try {
          const result = await client.query(text);
          run.io.out(flags.json ? formatResultJson(result) : formatResultTable(result));
          return EXIT.ok;
        } catch (err) {
          if (!(err instanceof SqlClientError) || err.sqlstate === '08006') throw err;
          run.io.err(formatSqlError(err, text));
          return EXIT.refused;
        }
      });
    });
  withClientFlags(
    sql.command('shell').description('an interactive SQL shell (\\q quits, \\dt lists tables)'),
  ).action(async (flags: ClientFlags) => {
    run.exitCode = await withClient(flags, run.io, (client) =>
      runSqlShell({ client, input: process.stdin, io: run.io }),
    );
  });
  withClientFlags(
    sql.command('import').description('import a CSV file (header row = column names) into a table'),
  )
    .argument('<table>', 'the table to insert into')
    .requiredOption('--csv <file>', 'the CSV file')
    .option('--batch <rows>', 'rows per INSERT', '500')
    .action(async (table: string, flags: ClientFlags & { csv: string; batch: string }) => {
      const batchRows = Number(flags.batch);
      if (!Number.isInteger(batchRows) || batchRows < 1 || batchRows > 10_000) {
        throw new UsageError(`--batch ${flags.batch}: 1..10000`);
      }
      run.exitCode = await withClient(flags, run.io, async (client) => {
        const tty = process.stderr.isTTY === true;
        let last: ImportProgress | undefined;
        const rows = await importCsv({
          client,
          table,
          file: flags.csv,
          batchRows,
          onProgress: (p) => {
            last = p;
            if (tty) process.stderr.write(`\r${progressLine(p)}`);
          },
        });
        if (tty) process.stderr.write('\n');
        else if (last) run.io.err(progressLine(last));
        run.io.err(`imported ${rows} rows into ${table}`);
        return EXIT.ok;
      });
    });
}
