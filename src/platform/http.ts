/**
 * Our one wrapper over node:http / node:https servers: a tiny router, JSON bodies with size limits,
 * timeouts against slow clients, one error handler that never leaks internals, `/healthz` and
 * `/metrics` helpers, and a graceful close that lets in-flight requests finish before a deadline.
 */
import { randomUUID, X509Certificate } from 'node:crypto';
import {
  createServer as createPlainServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { HttpError, type HttpRequest, type HttpResponse, type HttpRouter } from './http-router.ts';
import { METRICS_CONTENT_TYPE, type MetricsRegistry } from './metrics.ts';

export {
  HttpError,
  type HttpHandler,
  type HttpRequest,
  type HttpResponse,
  HttpRouter,
  type RouteMatch,
} from './http-router.ts';

/** Default request body limit: 1 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 1 << 20;

/** A mapped error: the status, the stable code and a message safe to show the client. */
export interface ErrorReply {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  /** More fields for the `error` object (e.g. `refusal`, `path`). */
  readonly extra?: Readonly<Record<string, string>>;
}

/** TLS settings of the server (TLS 1.3 only). */
export interface HttpTlsOptions {
  readonly key: string | Buffer;
  readonly cert: string | Buffer;
  /** CAs whose client certificates count as `peerAuthorized`. */
  readonly ca?: string | readonly string[];
  /** Ask for a client certificate (never required at TLS level; handlers decide). */
  readonly requestCert?: boolean;
}

/** Options of {@link createHttpServer}. */
export interface HttpServerOptions {
  readonly router: HttpRouter;
  /** Serve HTTPS with these settings; plain HTTP without. */
  readonly tls?: HttpTlsOptions;
  readonly maxBodyBytes?: number;
  /** Time to receive all headers. Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** Time to receive the whole request. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** Idle keep-alive connections are closed after this. Default 5 s. */
  readonly keepAliveTimeoutMs?: number;
  /** TLS handshake deadline. Default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** Maps known errors to replies; unmapped errors become 500 without details. */
  readonly mapError?: (err: unknown) => ErrorReply | undefined;
  /** Adds fields to every JSON object answer (e.g. `simulation: true`). */
  readonly decorate?: (body: Record<string, unknown>) => Record<string, unknown>;
  /** Headers on every response. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Called with unexpected (500) errors: log them here, with the request id. */
  readonly onError?: (err: unknown, info: { requestId: string; method: string; route: string }) => void;
  /** Called when a response is sent. */
  readonly onResponse?: (info: { method: string; route: string; status: number; seconds: number }) => void;
}

/** A started server. */
export interface HttpServer {
  /** Starts listening; port 0 picks a free port. */
  listen(port: number, host?: string): Promise<{ port: number; host: string; url: string }>;
  /** Stops accepting, lets in-flight requests finish, then cuts what is left after `deadlineMs` (default 10 s). */
  close(options?: { deadlineMs?: number }): Promise<void>;
  /** The underlying server (for tests and low-level hooks). */
  readonly server: Server;
}

/**
 * Creates an HTTP(S) server around `router`.
 *
 * @example
 * const router = new HttpRouter();
 * healthRoute(router, () => ({ simulation: true }));
 * const server = createHttpServer({ router, tls: { key, cert } });
 * const { url } = await server.listen(0, '127.0.0.1');
 */
export function createHttpServer(options: HttpServerOptions): HttpServer {
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const sockets = new Set<Socket>();
  let closing = false;
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    if (closing) res.setHeader('connection', 'close');
    void handle(req, res, options, maxBody).finally(() => {
      if (closing) server.closeIdleConnections();
    });
  };
  const headersTimeout = options.headersTimeoutMs ?? 10_000;
  const requestTimeout = options.requestTimeoutMs ?? 30_000;
  const timeouts = {
    headersTimeout,
    requestTimeout,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 5_000,
    // How often Node checks the two deadlines above (slow clients are cut within this).
    connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(headersTimeout / 2))),
  };
  const server: Server = options.tls
    ? (createTlsServer(
        {
          ...timeouts,
          key: options.tls.key,
          cert: options.tls.cert,
          ca: typeof options.tls.ca === 'string' ? options.tls.ca : options.tls.ca?.slice(),
          requestCert: options.tls.requestCert ?? false,
          rejectUnauthorized: false,
          minVersion: 'TLSv1.3',
          maxVersion: 'TLSv1.3',
          handshakeTimeout: options.handshakeTimeoutMs ?? 10_000,
        },
        handler,
      ) as unknown as Server)
    : createPlainServer(timeouts, handler);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A TLS handshake that fails (wrong version, bad certificate) must not crash the process.
  server.on('tlsClientError', () => {});
  return {
    server,
    listen: (port, host = '127.0.0.1') =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          const address = server.address() as AddressInfo;
          const scheme = options.tls ? 'https' : 'http';
          const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
          resolve({ port: address.port, host: address.address, url: `${scheme}://${shown}:${address.port}` });
        });
      }),
    close: async ({ deadlineMs = 10_000 } = {}) => {
      if (!server.listening && sockets.size === 0) return;
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      }, deadlineMs);
      try {
        await closed;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: HttpServerOptions,
  maxBody: number,
): Promise<void> {
  const start = process.hrtime.bigint();
  const requestId = randomUUID();
  const method = req.method ?? 'GET';
  let route = '(none)';
  let reply: HttpResponse;
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const match = options.router.match(method, url.pathname);
    route = match.route;
    const request = makeRequest(req, requestId, url, match.params, abort.signal, maxBody);
    reply = await match.handler(request);
  } catch (err) {
    reply = errorResponse(err, options, { requestId, method, route });
  }
  send(res, reply, options, requestId, method);
  options.onResponse?.({
    method,
    route,
    status: res.statusCode,
    seconds: Number(process.hrtime.bigint() - start) / 1e9,
  });
}

