/**
 * The router's X25519 key and its binding to the router's attestation. The router makes the key
 * pair inside its TEE at start-up and signs an announcement of the public key with the private key
 * of its CAS-issued service certificate (which the CAS issued only after verifying the router's
 * evidence, for a key that never leaves the TEE). Clients verify the announcement against the CAS
 * root they pin: chain, validity, service name, signature, expiry. So only code the CAS attested as
 * the router service can read headers and subscriptions sealed to the announced key.
 *
 * Wire form (UTF-8 JSON): `{ "body": "<JSON text>", "certificate": "<PEM>", "signature": "<base64url>" }`;
 * the signature is over `securecloud-scbr-router-key-v1\0` ‖ the bytes of `body` (ECDSA P-256 with
 * SHA-256, DER, for the CAS's P-256 service keys; Ed25519 also verifies).
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
  sign,
  verify,
  X509Certificate,
} from 'node:crypto';
import { serviceIdentityOf } from '../../cas/index.ts';
import { freshKeyPair } from '../../crypto/index.ts';
import { ScbrError } from './errors.ts';

const CONTEXT = Buffer.from('securecloud-scbr-router-key-v1\0');
const MAX_ANNOUNCEMENT_BYTES = 16 * 1024;
const CLOCK_SKEW_MS = 5 * 60_000;
/** Default lifetime of an announcement: clients fetch a new one before it ends. */
export const ROUTER_KEY_VALID_MS = 24 * 60 * 60_000;

/** What the router signs with: an attested service (an `AttestedService` fits). */
export interface RouterSigner {
  readonly name: string;
  readonly instanceId: string;
  readonly certificatePem: string;
  readonly simulation: boolean;
  /** Its `key` is the private key of `certificatePem`. */
  tlsOptions(): { key?: unknown };
}

/** A router public key whose announcement verified. */
export interface VerifiedRouterKey {
  /** Raw X25519 public key, 32 bytes. */
  readonly publicKey: Uint8Array;
  /** First 8 bytes of SHA-256 of the public key: names the key in every envelope. */
  readonly keyId: Uint8Array;
  readonly service: string;
  readonly instanceId: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** Claimed by the router (its certificate does not say): a SIMULATION router protects nothing. */
  readonly simulation: boolean;
}

/** The id of a router public key. */
export function routerKeyId(publicKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(publicKey).digest().subarray(0, 8));
}

/** A key object for a raw 32-byte X25519 public key. */
export function x25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32)
    throw new ScbrError(
      'ERR_SCBR_ENVELOPE_MALFORMED',
      `X25519 public keys are 32 bytes, found ${raw.length}`,
    );
  return createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
}

/** The router's X25519 key pair. The private key is a `#private` field and never leaves the object. */
export class RouterKey {
  readonly publicKey: Uint8Array;
  readonly keyId: Uint8Array;
  #privateKey: KeyObject | undefined;

  private constructor(privateKey: KeyObject, publicKey: Uint8Array) {
    this.#privateKey = privateKey;
    this.publicKey = publicKey;
    this.keyId = routerKeyId(this.publicKey);
  }

  /** A fresh key pair. */
  static generate(): RouterKey {
    const { privateKey, publicRaw, privateRaw } = freshKeyPair('x25519');
    privateRaw.fill(0);
    return new RouterKey(privateKey, new Uint8Array(publicRaw));
  }

