/**
 * GET a JSON document from a deployment's service over HTTPS, trusting only the CAS root. Service
 * certificates name the service, not the host: the check is that the certificate carries the
 * expected service identity (or, for the CAS, its TLS name).
 */
import { request } from 'node:https';
import { CAS_TLS_NAME } from '../cas/index.ts';
import { parseServiceIdentity } from '../platform/index.ts';

/** Options of {@link getJson}. */
export interface GetJsonOptions {
  /** PEM of the CAS root. */
  readonly ca: string;
  /** The service the certificate must name; `'cas'` checks the CAS's TLS name. */
  readonly service: string;
  readonly token?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** GETs `url` and parses the JSON answer; rejects on a status other than 200 or after the timeout. */
export function getJson(url: string, o: GetJsonOptions): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca: o.ca,
        agent: false,
        minVersion: 'TLSv1.3',
        timeout: o.timeoutMs ?? 3000,
        ...(o.signal ? { signal: o.signal } : {}),
        ...(o.token ? { headers: { authorization: `Bearer ${o.token}` } } : {}),
        checkServerIdentity: (_host, cert) => {
          if (o.service === 'cas')
            return (cert.subjectaltname ?? '').includes(`DNS:${CAS_TLS_NAME}`)
              ? undefined
              : new Error(`the server is not the CAS (${CAS_TLS_NAME})`);
          return parseServiceIdentity(cert.subjectaltname)?.service === o.service
            ? undefined
            : new Error(`the server is not a ${o.service} service of this CAS`);
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
          if (text.length > 1 << 20) req.destroy(new Error('answer larger than 1 MiB'));
        });
        res.on('end', () => {
          if (res.statusCode !== 200) {
            reject(new Error(`HTTP ${res.statusCode} from ${url}`));
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new Error(`${url} did not answer JSON`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${o.timeoutMs ?? 3000} ms`)));
    req.on('error', reject);
    req.end();
  });
}
