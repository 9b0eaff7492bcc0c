/**
 * GET a JSON document from a CAS-issued service over HTTPS (TLS 1.3, the CAS root as the only CA), on
 * top of {@link createHttpClient}. Service certificates name the service, not the host it runs on,
 * so callers pass the identity check (`expectService('mdc')`).
 */
import type { PeerCertificate } from 'node:tls';
import { createHttpClient } from './http-client.ts';

/** Options of {@link getServiceJson}. */
export interface ServiceJsonOptions {
  /** PEM of the CAS root. */
  readonly ca: string;
  /** Refuses a server certificate that is not the expected one (return an Error). */
  readonly checkServerIdentity: (host: string, cert: PeerCertificate) => Error | undefined;
  /** Client certificate and key (PEM) for mutual TLS. */
  readonly cert?: string;
  readonly key?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Default 10 s. */
  readonly timeoutMs?: number;
  /** Largest accepted answer, default 1 MiB. */
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
}

/** GETs `url` and parses the JSON answer; rejects on a status other than 200, a timeout or bad JSON. */
export async function getServiceJson(url: string | URL, o: ServiceJsonOptions): Promise<unknown> {
  const client = createHttpClient({
    keepAlive: false,
    timeoutMs: o.timeoutMs ?? 10_000,
    maxResponseBytes: o.maxBytes ?? 1 << 20,
    tls: {
      ca: o.ca,
      checkServerIdentity: o.checkServerIdentity,
      ...(o.cert !== undefined && o.key !== undefined ? { cert: o.cert, key: o.key } : {}),
    },
  });
  try {
    const res = await client.request({
      method: 'GET',
      url,
      ...(o.token ? { headers: { authorization: `Bearer ${o.token}` } } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const text = res.body.toString('utf8');
    if (res.status !== 200) throw new Error(`HTTP ${res.status} from ${url}: ${text.slice(0, 300)}`);
    try {
      return JSON.parse(text);
    } catch {
      throw new Error(`${url} did not answer JSON`);
    }
  } finally {
    client.close();
  }
}
