/**
 * The CAS over HTTPS: TLS 1.3 with a certificate under the CAS root, user requests authenticated by
 * their client certificate, one error mapping, `/healthz` and `/metrics`, every JSON object answer
 * marked `simulation` on the sim backend.
 */
import {
  createHttpServer,
  type ErrorReply,
  HttpRouter,
  type HttpServer,
  healthRoute,
  metricsRoute,
} from '../platform/http.ts';
import { type CasLogger, silentLogger } from './cas-log.ts';
import type { CasService } from './cas-service.ts';
import { type CasErrorCode, isCasError } from './errors.ts';
import { MAX_BODY_BYTES } from './protocol.ts';
import { addBusRoutes } from './routes-bus.ts';
import { addPublicRoutes } from './routes-public.ts';
import { addUserRoutes } from './routes-user.ts';

/** HTTP status of each error code the server answers with; absent codes are internal (500, not shown). */
export const CAS_ERROR_STATUS: Partial<Record<CasErrorCode, number>> = {
  ERR_BAD_REQUEST: 400,
  ERR_POLICY_INVALID: 400,
  ERR_UNAUTHORIZED: 401,
  ERR_FORBIDDEN: 403,
  ERR_POLICY_SIGNATURE: 403,
  ERR_SECRET_NOT_WRITABLE: 403,
  ERR_SECRET_NOT_READABLE: 403,
  ERR_SECRET_UNKNOWN: 404,
  ERR_NOT_FOUND: 404,
  ERR_POLICY_PREDECESSOR: 409,
  ERR_CONFLICT: 409,
  ERR_ATTESTATION_REFUSED: 422,
};

/** Options of {@link startCasServer}. */
export interface CasServerOptions {
  /** Default 8443. Port 0 picks a free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  readonly logger?: CasLogger;
  /** Slow-client limits (defaults of `createHttpServer`). */
  readonly headersTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
}

/** A running CAS server. */
export interface CasServer {
  readonly url: string;
  readonly port: number;
  /** Stops accepting, finishes in-flight requests (deadline), then returns; the CasService stays open. */
  close(options?: { deadlineMs?: number }): Promise<void>;
}

/**
 * Serves `cas` over HTTPS.
 *
 * @example
 * const cas = await CasService.open({ dataDir, backend, measurement });
 * const server = await startCasServer(cas, { port: 8443 });
 */
export async function startCasServer(cas: CasService, options: CasServerOptions = {}): Promise<CasServer> {
  const log = options.logger ?? silentLogger;
  const router = new HttpRouter();
  healthRoute(router, () => ({}));
  metricsRoute(router, cas.registry);
  addPublicRoutes(router, cas);
  addUserRoutes(router, cas);
  addBusRoutes(router, cas);
  const requests = cas.registry.counter(
    'securecloud_http_requests_total',
    'HTTP requests, by route and status.',
    ['method', 'route', 'status'],
  );
  const seconds = cas.registry.histogram(
    'securecloud_http_request_duration_seconds',
    'HTTP request latency.',
    ['route'],
  );
  const tls = cas.tlsCredentials();
  const http: HttpServer = createHttpServer({
    router,
    tls: { key: tls.keyPem, cert: tls.chainPem, ca: cas.rootPem, requestCert: true },
    maxBodyBytes: MAX_BODY_BYTES,
    headersTimeoutMs: options.headersTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs,
    decorate: (body) => ({ ...body, simulation: cas.simulation }),
    headers: cas.simulation ? { 'x-securecloud-simulation': 'true' } : {},
    mapError: casErrorReply,
    onError: (err, info) =>
      log.log('error', 'request failed', {
        ...info,
        error: isCasError(err) ? `${err.code}: ${err.message}` : errorSummary(err),
      }),
    onResponse: (info) => {
      requests.inc({ method: info.method, route: info.route, status: info.status });
      seconds.observe({ route: info.route }, info.seconds);
    },
  });
  const { url, port } = await http.listen(options.port ?? 8443, options.host ?? '127.0.0.1');
  log.log('info', 'CAS listening', { url, measurement: cas.measurement });
  return { url, port, close: (o) => http.close(o) };
}

/** Maps a CasError to its answer; internal codes (state, audit I/O) are left to the 500 handler. */
export function casErrorReply(err: unknown): ErrorReply | undefined {
  if (!isCasError(err)) return undefined;
  const status = CAS_ERROR_STATUS[err.code];
  if (status === undefined) return undefined;
  const extra: Record<string, string> = {};
  if (err.refusal !== undefined) extra.refusal = err.refusal;
  if (err.path !== undefined) extra.path = err.path;
  return { status, code: err.code, message: err.message, extra };
}

function errorSummary(err: unknown): string {
  if (err instanceof Error) return `${err.name}: ${err.message}`;
  return String(err);
}
