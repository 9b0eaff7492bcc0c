/**
 * The HTTPS JSON API of CascaDB: `POST /v1/sql {"sql", "params"}` →
 * `{"columns": [{"name", "type"}], "rows": [[…]], "rowCount", "command"}`, plus `/healthz` and
 * `/metrics`, on the platform's HTTP server (body limits, timeouts, graceful close). Each request
 * runs in its own session: several statements in one `sql` run in order (a `BEGIN; …; COMMIT`
 * inside one request is one transaction) and only the last one's result is returned; a transaction
 * left open at the end of a request is rolled back.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import {
  createHttpServer,
  type HttpRequest,
  type HttpResponse,
  HttpRouter,
  type HttpServer,
  type HttpTlsOptions,
  healthRoute,
  type MetricsRegistry,
  metricsRoute,
} from '../../platform/index.ts';
import { type Database, isSqlError, type QueryResult, SqlError } from '../index.ts';
import { httpStatusOf, paramsFromJson, sqlErrorToJson, toJsonValue } from './json-values.ts';
import { emulateCatalog } from './pg-catalog.ts';

/** Who may call the API. At least one of `password`, `clientCertificates` or `trust` is needed. */
export interface SqlHttpAuth {
  /** `Authorization: Bearer PASSWORD` is accepted (compared in constant time; only a digest is kept). */
  readonly password?: string;
  /**
   * TLS client certificates that chain to `tls.ca` (the CAS root) are accepted; the user is their
   * subject CN. If `allowedNames` is given, only those CNs.
   */
  readonly clientCertificates?: boolean | { readonly allowedNames: readonly string[] };
  /** Accept every request without credentials. For tests only. */
  readonly trust?: boolean;
}

/** Options of {@link createSqlHttpApi}. */
export interface SqlHttpApiOptions {
  readonly database: Database;
  readonly auth: SqlHttpAuth;
  /** HTTPS settings; plain HTTP without (only for tests and loopback). */
  readonly tls?: HttpTlsOptions;
  readonly metrics?: MetricsRegistry;
  /** Largest request body. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** Results with more rows are refused with 54000. Default 100 000. */
  readonly maxRows?: number;
  /** Statements running longer are cancelled (57014). Default 30 000 ms. */
  readonly statementTimeoutMs?: number;
  /** Added to `/healthz` (e.g. `{ simulation: true }`). */
  readonly health?: () => Record<string, unknown>;
  /** Told of unexpected (500) errors, with the request id. */
  readonly onError?: (err: unknown, info: { requestId: string }) => void;
}

