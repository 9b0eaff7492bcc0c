/**
 * Typed HTTPS client of the CAS: pins the CAS root, authenticates users (their key file) or
 * attested instances (their CAS-issued certificate) with mutual TLS, puts a deadline on every call
 * and turns error answers into {@link CasError}s.
 */
import type { PeerCertificate } from 'node:tls';
import { createHttpClient, type HttpClientResponse, isHttpClientError } from '../platform/http-client.ts';
import type { Platform } from '../tee/index.ts';
import {
  ATTESTATION_REFUSALS,
  type AttestationRefusal,
  CAS_ERROR_CODES,
  CasError,
  type CasErrorCode,
} from './errors.ts';
import {
  type AttestGrant,
  CAS_TLS_NAME,
  type CasEvidenceAnswer,
  type CasStatus,
  type ChannelKeysAnswer,
  MAX_AUDIT_PAGE,
  type NonceAnswer,
  type PolicyRecord,
  type PolicySignature,
  type SecretGrant,
} from './protocol.ts';

/** Options of {@link createCasClient}. */
export interface CasClientOptions {
  /** The CAS, e.g. `https://127.0.0.1:8443`. */
  readonly url: string;
  /** PEM of the CAS root (`DIR/root.pem`): the only CA trusted for the CAS's TLS certificate. */
  readonly rootPem: string;
  /** A user key file (private key + certificate, from `cas users keygen`) for user requests. */
  readonly userKeyPem?: string;
  /** A client certificate and key (an attested instance's) for heartbeats and release. */
  readonly clientCert?: { readonly certPem: string; readonly keyPem: string };
  /** Aborts every request of this client. */
  readonly signal?: AbortSignal;
  /** Deadline of each request. Default 10 s. */
  readonly timeoutMs?: number;
}

/** The CAS's own evidence, with the key of the TLS connection it came over. */
export interface CasEvidence {
  readonly evidence: Uint8Array;
  readonly platform: Platform;
  readonly measurement: string;
  readonly simulation: boolean;
  /** DER SPKI of the CAS TLS certificate the answer arrived over (what the evidence must bind). */
  readonly peerSpki: Buffer;
}

/** What a service sends to be attested. */
export interface AttestRequest {
  readonly service: string;
  /** The nonce from {@link CasClient.attestNonce}, hex. */
  readonly nonce: string;
  /** Evidence whose report data is SHA-256(SPKI DER of `publicKey` ‖ nonce bytes) ‖ 32 zero bytes. */
  readonly evidence: Uint8Array;
  /** SPKI PEM of the service's fresh P-256 public key. */
  readonly publicKey: string;
  /** Collateral files for real evidence (Intel / AMD), by file name. */
  readonly collateral?: Readonly<Record<string, Uint8Array>>;
}

/** One audit log entry as served (see `AuditEntry`). */
export type AuditRecord = Readonly<Record<string, unknown>> & { readonly seq: number };

/** The CAS API. Every method rejects with a CasError. */
export interface CasClient {
  status(): Promise<CasStatus>;
  evidence(nonce: string): Promise<CasEvidence>;
  applyPolicy(text: string, signatures: readonly PolicySignature[]): Promise<PolicyRecord>;
  policy(): Promise<{ text: string; hash: string }>;
  policyHistory(): Promise<PolicyRecord[]>;
  putSecret(name: string, value: Uint8Array): Promise<void>;
  getSecret(name: string): Promise<{ name: string } & SecretGrant>;
  audit(from?: number): Promise<AuditRecord[]>;
  attestNonce(service: string): Promise<NonceAnswer>;
  attest(req: AttestRequest): Promise<AttestGrant>;
  heartbeat(instanceId: string): Promise<{ leaseSeconds: number }>;
  release(instanceId: string): Promise<void>;
  /** Records the instance's CURVE public key (Z85) for the secure bus; needs the instance certificate. */
  putCurveKey(instanceId: string, publicKey: string): Promise<void>;
  /** The CURVE keys admitted on a bus channel; needs the certificate of an instance on that channel. */
  channelKeys(channel: string): Promise<ChannelKeysAnswer>;
  /** Closes pooled connections. */
  close(): void;
}

