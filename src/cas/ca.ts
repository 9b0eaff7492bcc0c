/**
 * The CAS certificate authority: a P-256 root that issues service certificates (after attestation)
 * and TLS server certificates (the CAS's own, `certificate` secrets).
 */
import { createPrivateKey, createPublicKey, type KeyObject, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { freshKeyPair } from '../crypto/index.ts';
import { CasError } from './errors.ts';
import { createIssuer, createSelfSignedCa, type Issuer, randomSerial } from './x509.ts';

const SERVICE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const INSTANCE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const URI_PREFIX = 'securecloud://service/';
/** Issued certificates start this much in the past, for peers with a slightly slow clock. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** The URI SAN of a service certificate: `securecloud://service/NAME/instance/ID`. */
export function serviceUri(service: string, instanceId: string): string {
  return `${URI_PREFIX}${service}/instance/${instanceId}`;
}

/**
 * The service name and instance id in a CAS-issued service certificate (from its URI SAN), or null.
 * It does not verify the certificate: do that first (a TLS handshake that pins the CAS root does).
 */
export function serviceIdentityOf(cert: X509Certificate): { service: string; instanceId: string } | null {
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    const m = /^URI:securecloud:\/\/service\/([a-z0-9-]+)\/instance\/([A-Za-z0-9_-]+)$/.exec(entry);
    if (m) return { service: m[1]!, instanceId: m[2]! };
  }
  return null;
}

/** The JSON form of a {@link CasCa}: holds the private key, so it belongs only in sealed state. */
export interface CasCaJson {
  readonly version: 1;
  readonly rootPem: string;
  readonly keyPem: string;
}

/** The CAS certificate authority. The private key is a `#private` field; `rootPem` is public. */
export class CasCa {
  /** PEM of the root certificate (what clients pin, `DIR/root.pem`). */
  readonly rootPem: string;
  readonly #key: KeyObject;
  readonly #issuer: Issuer;

  private constructor(rootPem: string, key: KeyObject) {
    this.rootPem = rootPem;
    this.#key = key;
    this.#issuer = createIssuer(rootPem, key);
  }

  /** A new CA: fresh P-256 key, self-signed root `securecloud CAS root` valid for ten years. */
  static create(options: { subjectCn?: string; validDays?: number } = {}): CasCa {
    const { privateKey, privateRaw } = freshKeyPair('p256');
    privateRaw.fill(0);
    return new CasCa(
      createSelfSignedCa(options.subjectCn ?? 'securecloud CAS root', privateKey, options.validDays ?? 3650),
      privateKey,
    );
  }

  /** Restores a CA from {@link toJson}. Throws CasError `ERR_STATE_TAMPERED` on a malformed or mismatched entry. */
  static fromJson(j: unknown): CasCa {
    const o = j as Partial<CasCaJson> | null;
    if (
      o === null ||
      typeof o !== 'object' ||
      o.version !== 1 ||
      typeof o.rootPem !== 'string' ||
      typeof o.keyPem !== 'string'
    ) {
      throw new CasError(
        'ERR_STATE_TAMPERED',
        'sealed state: the CA entry is malformed (expected version 1, rootPem, keyPem)',
      );
    }
    let key: KeyObject;
    let cert: X509Certificate;
    try {
      key = createPrivateKey(o.keyPem);
      cert = new X509Certificate(o.rootPem);
    } catch {
      throw new CasError('ERR_STATE_TAMPERED', 'sealed state: the CA key or root certificate does not parse');
    }
    const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
    if (!spki(createPublicKey(key)).equals(spki(cert.publicKey))) {
      throw new CasError(
        'ERR_STATE_TAMPERED',
        'sealed state: the CA key does not match the root certificate',
      );
    }
    return new CasCa(o.rootPem, key);
  }

  /** The CA with its private key (PKCS#8 PEM): only for the sealed state. */
  toJson(): CasCaJson {
    return {
      version: 1,
      rootPem: this.rootPem,
      keyPem: this.#key.export({ type: 'pkcs8', format: 'pem' }) as string,
    };
  }

  /**
   * A service certificate: CN and DNS SAN `service`, URI SAN `securecloud://service/SERVICE/instance/ID`,
   * extended key usage serverAuth + clientAuth. Default validity 30 days.
   */
  issueServiceCertificate(service: string, instanceId: string, publicKey: KeyObject, validDays = 30): string {
    if (!SERVICE.test(service)) throw new TypeError(`"${service}" is not a valid service name`);
    if (!INSTANCE_ID.test(instanceId)) throw new TypeError('an instance id is 1..64 of A-Z a-z 0-9 _ -');
    return this.#issuer.issue({
      subjectCn: service,
      publicKey: assertPublicKey(publicKey),
      dnsNames: [service],
      uris: [serviceUri(service, instanceId)],
      validFrom: new Date(Date.now() - CLOCK_SKEW_MS),
      validDays,
      serial: randomSerial(),
      usage: 'server-client',
    });
  }

  /**
   * A TLS certificate for `dnsNames` (the first is the CN; entries that are IP addresses become IP
   * SANs), extended key usage serverAuth + clientAuth. For the CAS's own endpoint and `certificate` secrets.
   */
  issueTlsCertificate(dnsNames: readonly string[], publicKey: KeyObject, validDays: number): string {
    if (!Array.isArray(dnsNames) || dnsNames.length === 0)
      throw new TypeError('issueTlsCertificate needs at least one name');
    const ips = dnsNames.filter((n) => isIP(n) !== 0);
    return this.#issuer.issue({
      subjectCn: dnsNames[0]!.slice(0, 64),
      publicKey: assertPublicKey(publicKey),
      dnsNames: dnsNames.filter((n) => !ips.includes(n)),
      ipAddresses: ips,
      validFrom: new Date(Date.now() - CLOCK_SKEW_MS),
      validDays,
      serial: randomSerial(),
      usage: 'server-client',
    });
  }
}

function assertPublicKey(key: KeyObject): KeyObject {
  if (key?.type !== 'public') throw new TypeError('publicKey must be a public KeyObject');
  return key;
}
