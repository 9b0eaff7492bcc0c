/**
 * The client half of our node:http / node:https wrapper: one request with a deadline, a response
 * size limit, an abort signal, a pinned CA and an optional client certificate; and the peer
 * certificate the answer came over (to check a key bound in attestation evidence).
 */
import { X509Certificate } from 'node:crypto';
import { Agent as HttpAgent, request as plainRequest } from 'node:http';
import { Agent as HttpsAgent, request as tlsRequest } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';

/** Why a request failed before an HTTP answer arrived. */
export type HttpClientFailure = 'timeout' | 'aborted' | 'network' | 'tls' | 'too-large';

/** A request that got no (complete) HTTP answer. */
export class HttpClientError extends Error {
  override readonly name = 'HttpClientError';
  readonly kind: HttpClientFailure;

  constructor(kind: HttpClientFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.kind = kind;
  }
}

/** TLS settings of a client (TLS 1.3 only). */
export interface HttpClientTlsOptions {
  /** Trusted roots (pinned): the system store is NOT used. */
  readonly ca: string | readonly string[];
  /** Client certificate chain and key (PEM) for mutual TLS. */
  readonly cert?: string;
  readonly key?: string;
  /** Checks the server certificate beyond the chain; return an Error to refuse. Default: host name check. */
  readonly checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

/** Options of {@link createHttpClient}. */
export interface HttpClientOptions {
  readonly tls?: HttpClientTlsOptions;
  /** Reuse connections. Default true. */
  readonly keepAlive?: boolean;
  /** Default deadline of each request. Default 10 s. */
  readonly timeoutMs?: number;
  /** Largest accepted answer. Default 16 MiB. */
  readonly maxResponseBytes?: number;
}

/** One request. */
export interface HttpClientRequest {
  readonly method: string;
  readonly url: string | URL;
  /** Sent as JSON when defined. */
  readonly json?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** A complete answer. */
export interface HttpClientResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
  /** The server certificate of the TLS connection (null over plain HTTP). */
  readonly peerCertificate: X509Certificate | null;
}

/** Sends requests over one connection pool. */
export interface HttpClient {
  request(req: HttpClientRequest): Promise<HttpClientResponse>;
  /** Closes pooled connections. */
  close(): void;
}

/**
 * Creates a client.
 *
 * @example
 * const client = createHttpClient({ tls: { ca: rootPem } });
 * const res = await client.request({ method: 'GET', url: 'https://127.0.0.1:8443/healthz' });
 */
export function createHttpClient(options: HttpClientOptions = {}): HttpClient {
  const keepAlive = options.keepAlive ?? true;
  const tls = options.tls;
  const httpsAgent = new HttpsAgent({
    keepAlive,
    ca: typeof tls?.ca === 'string' ? tls.ca : tls?.ca?.slice(),
    cert: tls?.cert,
    key: tls?.key,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    rejectUnauthorized: true,
    ...(tls?.checkServerIdentity ? { checkServerIdentity: tls.checkServerIdentity } : {}),
  });
  const httpAgent = new HttpAgent({ keepAlive });
  return {
    request: (req) =>
      send(req, {
        agent: String(req.url).startsWith('https:') ? httpsAgent : httpAgent,
        timeoutMs: req.timeoutMs ?? options.timeoutMs ?? 10_000,
        maxBytes: options.maxResponseBytes ?? 16 << 20,
        tls: tls !== undefined,
      }),
    close: () => {
      httpsAgent.destroy();
      httpAgent.destroy();
    },
  };
}

interface SendContext {
  readonly agent: HttpAgent;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly tls: boolean;
}

function send(req: HttpClientRequest, ctx: SendContext): Promise<HttpClientResponse> {
  const url = new URL(req.url);
  if (url.protocol === 'http:' && ctx.tls)
    return Promise.reject(new TypeError(`refusing plain http to ${url.host}: TLS settings were given`));
  const body = req.json === undefined ? undefined : Buffer.from(JSON.stringify(req.json));
  const headers: Record<string, string | number> = { accept: 'application/json', ...req.headers };
  if (body !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = body.length;
  }
  const doRequest = url.protocol === 'https:' ? tlsRequest : plainRequest;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: HttpClientError): void => {
      if (settled) return;
      settled = true;
      cleanup();
      outgoing.destroy();
      reject(err);
    };
    const timer = setTimeout(
      () => fail(new HttpClientError('timeout', `no answer from ${url.host} within ${ctx.timeoutMs} ms`)),
      ctx.timeoutMs,
    );
    const onAbort = (): void => fail(new HttpClientError('aborted', 'the request was aborted'));
    const cleanup = (): void => {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
    };
    const outgoing = doRequest(url, { method: req.method, headers, agent: ctx.agent }, (res) => {
      const peerCertificate = peerOf(res.socket as TLSSocket);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > ctx.maxBytes)
          fail(new HttpClientError('too-large', `the answer from ${url.host} exceeds ${ctx.maxBytes} bytes`));
        else chunks.push(chunk);
      });
      res.on('error', (err) => fail(classify(err, url)));
      res.on('end', () => {
        if (settled) return;
        settled = true;
        cleanup();
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks),
          peerCertificate,
        });
      });
    });
    outgoing.on('error', (err) => fail(classify(err, url)));
    if (req.signal?.aborted) return onAbort();
    req.signal?.addEventListener('abort', onAbort, { once: true });
    outgoing.end(body);
  });
}

function peerOf(socket: TLSSocket): X509Certificate | null {
  if (typeof socket.getPeerCertificate !== 'function') return null;
  const raw = socket.getPeerCertificate(false)?.raw;
  return raw && raw.length > 0 ? new X509Certificate(raw) : null;
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL|HOSTNAME|ALTNAME/;

function classify(err: Error, url: URL): HttpClientError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (TLS_CODES.test(code) || /certificate|handshake|tls|ssl/i.test(err.message)) {
    return new HttpClientError('tls', `TLS with ${url.host} failed: ${err.message}`, { cause: err });
  }
  return new HttpClientError('network', `cannot reach ${url.host}: ${code || err.message}`, { cause: err });
}

/** True when `value` is an {@link HttpClientError}. */
export function isHttpClientError(value: unknown): value is HttpClientError {
  return value instanceof HttpClientError;
}