function makeRequest(
  req: IncomingMessage,
  id: string,
  url: URL,
  params: Record<string, string>,
  signal: AbortSignal,
  maxBody: number,
): HttpRequest {
  const socket = req.socket as Partial<TLSSocket>;
  let peer: X509Certificate | null | undefined;
  return {
    id,
    method: req.method ?? 'GET',
    path: url.pathname,
    params,
    query: url.searchParams,
    headers: req.headers,
    signal,
    peerAuthorized: socket.authorized === true,
    get peerCertificate() {
      if (peer === undefined) peer = peerCertificateOf(socket);
      return peer;
    },
    json: (o = {}) => readJson(req, o.maxBytes ?? maxBody),
  };
}

function peerCertificateOf(socket: Partial<TLSSocket>): X509Certificate | null {
  if (typeof socket.getPeerCertificate !== 'function') return null;
  const raw = socket.getPeerCertificate(false)?.raw;
  if (!raw || raw.length === 0) return null;
  try {
    return new X509Certificate(raw);
  } catch {
    return null;
  }
}

/** Reads at most `maxBytes` of body and parses it as JSON. */
async function readJson(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge(maxBytes);
    chunks.push(chunk);
  }
  if (size === 0) throw new HttpError(400, 'ERR_BAD_REQUEST', 'the request needs a JSON body');
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'ERR_BAD_REQUEST', 'the request body is not valid JSON');
  }
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, 'ERR_BAD_REQUEST', `the request body exceeds ${maxBytes} bytes`);
}

function errorResponse(
  err: unknown,
  options: HttpServerOptions,
  info: { requestId: string; method: string; route: string },
): HttpResponse {
  const mapped =
    err instanceof HttpError
      ? { status: err.status, code: err.code, message: err.message }
      : options.mapError?.(err);
  if (mapped !== undefined) {
    return {
      status: mapped.status,
      // An oversized body was not read to the end: the connection cannot be reused.
      ...(mapped.status === 413 ? { headers: { connection: 'close' } } : {}),
      json: { error: { code: mapped.code, message: mapped.message, ...(mapped.extra ?? {}) } },
    };
  }
  options.onError?.(err, info);
  return {
    status: 500,
    json: {
      error: {
        code: 'ERR_INTERNAL',
        message: `internal error; the server log has the details under request id ${info.requestId}`,
      },
    },
  };
}

function send(
  res: ServerResponse,
  reply: HttpResponse,
  options: HttpServerOptions,
  requestId: string,
  method: string,
): void {
  if (res.headersSent || res.destroyed) return;
  let body: string;
  let type: string;
  if (reply.text !== undefined) {
    body = reply.text;
    type = reply.contentType ?? 'text/plain; charset=utf-8';
  } else {
    const value = reply.json ?? {};
    const decorated =
      options.decorate && isPlainObject(value) ? options.decorate(value as Record<string, unknown>) : value;
    body = JSON.stringify(decorated);
    type = 'application/json';
  }
  res.statusCode = reply.status ?? 200;
  for (const [k, v] of Object.entries(options.headers ?? {})) res.setHeader(k, v);
  for (const [k, v] of Object.entries(reply.headers ?? {})) res.setHeader(k, v);
  res.setHeader('content-type', type);
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-request-id', requestId);
  res.end(method === 'HEAD' ? undefined : body);
}

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Adds `GET /healthz` answering `{ ok: true, ...extra() }`. */
export function healthRoute(router: HttpRouter, extra: () => Record<string, unknown> = () => ({})): void {
  router.get('/healthz', () => ({ json: { ok: true, ...extra() } }));
}

/** Adds `GET /metrics` in the Prometheus text format. */
export function metricsRoute(router: HttpRouter, registry: MetricsRegistry): void {
  router.get('/metrics', () => ({ text: registry.render(), contentType: METRICS_CONTENT_TYPE }));
}