/**
 * Creates a client of the CAS at `url`, trusting only `rootPem`.
 *
 * @example
 * const cas = createCasClient({ url: 'https://127.0.0.1:8443', rootPem, userKeyPem });
 * const { policy } = await cas.status();
 */
export function createCasClient(options: CasClientOptions): CasClient {
  const base = new URL(options.url);
  if (base.protocol !== 'https:') throw new TypeError(`the CAS URL must be https://…, got ${options.url}`);
  if (options.userKeyPem !== undefined && options.clientCert !== undefined)
    throw new TypeError('give either userKeyPem or clientCert, not both');
  const identity = options.clientCert ?? (options.userKeyPem ? splitKeyFile(options.userKeyPem) : undefined);
  const http = createHttpClient({
    timeoutMs: options.timeoutMs ?? 10_000,
    tls: {
      ca: options.rootPem,
      ...(identity ? { cert: identity.certPem, key: identity.keyPem } : {}),
      checkServerIdentity: checkCasIdentity,
    },
  });
  const call = async (method: string, path: string, json?: unknown): Promise<HttpClientResponse> => {
    let res: HttpClientResponse;
    try {
      res = await http.request({ method, url: new URL(path, base), json, signal: options.signal });
    } catch (err) {
      throw transportError(err, base);
    }
    if (res.status >= 400) throw answerError(res);
    return res;
  };
  const getJson = async <T>(method: string, path: string, json?: unknown): Promise<T> =>
    parseJson<T>((await call(method, path, json)).body);
  const id = (instanceId: string) => `/v1/instances/${encodeURIComponent(instanceId)}`;
  return {
    status: () => getJson<CasStatus>('GET', '/v1/status'),
    evidence: async (nonce) => {
      const res = await call('GET', `/v1/evidence?nonce=${encodeURIComponent(nonce)}`);
      const answer = parseJson<CasEvidenceAnswer>(res.body);
      if (res.peerCertificate === null)
        throw new CasError('ERR_CAS_IDENTITY', 'no TLS certificate from the CAS');
      const peerSpki = res.peerCertificate.publicKey.export({ type: 'spki', format: 'der' });
      return { ...answer, evidence: Buffer.from(answer.evidence, 'base64'), peerSpki };
    },
    applyPolicy: (text, signatures) => getJson('POST', '/v1/policy', { text, signatures }),
    policy: () => getJson('GET', '/v1/policy'),
    policyHistory: async () =>
      (await getJson<{ history: PolicyRecord[] }>('GET', '/v1/policy/history')).history,
    putSecret: async (name, value) => {
      await call('PUT', `/v1/secrets/${encodeURIComponent(name)}`, {
        value: Buffer.from(value).toString('base64'),
      });
    },
    getSecret: (name) => getJson('GET', `/v1/secrets/${encodeURIComponent(name)}`),
    audit: async (from = 1) => {
      // Pages of at most MAX_AUDIT_PAGE entries, until a short page.
      const out: AuditRecord[] = [];
      for (let next = from; ; ) {
        const res = await call('GET', `/v1/audit?from=${next}`);
        const page = res.body
          .toString('utf8')
          .split('\n')
          .filter((line) => line.trim() !== '')
          .map((line) => parseJson<AuditRecord>(Buffer.from(line)));
        out.push(...page);
        if (page.length < MAX_AUDIT_PAGE) return out;
        next = (page.at(-1)?.seq ?? next) + 1;
      }
    },
    attestNonce: (service) => getJson('POST', '/v1/attest/nonce', { service }),
    attest: (req) =>
      getJson('POST', '/v1/attest', {
        service: req.service,
        nonce: req.nonce,
        evidence: Buffer.from(req.evidence).toString('base64'),
        publicKey: req.publicKey,
        ...(req.collateral
          ? {
              collateral: Object.fromEntries(
                Object.entries(req.collateral).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
              ),
            }
          : {}),
      }),
    heartbeat: (instanceId) => getJson('POST', `${id(instanceId)}/heartbeat`, {}),
    release: async (instanceId) => {
      await call('DELETE', id(instanceId));
    },
    putCurveKey: async (instanceId, publicKey) => {
      await call('PUT', `${id(instanceId)}/curve-key`, { publicKey });
    },
    channelKeys: (channel) => getJson('GET', `/v1/channels/${encodeURIComponent(channel)}/keys`),
    close: () => http.close(),
  };
}

