/**
 * Catalog emulation: answers the catalog queries that `psql` 15 sends for `\d`, `\dt`, `\di` and
 * `\d TABLE`, the session functions clients call (`version()`, `current_database()`…) and `SHOW`
 * of the parameters the server reports, from CascaDB's own catalog. Queries are recognized by
 * their shape (the tables and columns they read), not run: CascaDB's SQL has no regclass, OPERATOR()
 * or COLLATE. Other queries on `pg_catalog` tables psql reads for `\d` (policies, statistics,
 * publications, inheritance) return no rows; any other catalog query is 0A000.
 */
import { formatExpr } from '../format.ts';
import type { TableDesc } from '../table-info.ts';
import { typeLabel } from '../types.ts';
import type { WireColumn } from './pg-messages.ts';
import { PG_EXTRA_TYPES, PG_TYPES, type PgType } from './pg-types.ts';

/** An emulated result: columns with wire types, rows of values those types encode. */
export interface EmulatedResult {
  readonly columns: readonly WireColumn[];
  readonly rows: unknown[][];
  readonly command: string;
}

/** What the emulation reads. */
export interface CatalogSource {
  tables(): readonly TableDesc[];
  readonly user: string;
  readonly database: string;
}

/** The server's version string, as `version()` returns it. */
export const SERVER_VERSION = '15.0 (CascaDB)';

/** Parameters reported at startup and answered by SHOW (lower-case names). */
export const REPORTED_PARAMETERS: Readonly<Record<string, string>> = {
  server_version: SERVER_VERSION,
  server_encoding: 'UTF8',
  client_encoding: 'UTF8',
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  integer_datetimes: 'on',
  standard_conforming_strings: 'on',
  TimeZone: 'UTC',
  is_superuser: 'off',
};

const SHOWABLE: Readonly<Record<string, string>> = {
  ...Object.fromEntries(Object.entries(REPORTED_PARAMETERS).map(([k, v]) => [k.toLowerCase(), v])),
  search_path: '"$user", public',
  max_identifier_length: '63',
  transaction_isolation: 'serializable',
  default_transaction_isolation: 'serializable',
  transaction_read_only: 'off',
  lc_collate: 'C',
  lc_ctype: 'C',
};

const T = PG_TYPES;
const X = PG_EXTRA_TYPES;
const col = (name: string, type: PgType): WireColumn => ({ name, type });
const TABLE_OID_BASE = 16384;
const OID_STRIDE = 1000;

/** The OID a table is shown with (its index ids are added to it). */
export function tableOid(t: TableDesc): number {
  return TABLE_OID_BASE + t.id * OID_STRIDE;
}

function formatType(t: TableDesc['columns'][number]['type']): string {
  return t.name === 'timestamp' ? 'timestamp without time zone' : typeLabel(t);
}

function visibleColumns(t: TableDesc): TableDesc['columns'] {
  return t.columns.filter((c) => c.hidden !== true);
}

interface IndexView {
  readonly name: string;
  readonly oid: number;
  readonly primary: boolean;
  readonly unique: boolean;
  readonly columns: string;
}

function indexesOf(t: TableDesc): IndexView[] {
  const name = (id: number, desc: boolean): string => {
    const c = t.columns.find((x) => x.id === id);
    return `${c?.name ?? '?'}${desc ? ' DESC' : ''}`;
  };
  const out: IndexView[] = [];
  const hiddenKey = t.primaryKey.some((k) => t.columns.find((c) => c.id === k.columnId)?.hidden === true);
  if (!hiddenKey) {
    const columns = t.primaryKey.map((k) => name(k.columnId, k.desc)).join(', ');
    out.push({ name: t.primaryKeyName, oid: tableOid(t) + 1, primary: true, unique: true, columns });
  }
  for (const ix of t.indexes) {
    const columns = ix.columns.map((k) => name(k.columnId, k.desc)).join(', ');
    out.push({ name: ix.name, oid: tableOid(t) + ix.id, primary: false, unique: ix.unique, columns });
  }
  return out;
}

function regexFilter(sql: string, column: string): RegExp | undefined | null {
  const re = new RegExp(`${column} OPERATOR\\(pg_catalog\\.~\\) '((?:[^']|'')*)'`);
  const m = re.exec(sql);
  if (m === null) return undefined;
  try {
    return new RegExp(m[1]!.replaceAll("''", "'"));
  } catch {
    return null;
  }
}

function oidFilter(sql: string, column: string): number | undefined {
  const m = new RegExp(`${column.replace('.', '\\.')} ?= ?'?(\\d+)'?`).exec(sql);
  return m === null ? undefined : Number(m[1]);
}

