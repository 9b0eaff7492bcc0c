/**
 * Who may connect: SCRAM-SHA-256 passwords (only their salted verifiers are kept), TLS client
 * certificates issued by the CAS (the certificate's service name or CN must equal the user), and
 * `trust` for tests. Resolved once when the server starts.
 */
import { randomBytes, type X509Certificate } from 'node:crypto';
import { serviceIdentityOf } from '../../cas/index.ts';
import { createScramVerifier, type ScramVerifier } from './pg-scram.ts';

/** How clients authenticate (at least one method must be enabled). */
export interface PgAuthOptions {
  /** SCRAM-SHA-256 passwords by user name (e.g. the CAS secret `dbPassword` for user `cascadb`). */
  readonly passwords?: Readonly<Record<string, string>>;
  /**
   * Accept a TLS client certificate that chains to `tls.ca` (the CAS root) without a password:
   * its URI SAN service name (`securecloud://service/NAME/…`) or its CN must equal the user.
   */
  readonly clientCertificates?: boolean;
  /** Accept every user without credentials. Only for tests; never in production. */
  readonly trust?: boolean;
  /** PBKDF2 iterations of the verifiers (default 4096, as PostgreSQL). */
  readonly scramIterations?: number;
}

/** The decision for one connection. */
export type AuthDecision =
  | { readonly kind: 'ok' }
  | { readonly kind: 'scram'; readonly verifier: ScramVerifier }
  | { readonly kind: 'refuse'; readonly message: string };

/** The TLS facts the decision uses. */
export interface PeerCertificate {
  readonly authorized: boolean;
  readonly certificate: X509Certificate | undefined;
}

/** The resolved authentication policy of a server. Verifiers live in a `#private` map. */
export class PgAuthenticator {
  readonly #verifiers = new Map<string, ScramVerifier>();
  readonly #fake: ScramVerifier | undefined;
  readonly #certs: boolean;
  readonly #trust: boolean;

  constructor(options: PgAuthOptions) {
    if (options === undefined || typeof options !== 'object')
      throw new TypeError('auth options are required');
    const iterations = options.scramIterations ?? 4096;
    for (const [user, password] of Object.entries(options.passwords ?? {})) {
      if (typeof password !== 'string' || password.length === 0)
        throw new TypeError(`the password of "${user}" must be a non-empty string`);
      this.#verifiers.set(user, createScramVerifier(password, iterations));
    }
    this.#fake =
      this.#verifiers.size > 0
        ? createScramVerifier(randomBytes(24).toString('base64'), iterations)
        : undefined;
    this.#certs = options.clientCertificates === true;
    this.#trust = options.trust === true;
    if (this.#verifiers.size === 0 && !this.#certs && !this.#trust) {
      throw new TypeError('auth: enable passwords, clientCertificates or (for tests) trust');
    }
  }

  /** Whether TLS client certificates are requested. */
  get requestsCertificates(): boolean {
    return this.#certs;
  }

  /** How `user` must authenticate on a connection with these TLS facts. */
  decide(user: string, peer: PeerCertificate | undefined): AuthDecision {
    if (this.#certs && peer?.authorized === true && peer.certificate !== undefined) {
      if (certificateNames(peer.certificate).includes(user)) return { kind: 'ok' };
    }
    const verifier = this.#verifiers.get(user);
    if (verifier !== undefined) return { kind: 'scram', verifier };
    if (this.#trust) return { kind: 'ok' };
    // An unknown user goes through SCRAM with a fake verifier: failing only at the proof does
    // not reveal which users exist.
    if (this.#fake !== undefined) return { kind: 'scram', verifier: this.#fake };
    return { kind: 'refuse', message: `no authentication method accepts user "${user}"` };
  }
}

/** The names a client certificate vouches for: the CAS service name (URI SAN) and the CN. */
export function certificateNames(cert: X509Certificate): string[] {
  const names: string[] = [];
  const service = serviceIdentityOf(cert)?.service;
  if (service !== undefined) names.push(service);
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  if (cn !== undefined) names.push(cn);
  return names;
}

/**
 * Whether a client certificate was issued directly by one of `cas` (the CAS root issues service
 * certificates itself) and is valid now. The TLS handshake has already proven that the client
 * holds the certificate's key. Node verifies client chains only for sockets of a `tls.Server`;
 * the protocol upgrades an accepted socket, so the check is made here.
 */
export function isIssuedBy(
  cert: X509Certificate,
  cas: readonly X509Certificate[],
  now = Date.now(),
): boolean {
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) return false;
  return cas.some((ca) => {
    try {
      return cert.checkIssued(ca) && cert.verify(ca.publicKey);
    } catch {
      return false;
    }
  });
}
