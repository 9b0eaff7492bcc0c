/**
 * CascaDB: SQL (a PostgreSQL subset) over an ordered, encrypted key-value store. Open a database
 * on any `StorageEngine` (usually the secure store over lmdb), then run SQL through sessions.
 * Other contexts import only from this file. See README.md beside it.
 *
 * @example
 * const db = await openDatabase({ engine });
 * const s = db.session();
 * await s.query('CREATE TABLE reading (meter_id bigint, ts timestamp, kwh double precision, PRIMARY KEY (meter_id, ts))');
 * const insert = await s.prepare('INSERT INTO reading VALUES ($1, $2, $3)');
 * await insert.query([42n, new Date(), 0.25]);
 */
export type { SourcePos, Statement } from './ast.ts';
export {
  type Database,
  type DatabaseOptions,
  type DatabaseStats,
  openDatabase,
} from './database.ts';
export { Decimal, isDecimal } from './decimal.ts';
export {
  isSqlError,
  SQL_ERROR_SQLSTATES,
  SqlError,
  type SqlErrorCode,
  type SqlErrorOptions,
  type SqlState,
} from './errors.ts';
export { formatExpr, formatStatement } from './format.ts';
export { formatKey, type KeyNameResolver } from './key-format.ts';
export { type ParseOptions, parseSql, parseStatement } from './parser.ts';
export type { PreparedStatement } from './prepared.ts';
export type { QueryResult, ResultColumn } from './run-plan.ts';
export type { QueryOptions, Session } from './session.ts';
