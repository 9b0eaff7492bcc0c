import type { X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** An HTTP failure with a status and a stable code; its message is shown to the client. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** What a handler sees of a request. */
export interface HttpRequest {
  readonly id: string;
  readonly method: string;
  /** The path without the query string (not decoded). */
  readonly path: string;
  /** Path parameters (`/v1/secrets/:name` → `name`), URI-decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  readonly headers: IncomingHttpHeaders;
  /** The TLS client certificate, if the client presented one (not necessarily trusted). */
  readonly peerCertificate: X509Certificate | null;
  /** True when the client certificate chains to the server's `ca`. */
  readonly peerAuthorized: boolean;
  /** Aborted when the client goes away. */
  readonly signal: AbortSignal;
  /** Reads and parses the JSON body, refusing more than `maxBytes` (default: the server's limit). */
  json(options?: { maxBytes?: number }): Promise<unknown>;
}

/** What a handler returns: a JSON value, or text with a content type. */
export interface HttpResponse {
  readonly status?: number;
  readonly json?: unknown;
  readonly text?: string;
  readonly contentType?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Handles one route. */
export type HttpHandler = (req: HttpRequest) => HttpResponse | Promise<HttpResponse>;

/** A matched route. */
export interface RouteMatch {
  /** The route pattern (`/v1/secrets/:name`): a bounded metrics label. */
  readonly route: string;
  readonly handler: HttpHandler;
  readonly params: Record<string, string>;
}

interface Route {
  readonly method: string;
  readonly pattern: string;
  readonly segments: readonly string[];
  readonly handler: HttpHandler;
}

/**
 * A tiny router: exact segments and `:param` segments, first match wins.
 *
 * @example
 * const router = new HttpRouter().get('/v1/secrets/:name', (req) => ({ json: { name: req.params.name } }));
 */
export class HttpRouter {
  readonly #routes: Route[] = [];

  /** Adds a route. */
  add(method: string, pattern: string, handler: HttpHandler): this {
    if (!pattern.startsWith('/')) throw new TypeError(`route ${pattern} must start with /`);
    this.#routes.push({ method: method.toUpperCase(), pattern, segments: pattern.split('/'), handler });
    return this;
  }

  get(pattern: string, handler: HttpHandler): this {
    return this.add('GET', pattern, handler);
  }

  post(pattern: string, handler: HttpHandler): this {
    return this.add('POST', pattern, handler);
  }

  put(pattern: string, handler: HttpHandler): this {
    return this.add('PUT', pattern, handler);
  }

  delete(pattern: string, handler: HttpHandler): this {
    return this.add('DELETE', pattern, handler);
  }

  /**
   * Finds the route for `method` and `path`. Throws HttpError 404 when no pattern matches, 405 when
   * the path matches only with other methods, 400 when a parameter is not valid percent-encoding.
   */
  match(method: string, path: string): RouteMatch {
    const parts = path.split('/');
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const params = matchSegments(route.segments, parts);
      if (params === null) continue;
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) {
        allowed.push(route.method);
        continue;
      }
      return { route: route.pattern, handler: route.handler, params };
    }
    if (allowed.length > 0)
      throw new HttpError(405, 'ERR_BAD_REQUEST', `${method} is not allowed here; use ${allowed.join(', ')}`);
    throw new HttpError(404, 'ERR_NOT_FOUND', 'no such endpoint');
  }
}

function matchSegments(pattern: readonly string[], parts: readonly string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const want = pattern[i] ?? '';
    const got = parts[i] ?? '';
    if (want.startsWith(':')) {
      if (got === '') return null;
      try {
        params[want.slice(1)] = decodeURIComponent(got);
      } catch {
        throw new HttpError(400, 'ERR_BAD_REQUEST', `path segment ${i} is not valid percent-encoding`);
      }
    } else if (want !== got) {
      return null;
    }
  }
  return params;
}
