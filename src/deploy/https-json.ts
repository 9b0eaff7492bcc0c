/**
 * GET a JSON document from a deployment's service over HTTPS, trusting only the CAS root. Service
 * certificates name the service, not the host: the check is that the certificate carries the
 * expected service identity (or, for the CAS, its TLS name).
 */
import type { PeerCertificate } from 'node:tls';
import { CAS_TLS_NAME } from '../cas/index.ts';
import { expectService, getServiceJson } from '../platform/index.ts';

/** Options of {@link getJson}. */
export interface GetJsonOptions {
  /** PEM of the CAS root. */
  readonly ca: string;
  /** The service the certificate must name; `'cas'` checks the CAS's TLS name. */
  readonly service: string;
  readonly token?: string;
  readonly timeoutMs?: number;
  /** Largest accepted answer (default 1 MiB). */
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
}

/** GETs `url` and parses the JSON answer; rejects on a status other than 200 or after the timeout. */
export function getJson(url: string, o: GetJsonOptions): Promise<unknown> {
  const checkServerIdentity =
    o.service === 'cas'
      ? (_host: string, cert: PeerCertificate) =>
          (cert.subjectaltname ?? '').includes(`DNS:${CAS_TLS_NAME}`)
            ? undefined
            : new Error(`the server is not the CAS (${CAS_TLS_NAME})`)
      : expectService(o.service, 'securecloud');
  return getServiceJson(url, {
    ca: o.ca,
    checkServerIdentity,
    timeoutMs: o.timeoutMs ?? 3000,
    ...(o.token ? { token: o.token } : {}),
    ...(o.maxBytes ? { maxBytes: o.maxBytes } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
}
