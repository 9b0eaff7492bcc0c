/**
 * Checks the CAS's answer to an attestation before a service uses it: the shape (data from the
 * network), and that the certificate is issued by the pinned root, to our key, for our name.
 */
import { type KeyObject, X509Certificate } from 'node:crypto';
import { CasError } from '../cas/index.ts';

/** A secret as the CAS hands it out. */
export interface GrantedSecret {
  readonly type: string;
  readonly fields: Readonly<Record<string, string>>;
}

/** What the CAS grants an attested service (`POST /v1/attest`). */
export interface CasGrant {
  readonly instanceId: string;
  readonly certificate: string;
  readonly caCertificate: string;
  readonly secrets: Readonly<Record<string, GrantedSecret>>;
  readonly env: Readonly<Record<string, string>>;
  readonly files: Readonly<Record<string, string>>;
  readonly args: readonly string[];
  readonly leaseSeconds: number;
  readonly simulation: boolean;
}

/** What the grant must match. */
export interface GrantExpectation {
  readonly service: string;
  readonly publicKey: KeyObject;
  readonly casRootPem: string;
}

/**
 * Validates `answer` and returns it typed. An answer that is malformed, or a certificate that the
 * pinned root did not sign, that certifies another key or names another service, is an impostor:
 * CasError ERR_CAS_IDENTITY (shape errors: ERR_BAD_REQUEST with the field in `path`).
 */
export function checkGrant(answer: unknown, expected: GrantExpectation): CasGrant {
  const grant = grantShape(answer);
  const root = new X509Certificate(expected.casRootPem);
  const cert = parseCertificate(grant.certificate, 'certificate');
  const ca = parseCertificate(grant.caCertificate, 'caCertificate');
  if (ca.fingerprint256 !== root.fingerprint256) {
    throw identity('the CAS answered a CA certificate other than the pinned CAS root');
  }
  if (!cert.checkIssued(root) || !cert.verify(root.publicKey)) {
    throw identity('the service certificate is not signed by the pinned CAS root');
  }
  if (!cert.publicKey.equals(expected.publicKey)) {
    throw identity('the service certificate certifies another public key than ours');
  }
  const uri = `securecloud://service/${expected.service}/instance/${grant.instanceId}`;
  if (!(cert.subjectAltName ?? '').split(', ').includes(`URI:${uri}`)) {
    throw identity(`the service certificate does not name ${uri}`);
  }
  return grant;
}

function identity(message: string): CasError {
  return new CasError('ERR_CAS_IDENTITY', message);
}

function parseCertificate(pem: string, field: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new CasError('ERR_CAS_IDENTITY', `the CAS answered a ${field} that does not parse`, { cause: err });
  }
}

function grantShape(answer: unknown): CasGrant {
  const b = asObject(answer, 'answer');
  const secrets: Record<string, GrantedSecret> = {};
  for (const [name, s] of Object.entries(obj(b, 'secrets'))) {
    const entry = asObject(s, `secrets.${name}`);
    secrets[name] = {
      type: str(entry, 'type'),
      fields: strings(obj(entry, 'fields'), `secrets.${name}.fields`),
    };
  }
  const args = b.args;
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw malformed('args');
  return {
    instanceId: str(b, 'instanceId'),
    certificate: str(b, 'certificate'),
    caCertificate: str(b, 'caCertificate'),
    secrets,
    env: strings(obj(b, 'env'), 'env'),
    files: strings(obj(b, 'files'), 'files'),
    args: args as string[],
    leaseSeconds: positive(b, 'leaseSeconds'),
    simulation: b.simulation === true,
  };
}

function malformed(field: string): CasError {
  return new CasError('ERR_BAD_REQUEST', `the CAS answered a malformed ${field}`, { path: field });
}

function asObject(v: unknown, field: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw malformed(field);
  return v as Record<string, unknown>;
}

function obj(b: Record<string, unknown>, field: string): Record<string, unknown> {
  return asObject(b[field], field);
}

function str(b: Record<string, unknown>, field: string): string {
  const v = b[field];
  if (typeof v !== 'string' || v.length === 0) throw malformed(field);
  return v;
}

function positive(b: Record<string, unknown>, field: string): number {
  const v = b[field];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw malformed(field);
  return v;
}

function strings(o: Record<string, unknown>, field: string): Record<string, string> {
  for (const [k, v] of Object.entries(o)) if (typeof v !== 'string') throw malformed(`${field}.${k}`);
  return o as Record<string, string>;
}
