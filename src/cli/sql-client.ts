/**
 * The SQL client of the CLI: one interface over a PostgreSQL-protocol connection (node-postgres;
 * this is the only CLI file that imports `pg`) and over CascaDB's HTTPS JSON API. Values come back
 * as text (PostgreSQL's text output), or null.
 */
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { createHttpClient, type HttpClient } from '../platform/index.ts';
import { UsageError } from './io.ts';

/** A column of a result. */
export interface SqlClientColumn {
  readonly name: string;
  readonly type: string;
}

/** A result as the CLI shows it. */
export interface SqlClientResult {
  readonly columns: readonly SqlClientColumn[];
  /** Values in text form (JSON API values stringified), null for NULL. */
  readonly rows: ReadonlyArray<ReadonlyArray<string | null>>;
  readonly rowCount: number;
  readonly command: string;
}

/** An error the server answered, with what PostgreSQL would send. */
export class SqlClientError extends Error {
  override readonly name = 'SqlClientError';
  readonly sqlstate: string;
  /** 1-based character offset in the statement, when the server gave one. */
  readonly position: number | undefined;
  readonly hint: string | undefined;

  constructor(message: string, sqlstate: string, position?: number, hint?: string) {
    super(message);
    this.sqlstate = sqlstate;
    this.position = position;
    this.hint = hint;
  }
}

/** A connection to a CascaDB server (or any PostgreSQL server, for `postgres://`). */
export interface SqlClient {
  query(sql: string, params?: readonly unknown[]): Promise<SqlClientResult>;
  close(): Promise<void>;
}

/** How to reach the server. */
export interface SqlClientOptions {
  /** `postgres://user:pw@host:port/db` or `https://host:port` (the JSON API). */
  readonly url: string;
  /** Password (else from the URL, or `SECURECLOUD_SQL_PASSWORD`, or `PGPASSWORD` for pg). */
  readonly password?: string;
  /** CA file (PEM) to pin for TLS: the CAS root, or the server's certificate. */
  readonly caFile?: string;
  /** Client certificate and key files (PEM) for mutual TLS. */
  readonly certFile?: string;
  readonly keyFile?: string;
}

const PG_TYPES: Readonly<Record<number, string>> = {
  16: 'boolean',
  17: 'bytea',
  20: 'bigint',
  21: 'smallint',
  23: 'integer',
  25: 'text',
  700: 'real',
  701: 'double precision',
  1043: 'character varying',
  1114: 'timestamp',
  1700: 'numeric',
};

/** Opens a client for `url` (postgres:// or https://; http:// only for loopback tests). */
export async function openSqlClient(o: SqlClientOptions): Promise<SqlClient> {
  let url: URL;
  try {
    url = new URL(o.url);
  } catch {
    throw new UsageError(`--url ${o.url}: not a URL (postgres://host:port/db or https://host:port)`);
  }
  if (url.protocol === 'postgres:' || url.protocol === 'postgresql:') return openPgClient(o);
  if (url.protocol === 'https:' || url.protocol === 'http:') return openHttpClient(url, o);
  throw new UsageError(`--url ${o.url}: use postgres:// or https://`);
}

