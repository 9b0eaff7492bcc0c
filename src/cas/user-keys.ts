/**
 * User keys: the key file a policy owner keeps (private key + self-signed certificate, one PEM
 * file), and policy signatures. Keys are P-256 (what keygen makes, so the same key does TLS client
 * authentication) or Ed25519.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  sign,
  verify,
  X509Certificate,
} from 'node:crypto';
import { freshKeyPair } from '../crypto/index.ts';
import { CasError } from './errors.ts';
import { createSelfSignedUserCertificate } from './x509.ts';

/** The signing domain of policy signatures. */
export const POLICY_SIGNATURE_DOMAIN = 'securecloud-policy-v1\0';

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/g;

/**
 * A new user key: P-256, with a self-signed certificate (CN = `name`, valid ten years).
 * `pem` is the key file (PKCS#8 private key, then the certificate); `certificatePem` goes into the policy.
 *
 * @example
 * const { pem, certificatePem } = generateUserKey('operator');
 */
export function generateUserKey(name: string): { pem: string; certificatePem: string } {
  if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/.test(name)) {
    throw new TypeError(
      'a user name is 1..64 of letters, digits and "_.@-", starting with a letter or digit',
    );
  }
  const { privateKey, privateRaw } = freshKeyPair('p256');
  privateRaw.fill(0);
  const certificatePem = createSelfSignedUserCertificate(name, privateKey, 3650);
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  return { pem: `${keyPem}${certificatePem}`, certificatePem };
}

/**
 * Reads a key file from {@link generateUserKey}: one PKCS#8 private key and one certificate whose
 * public key matches it. Throws CasError `ERR_BAD_REQUEST` (never with key material in the message).
 */
export function loadUserKey(pem: string): {
  privateKey: KeyObject;
  certificatePem: string;
  publicKeySpki: Buffer;
} {
  if (typeof pem !== 'string') throw new TypeError('loadUserKey takes the text of a key file');
  const keys = pem.match(KEY_BLOCK) ?? [];
  const certs = pem.match(CERT_BLOCK) ?? [];
  if (keys.length !== 1 || certs.length !== 1) {
    throw new CasError(
      'ERR_BAD_REQUEST',
      `a user key file holds one "BEGIN PRIVATE KEY" block and one "BEGIN CERTIFICATE" block, found ${keys.length} and ${certs.length} (make one with "securecloud cas users keygen")`,
    );
  }
  let privateKey: KeyObject;
  let cert: X509Certificate;
  try {
    privateKey = createPrivateKey(keys[0]!);
    cert = new X509Certificate(certs[0]!);
  } catch {
    throw new CasError(
      'ERR_BAD_REQUEST',
      'the user key file does not parse (its private key or certificate is damaged)',
    );
  }
  if (!isUserKeyType(privateKey)) {
    throw new CasError('ERR_BAD_REQUEST', 'the user key is neither P-256 nor Ed25519');
  }
  const publicKeySpki = createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  if (!publicKeySpki.equals(cert.publicKey.export({ type: 'spki', format: 'der' }))) {
    throw new CasError('ERR_BAD_REQUEST', 'the certificate in the user key file is not for its private key');
  }
  return { privateKey, certificatePem: `${certs[0]!}\n`, publicKeySpki };
}

function isUserKeyType(key: KeyObject): boolean {
  return (
    key.asymmetricKeyType === 'ed25519' ||
    (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
  );
}

function signedMessage(policyText: string): Buffer {
  return Buffer.concat([
    Buffer.from(POLICY_SIGNATURE_DOMAIN, 'utf8'),
    createHash('sha256').update(policyText, 'utf8').digest(),
  ]);
}

/**
 * Signs a policy: base64 of the signature over `securecloud-policy-v1\0` ‖ SHA-256(policy text, UTF-8).
 * P-256: ECDSA with SHA-256, DER-encoded signature; Ed25519: pure Ed25519.
 */
export function signPolicy(policyText: string, key: KeyObject): string {
  if (typeof policyText !== 'string') throw new TypeError('signPolicy takes the policy text');
  if (key?.type !== 'private' || !isUserKeyType(key))
    throw new TypeError('signPolicy needs a private P-256 or Ed25519 key');
  const digest = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  return sign(digest, signedMessage(policyText), key).toString('base64');
}

/** True when `signatureB64` is a valid {@link signPolicy} signature of `policyText` by the key of `certificatePem`. */
export function verifyPolicySignature(
  policyText: string,
  signatureB64: string,
  certificatePem: string,
): boolean {
  if (typeof policyText !== 'string' || typeof signatureB64 !== 'string') return false;
  if (signatureB64.length > 1024 || !/^[A-Za-z0-9+/]*={0,2}$/.test(signatureB64)) return false;
  try {
    const key = new X509Certificate(certificatePem).publicKey;
    if (!isUserKeyType(key)) return false;
    const digest = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
    return verify(digest, signedMessage(policyText), key, Buffer.from(signatureB64, 'base64'));
  } catch {
    return false;
  }
}