/** Splits a user key file (PKCS#8 key + certificate, PEM) into its two blocks. */
export function splitKeyFile(pem: string): { certPem: string; keyPem: string } {
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  const key = /-----BEGIN (?:EC |)PRIVATE KEY-----[\s\S]+?-----END (?:EC |)PRIVATE KEY-----/.exec(pem)?.[0];
  if (cert === undefined || key === undefined) {
    throw new TypeError(
      'a user key file must hold a PRIVATE KEY and a CERTIFICATE in PEM (make one with `securecloud cas users keygen`)',
    );
  }
  return { certPem: `${cert}\n`, keyPem: `${key}\n` };
}

/** The CAS's TLS certificate must name {@link CAS_TLS_NAME}: a service certificate under the same root cannot. */
function checkCasIdentity(_host: string, cert: PeerCertificate): Error | undefined {
  const names = (cert.subjectaltname ?? '').split(',').map((s) => s.trim());
  if (names.includes(`DNS:${CAS_TLS_NAME}`)) return undefined;
  return new CasError(
    'ERR_CAS_IDENTITY',
    `the server's certificate chains to the CAS root but is not the CAS's (no DNS name ${CAS_TLS_NAME}): another service is answering at this address`,
  );
}

function transportError(err: unknown, base: URL): CasError {
  if (err instanceof CasError) return err;
  if (isHttpClientError(err)) {
    if (err.kind === 'tls') {
      const cause = err.cause instanceof CasError ? err.cause.message : err.message;
      return new CasError(
        'ERR_CAS_IDENTITY',
        `${cause}; is --cas-root the root.pem of the CAS at ${base.host}?`,
        { cause: err },
      );
    }
    if (err.kind === 'too-large') return new CasError('ERR_BAD_REQUEST', err.message, { cause: err });
    return new CasError('ERR_CAS_UNREACHABLE', `${err.message} (is the CAS running at ${base.origin}?)`, {
      cause: err,
    });
  }
  return new CasError('ERR_CAS_UNREACHABLE', `request to ${base.origin} failed`, { cause: err });
}

function answerError(res: HttpClientResponse): CasError {
  let body: { error?: { code?: unknown; message?: unknown; refusal?: unknown; path?: unknown } } = {};
  try {
    body = JSON.parse(res.body.toString('utf8'));
  } catch {
    // not JSON: fall through to the status-based message
  }
  const e = body.error ?? {};
  const code = (CAS_ERROR_CODES as readonly string[]).includes(String(e.code))
    ? (e.code as CasErrorCode)
    : fallbackCode(res.status);
  const refusal = (ATTESTATION_REFUSALS as readonly string[]).includes(String(e.refusal))
    ? (e.refusal as AttestationRefusal)
    : undefined;
  const message = typeof e.message === 'string' ? e.message : `the CAS answered HTTP ${res.status}`;
  return new CasError(code, message, {
    ...(refusal ? { refusal } : {}),
    ...(typeof e.path === 'string' ? { path: e.path } : {}),
  });
}

function fallbackCode(status: number): CasErrorCode {
  if (status === 401) return 'ERR_UNAUTHORIZED';
  if (status === 403) return 'ERR_FORBIDDEN';
  if (status === 404) return 'ERR_NOT_FOUND';
  if (status >= 500) return 'ERR_INTERNAL';
  return 'ERR_BAD_REQUEST';
}

function parseJson<T>(body: Buffer): T {
  try {
    return JSON.parse(body.toString('utf8')) as T;
  } catch {
    throw new CasError('ERR_BAD_REQUEST', 'the CAS answered with something that is not JSON');
  }
}