async function tlsFiles(o: SqlClientOptions): Promise<{ ca?: string; cert?: string; key?: string }> {
  const read = async (f: string | undefined, what: string) => {
    if (f === undefined) return undefined;
    try {
      return await readFile(f, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read ${what} ${f}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const [ca, cert, key] = await Promise.all([
    read(o.caFile, 'the CA (--ca)'),
    read(o.certFile, 'the client certificate (--cert)'),
    read(o.keyFile, 'the client key (--key)'),
  ]);
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

async function openPgClient(o: SqlClientOptions): Promise<SqlClient> {
  const tls = await tlsFiles(o);
  const password = o.password ?? process.env.SECURECLOUD_SQL_PASSWORD;
  // pg lets the connection string's (absent) password override a `password` option: put it in the URL.
  const url = new URL(o.url);
  if (password !== undefined && url.password === '') url.password = encodeURIComponent(password);
  const client = new pg.Client({
    connectionString: url.toString(),
    ...(tls.ca ? { ssl: { ca: tls.ca, ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}) } } : {}),
    // Keep PostgreSQL's text output: the CLI prints it as is.
    types: { getTypeParser: () => (value: string) => value },
  });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    throw pgError(err);
  }
  return {
    query: async (sql, params = []) => {
      try {
        const res = await client.query({ text: sql, values: params.slice(), rowMode: 'array' });
        const last = Array.isArray(res) ? (res.at(-1) as pg.QueryArrayResult) : res;
        return {
          columns: (last.fields ?? []).map((f) => ({
            name: f.name,
            type: PG_TYPES[f.dataTypeID] ?? `oid ${f.dataTypeID}`,
          })),
          rows: last.rows as (string | null)[][],
          rowCount: last.rowCount ?? last.rows.length,
          command: commandTag(last),
        };
      } catch (err) {
        throw pgError(err);
      }
    },
    close: () => client.end(),
  };
}

function pgError(err: unknown): Error {
  const e = err as { code?: unknown; message?: string; position?: unknown; hint?: unknown };
  if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) {
    const position = typeof e.position === 'string' ? Number(e.position) : undefined;
    return new SqlClientError(
      e.message ?? 'error',
      e.code,
      position,
      typeof e.hint === 'string' ? e.hint : undefined,
    );
  }
  return new SqlClientError(`cannot reach the server: ${e.message ?? String(err)}`, '08006');
}

async function openHttpClient(url: URL, o: SqlClientOptions): Promise<SqlClient> {
  const tls = await tlsFiles(o);
  if (url.protocol === 'https:' && tls.ca === undefined) {
    throw new UsageError('an https:// URL needs --ca FILE (the CAS root or the server certificate) to pin');
  }
  const password =
    o.password ?? (url.password ? decodeURIComponent(url.password) : process.env.SECURECLOUD_SQL_PASSWORD);
  const http: HttpClient = createHttpClient({
    timeoutMs: 120_000,
    maxResponseBytes: 256 << 20,
    ...(tls.ca ? { tls: { ca: tls.ca, ...(tls.cert ? { cert: tls.cert, key: tls.key } : {}) } } : {}),
  });
  const endpoint = new URL('/v1/sql', `${url.protocol}//${url.host}`);
  return {
    query: async (sql, params = []) => {
      let res: Awaited<ReturnType<HttpClient['request']>>;
      try {
        res = await http.request({
          method: 'POST',
          url: endpoint,
          json: { sql, params },
          ...(password ? { headers: { authorization: `Bearer ${password}` } } : {}),
        });
      } catch (err) {
        throw new SqlClientError(`cannot reach the server: ${(err as Error).message}`, '08006');
      }
      return httpResult(res.status, res.body);
    },
    close: async () => http.close(),
  };
}

function httpResult(status: number, body: Buffer): SqlClientResult {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new SqlClientError(`the server answered HTTP ${status} without JSON`, '08P01');
  }
  if (status !== 200) {
    const e = (json.error ?? {}) as Record<string, unknown>;
    const pos = e.position as { offset?: number } | undefined;
    throw new SqlClientError(
      String(e.message ?? `HTTP ${status}`),
      typeof e.sqlstate === 'string' ? e.sqlstate : '08P01',
      pos?.offset,
      typeof e.hint === 'string' ? e.hint : undefined,
    );
  }
  const rows = (json.rows as unknown[][]).map((r) => r.map(textOf));
  return {
    columns: json.columns as SqlClientColumn[],
    rows,
    rowCount: Number(json.rowCount),
    command: String(json.command ?? ''),
  };
}

/** JSON values in PostgreSQL's text form (booleans as `t`/`f`, as psql shows them). */
function textOf(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean') return v ? 't' : 'f';
  return String(v);
}

/** PostgreSQL's command tag, rebuilt from what node-postgres keeps (the first word and the count). */
function commandTag(r: pg.QueryArrayResult): string {
  const command = r.command ?? '';
  if (command === 'INSERT') return `INSERT ${r.oid ?? 0} ${r.rowCount ?? 0}`;
  if (['SELECT', 'UPDATE', 'DELETE', 'MERGE', 'FETCH', 'MOVE', 'COPY'].includes(command)) {
    return `${command} ${r.rowCount ?? 0}`;
  }
  return command;
}