  /** X25519 with a client's ephemeral public key. Throws `ERR_SCBR_DECRYPT` for a degenerate key. */
  sharedSecret(peerPublicKey: Uint8Array): Uint8Array {
    if (this.#privateKey === undefined)
      throw new ScbrError('ERR_SCBR_CLOSED', 'the router key was destroyed');
    try {
      return diffieHellman({ privateKey: this.#privateKey, publicKey: x25519PublicKey(peerPublicKey) });
    } catch (cause) {
      throw new ScbrError(
        'ERR_SCBR_DECRYPT',
        'key agreement with the client key failed (invalid or low-order key)',
        { cause },
      );
    }
  }

  /** A signed announcement of the public key, valid for `validMs`. */
  announce(signer: RouterSigner, options: { now?: number; validMs?: number } = {}): Uint8Array {
    const issuedAt = options.now ?? Date.now();
    const body = JSON.stringify({
      version: 1,
      service: signer.name,
      instanceId: signer.instanceId,
      publicKey: Buffer.from(this.publicKey).toString('base64url'),
      issuedAt,
      expiresAt: issuedAt + (options.validMs ?? ROUTER_KEY_VALID_MS),
      simulation: signer.simulation,
    });
    const key = createPrivateKey(signer.tlsOptions().key as string);
    const data = Buffer.concat([CONTEXT, Buffer.from(body)]);
    const signature = sign(key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, key);
    const wire = { body, certificate: signer.certificatePem, signature: signature.toString('base64url') };
    return new Uint8Array(Buffer.from(JSON.stringify(wire)));
  }

  /** Forgets the private key. */
  destroy(): void {
    this.#privateKey = undefined;
  }
}

/** Options of {@link verifyRouterAnnouncement}. */
export interface VerifyRouterOptions {
  /** PEM of the CAS root (an `AttestedService`'s `caCertificatePem`). */
  readonly casRootPem: string;
  /** The router's service name in the CAS policy (default `scbr-router`). */
  readonly routerService?: string;
  readonly now?: number;
}

/**
 * Verifies a router key announcement. Throws `ERR_SCBR_ROUTER_KEY` with `detail.check` one of
 * `format`, `certificate-chain`, `certificate-validity`, `certificate-identity`, `signature`,
 * `not-yet-valid`, `expired`.
 */
export function verifyRouterAnnouncement(bytes: Uint8Array, options: VerifyRouterOptions): VerifiedRouterKey {
  const now = options.now ?? Date.now();
  const expected = options.routerService ?? 'scbr-router';
  const wire = parseWire(bytes);
  const cert = checkCertificate(wire.certificate, options.casRootPem, now);
  const data = Buffer.concat([CONTEXT, Buffer.from(wire.body)]);
  const body = parseBody(wire.body);
  const identity = serviceIdentityOf(cert);
  if (
    identity === null ||
    identity.service !== expected ||
    body.service !== expected ||
    identity.instanceId !== body.instanceId
  ) {
    throw refuse(
      'certificate-identity',
      `the announcement must come from service ${expected}; its certificate names ${identity === null ? 'no service' : `${identity.service}/${identity.instanceId}`}`,
    );
  }
  let ok = false;
  try {
    ok = verify(
      cert.publicKey.asymmetricKeyType === 'ed25519' ? null : 'sha256',
      data,
      cert.publicKey,
      Buffer.from(wire.signature, 'base64url'),
    );
  } catch {
    ok = false;
  }
  if (!ok)
    throw refuse('signature', 'the announcement signature does not verify with the router certificate key');
  if (body.issuedAt > now + CLOCK_SKEW_MS)
    throw refuse(
      'not-yet-valid',
      `the announcement is issued in the future (${new Date(body.issuedAt).toISOString()})`,
    );
  if (body.expiresAt <= now)
    throw refuse(
      'expired',
      `the announcement expired at ${new Date(body.expiresAt).toISOString()}; fetch a new one`,
    );
  const publicKey = new Uint8Array(Buffer.from(body.publicKey, 'base64url'));
  if (publicKey.length !== 32) throw refuse('format', 'the announced key is not 32 bytes');
  return { ...body, publicKey, keyId: routerKeyId(publicKey) };
}

interface Body {
  service: string;
  instanceId: string;
  publicKey: string;
  issuedAt: number;
  expiresAt: number;
  simulation: boolean;
}

function parseWire(bytes: Uint8Array): { body: string; certificate: string; signature: string } {
  if (bytes.length > MAX_ANNOUNCEMENT_BYTES)
    throw refuse('format', `the announcement is larger than ${MAX_ANNOUNCEMENT_BYTES} bytes`);
  let wire: unknown;
  try {
    wire = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw refuse('format', 'the announcement is not JSON');
  }
  const w = wire as Record<string, unknown>;
  if (typeof w?.body !== 'string' || typeof w.certificate !== 'string' || typeof w.signature !== 'string') {
    throw refuse('format', 'the announcement needs string fields body, certificate and signature');
  }
  return { body: w.body, certificate: w.certificate, signature: w.signature };
}

function parseBody(text: string): Body {
  let b: Record<string, unknown>;
  try {
    b = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw refuse('format', 'the announcement body is not JSON');
  }
  const ok =
    b?.version === 1 &&
    typeof b.service === 'string' &&
    typeof b.instanceId === 'string' &&
    typeof b.publicKey === 'string' &&
    Number.isSafeInteger(b.issuedAt) &&
    Number.isSafeInteger(b.expiresAt) &&
    typeof b.simulation === 'boolean';
  if (!ok)
    throw refuse(
      'format',
      'the announcement body lacks version 1, service, instanceId, publicKey, issuedAt, expiresAt or simulation',
    );
  return b as unknown as Body;
}

function checkCertificate(pem: string, rootPem: string, now: number): X509Certificate {
  let cert: X509Certificate;
  let root: X509Certificate;
  try {
    cert = new X509Certificate(pem);
    root = new X509Certificate(rootPem);
  } catch {
    throw refuse('format', 'the router certificate (or the CAS root) is not a PEM certificate');
  }
  if (!cert.checkIssued(root) || !cert.verify(root.publicKey)) {
    throw refuse('certificate-chain', 'the router certificate is not issued by the pinned CAS root');
  }
  if (Date.parse(cert.validFrom) > now || Date.parse(cert.validTo) < now) {
    throw refuse(
      'certificate-validity',
      `the router certificate is valid from ${cert.validFrom} to ${cert.validTo}`,
    );
  }
  return cert;
}

function refuse(check: string, message: string): ScbrError {
  return new ScbrError('ERR_SCBR_ROUTER_KEY', `router key announcement refused (${check}): ${message}`, {
    detail: { check },
  });
}