class BearerCheck {
  readonly #digest: Buffer;
  constructor(password: string) {
    if (password.length === 0) throw new TypeError('auth.password must not be empty');
    this.#digest = createHash('sha256').update(password, 'utf8').digest();
  }
  matches(candidate: string): boolean {
    return timingSafeEqual(this.#digest, createHash('sha256').update(candidate, 'utf8').digest());
  }
}

/**
 * Creates the JSON API server (not listening yet: call `listen(port, host)`).
 *
 * @example
 * const api = createSqlHttpApi({ database, auth: { password }, tls: { key, cert } });
 * const { url } = await api.listen(8444, '0.0.0.0');
 * // curl -H "authorization: Bearer $PW" -d '{"sql":"SELECT 1"}' https://host:8444/v1/sql
 */
export function createSqlHttpApi(options: SqlHttpApiOptions): HttpServer {
  const authorize = authorizer(options);
  const router = new HttpRouter();
  const m = options.metrics;
  const statements = m?.counter('cascadb_http_statements_total', 'SQL requests by outcome', ['outcome']);
  const requests = m?.histogram('cascadb_http_request_seconds', 'HTTP requests by route and status', [
    'route',
    'status',
  ]);
  router.post('/v1/sql', async (req) => {
    const denied = authorize(req);
    if (denied) return denied;
    const reply = await runSql(req, options);
    statements?.inc({ outcome: (reply.status ?? 200) === 200 ? 'ok' : 'error' });
    return reply;
  });
  healthRoute(router, () => options.health?.() ?? {});
  if (m) metricsRoute(router, m);
  return createHttpServer({
    router,
    ...(options.tls ? { tls: options.tls } : {}),
    ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
    onError: (err, info) => options.onError?.(err, { requestId: info.requestId }),
    onResponse: (info) => requests?.observe({ route: info.route, status: info.status }, info.seconds),
  });
}

function authorizer(options: SqlHttpApiOptions): (req: HttpRequest) => HttpResponse | undefined {
  const { auth } = options;
  const bearer = auth.password !== undefined ? new BearerCheck(auth.password) : undefined;
  const certs = auth.clientCertificates;
  if (!bearer && !certs && auth.trust !== true) {
    throw new TypeError('createSqlHttpApi: auth needs a password, clientCertificates or trust');
  }
  if (certs && !options.tls?.ca) throw new TypeError('auth.clientCertificates needs tls.ca (the CAS root)');
  const allowed = typeof certs === 'object' ? new Set(certs.allowedNames) : undefined;
  return (req) => {
    if (auth.trust === true) return undefined;
    const header = req.headers.authorization;
    if (bearer && typeof header === 'string' && /^Bearer /i.test(header)) {
      if (bearer.matches(header.slice(7).trim())) return undefined;
      return unauthorized('the bearer password is wrong');
    }
    if (certs && req.peerAuthorized && req.peerCertificate) {
      const cn = /(?:^|\n)CN=([^\n]*)/.exec(req.peerCertificate.subject)?.[1];
      if (cn !== undefined && (allowed === undefined || allowed.has(cn))) return undefined;
      return forbidden(`the client certificate of ${JSON.stringify(cn ?? '')} is not allowed`);
    }
    return unauthorized(
      bearer ? 'send Authorization: Bearer PASSWORD' : 'present a client certificate issued by the CAS',
    );
  };
}

function unauthorized(message: string): HttpResponse {
  return {
    status: 401,
    headers: { 'www-authenticate': 'Bearer realm="cascadb"' },
    json: { error: { code: 'ERR_UNAUTHORIZED', sqlstate: '28000', message } },
  };
}

function forbidden(message: string): HttpResponse {
  return { status: 403, json: { error: { code: 'ERR_FORBIDDEN', sqlstate: '28000', message } } };
}

function badRequest(message: string): HttpResponse {
  return { status: 400, json: { error: { code: 'ERR_BAD_REQUEST', sqlstate: '08P01', message } } };
}

async function runSql(req: HttpRequest, options: SqlHttpApiOptions): Promise<HttpResponse> {
  const body = await req.json();
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return badRequest('the body must be a JSON object {"sql": "...", "params": [...]}');
  }
  const { sql, params } = body as { sql?: unknown; params?: unknown };
  if (typeof sql !== 'string' || sql.trim() === '') return badRequest('"sql" must be a non-empty string');
  const values = paramsFromJson(params);
  if (typeof values === 'string') return badRequest(values);
  const emulated = emulateCatalog(sql, {
    tables: () => options.database.tables(),
    user: 'cascadb',
    database: 'cascadb',
  });
  if (emulated === 'unsupported') {
    const err = new SqlError('ERR_SQL_FEATURE_NOT_SUPPORTED', 'this catalog query is not supported');
    return { status: 400, json: { error: sqlErrorToJson(err) } };
  }
  if (emulated !== undefined) {
    return {
      json: {
        columns: emulated.columns.map((c) => ({ name: c.name, type: c.type.name })),
        rows: emulated.rows.map((row) => row.map(toJsonValue)),
        rowCount: emulated.rows.length,
        command: emulated.command,
      },
    };
  }
  const session = options.database.session();
  const signal = AbortSignal.any([req.signal, AbortSignal.timeout(options.statementTimeoutMs ?? 30_000)]);
  try {
    const result = await session.query(sql, values, { signal });
    return { json: resultToJson(result, options.maxRows ?? 100_000) };
  } catch (err) {
    // Anything but a SqlError is the platform's 500 (logged there, without details to the client).
    if (!isSqlError(err)) throw err;
    if (err.sqlstate.startsWith('XX')) options.onError?.(err, { requestId: req.id });
    return { status: httpStatusOf(err), json: { error: sqlErrorToJson(err) } };
  } finally {
    await session.close();
  }
}

function resultToJson(result: QueryResult, maxRows: number): Record<string, unknown> {
  if (result.rows.length > maxRows) {
    throw new SqlError('ERR_SQL_PROGRAM_LIMIT', `the result has more than ${maxRows} rows`, {
      hint: 'add a LIMIT, or page with WHERE on the key',
    });
  }
  return {
    columns: result.columns.map((c) => ({ name: c.name, type: c.type })),
    rows: result.rows.map((row) => row.map(toJsonValue)),
    rowCount: result.rowCount,
    command: result.command,
  };
}