/** `\dt`, `\di`, `\d`: Schema, Name, Type, Owner (and Table for indexes). */
function listRelations(sql: string, src: CatalogSource): EmulatedResult {
  const kinds = /c\.relkind IN \(([^)]*)\)/.exec(sql)?.[1] ?? "'r'";
  const name = regexFilter(sql, 'c.relname');
  const withTable = sql.includes('as "Table"');
  const rows: unknown[][] = [];
  for (const t of src.tables()) {
    if (kinds.includes("'r'") && name !== null && (name === undefined || name.test(t.name))) {
      rows.push(['public', t.name, 'table', src.user, ...(withTable ? [null] : [])]);
    }
    if (!kinds.includes("'i'")) continue;
    for (const ix of indexesOf(t)) {
      if (name === null || (name !== undefined && !name.test(ix.name))) continue;
      rows.push(['public', ix.name, 'index', src.user, ...(withTable ? [t.name] : [])]);
    }
  }
  rows.sort((a, b) => String(a[1]).localeCompare(String(b[1])));
  const columns = [col('Schema', X.name!), col('Name', X.name!), col('Type', T.text!), col('Owner', X.name!)];
  if (withTable) columns.push(col('Table', X.name!));
  return { columns, rows, command: `SELECT ${rows.length}` };
}

function findTable(src: CatalogSource, oid: number | undefined): TableDesc | undefined {
  return src.tables().find((t) => tableOid(t) === oid);
}

function lookupRelation(sql: string, src: CatalogSource): EmulatedResult {
  const name = regexFilter(sql, 'c.relname');
  const schema = regexFilter(sql, 'n.nspname');
  const rows =
    name === null || schema === null || (schema !== undefined && !schema.test('public'))
      ? []
      : src
          .tables()
          .filter((t) => name === undefined || name.test(t.name))
          .map((t) => [tableOid(t), 'public', t.name]);
  const columns = [col('oid', X.oid!), col('nspname', X.name!), col('relname', X.name!)];
  return { columns, rows, command: `SELECT ${rows.length}` };
}

function relationInfo(sql: string, src: CatalogSource): EmulatedResult {
  const t = findTable(src, oidFilter(sql, 'c.oid'));
  const b = T.boolean!;
  const columns = [
    col('relchecks', X.int2!),
    col('relkind', X.char!),
    ...['relhasindex', 'relhasrules', 'relhastriggers', 'relrowsecurity', 'relforcerowsecurity'].map((n) =>
      col(n, b),
    ),
    col('relhasoids', b),
    col('relispartition', b),
    col('?column?', T.text!),
    col('reltablespace', X.oid!),
    col('reloftype', T.text!),
    col('relpersistence', X.char!),
    col('relreplident', X.char!),
    col('amname', X.name!),
  ];
  const hasIndex = t !== undefined && indexesOf(t).length > 0;
  const rows =
    t === undefined
      ? []
      : [[0, 'r', hasIndex, false, false, false, false, false, false, '', 0, '', 'p', 'd', 'heap']];
  return { columns, rows, command: `SELECT ${rows.length}` };
}

function attributes(sql: string, src: CatalogSource): EmulatedResult {
  const t = findTable(src, oidFilter(sql, 'a.attrelid'));
  const columns = [
    col('attname', X.name!),
    col('format_type', T.text!),
    col('pg_get_expr', T.text!),
    col('attnotnull', T.boolean!),
    col('attcollation', X.name!),
    col('attidentity', X.char!),
    col('attgenerated', X.char!),
  ];
  const keyIds = new Set(t?.primaryKey.map((k) => k.columnId));
  const rows = (t === undefined ? [] : visibleColumns(t)).map((c) => [
    c.name,
    formatType(c.type),
    c.default === undefined ? null : formatExpr(c.default),
    c.notNull || keyIds.has(c.id),
    null,
    '',
    '',
  ]);
  return { columns, rows, command: `SELECT ${rows.length}` };
}

function indexes(sql: string, src: CatalogSource): EmulatedResult {
  const t = findTable(src, oidFilter(sql, 'c.oid'));
  const b = T.boolean!;
  const columns = [
    col('relname', X.name!),
    ...['indisprimary', 'indisunique', 'indisclustered', 'indisvalid'].map((n) => col(n, b)),
    col('pg_get_indexdef', T.text!),
    col('pg_get_constraintdef', T.text!),
    col('contype', X.char!),
    col('condeferrable', b),
    col('condeferred', b),
    col('indisreplident', b),
    col('reltablespace', X.oid!),
  ];
  const rows = (t === undefined ? [] : indexesOf(t)).map((ix) => {
    const def = `CREATE ${ix.unique ? 'UNIQUE ' : ''}INDEX ${ix.name} ON ${t!.name} USING btree (${ix.columns})`;
    const constraint = ix.primary
      ? [`PRIMARY KEY (${ix.columns})`, 'p', false, false]
      : [null, null, null, null];
    return [ix.name, ix.primary, ix.unique, false, true, def, ...constraint, false, 0];
  });
  rows.sort((a, b) => Number(b[1]) - Number(a[1]) || String(a[0]).localeCompare(String(b[0])));
  return { columns, rows, command: `SELECT ${rows.length}` };
}

/** Catalog tables psql reads for `\d` about features CascaDB does not have: no rows. */
const EMPTY_CATALOGS =
  /pg_catalog\.(pg_policy|pg_statistic_ext|pg_publication|pg_inherits|pg_trigger|pg_rewrite|pg_constraint r)\b/;

function emptyResult(): EmulatedResult {
  return { columns: [col('?column?', T.text!)], rows: [], command: 'SELECT 0' };
}

const FUNCTIONS: Readonly<Record<string, (src: CatalogSource) => string>> = {
  version: () => `PostgreSQL ${SERVER_VERSION} on a TEE, securecloud`,
  current_database: (src) => src.database,
  current_schema: () => 'public',
  current_user: (src) => src.user,
  session_user: (src) => src.user,
  user: (src) => src.user,
  current_catalog: (src) => src.database,
  pg_backend_pid: () => '0',
};

/** `SELECT version(), current_database() AS db` and the like, when every item is one of FUNCTIONS. */
function sessionFunctions(sql: string, src: CatalogSource): EmulatedResult | undefined {
  const m = /^select\s+(.*?)\s*$/is.exec(sql);
  if (m === null) return undefined;
  const columns: WireColumn[] = [];
  const row: unknown[] = [];
  for (const item of m[1]!.split(',')) {
    const f =
      /^\s*(?:pg_catalog\.)?([a-z_]+)\s*(\(\s*\))?\s*(?:(?:as\s+)?("?)([A-Za-z_][A-Za-z0-9_ ]*)\3)?\s*$/i.exec(
        item,
      );
    const name = f?.[1]?.toLowerCase();
    const fn = name === undefined ? undefined : FUNCTIONS[name];
    if (
      fn === undefined ||
      (f![2] === undefined &&
        !['current_user', 'session_user', 'user', 'current_catalog', 'current_schema'].includes(name!))
    )
      return undefined;
    columns.push(
      col(
        f![4] ?? name!,
        name === 'pg_backend_pid'
          ? T.integer!
          : name!.startsWith('current_') || name!.endsWith('user')
            ? X.name!
            : T.text!,
      ),
    );
    row.push(name === 'pg_backend_pid' ? 0 : fn(src));
  }
  return { columns, rows: [row], command: 'SELECT 1' };
}

/** The default of a parameter SHOW asks for that the engine does not know, or undefined. */
export function showDefault(name: string): EmulatedResult | undefined {
  const value = SHOWABLE[name.toLowerCase()];
  if (value === undefined) return undefined;
  return { columns: [col(name.toLowerCase(), T.text!)], rows: [[value]], command: 'SHOW' };
}

/**
 * The emulated answer to one statement, or undefined when the engine should run it.
 * Queries on `pg_catalog` or `information_schema` that are not recognized raise 0A000 through
 * the returned `unsupported` string.
 */
export function emulateCatalog(
  sqlText: string,
  src: CatalogSource,
): EmulatedResult | 'unsupported' | undefined {
  const sql = sqlText.trim().replace(/;\s*$/, '');
  if (!/pg_catalog|information_schema|\(\s*\)|current_|session_user|\buser\b/i.test(sql)) return undefined;
  const fn = sessionFunctions(sql, src);
  if (fn !== undefined) return fn;
  if (!/pg_catalog\.|information_schema\./i.test(sql)) return undefined;
  if (sql.includes('pg_catalog.pg_get_userbyid(c.relowner) as "Owner"')) return listRelations(sql, src);
  if (/^SELECT c\.oid,\s+n\.nspname,\s+c\.relname\s+FROM pg_catalog\.pg_class c/.test(sql))
    return lookupRelation(sql, src);
  if (sql.startsWith('SELECT c.relchecks, c.relkind')) return relationInfo(sql, src);
  if (/^SELECT a\.attname,\s+pg_catalog\.format_type/.test(sql) && sql.includes('a.attgenerated'))
    return attributes(sql, src);
  if (/^SELECT c2\.relname, i\.indisprimary/.test(sql)) return indexes(sql, src);
  if (EMPTY_CATALOGS.test(sql)) return emptyResult();
  return 'unsupported';
}
