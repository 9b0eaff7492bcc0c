import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { freshKeyPair, freshRawKeyPair } from '../../crypto/index.ts';

/** An Ed25519 key pair (meter identity or MDC identity). */
export interface SigningKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

// RFC 8410 PKCS#8 prefixes: a 32-byte seed follows.
const ED25519_PKCS8 = Buffer.from('302e020100300506032b657004220420', 'hex');
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');

/**
 * An Ed25519 key pair: random, or from a 32-byte `seed` (provisioning tools that derive keys, test
 * vectors). Keep seeds as secret as the keys.
 */
export function createSigningKeyPair(seed?: Uint8Array): SigningKeyPair {
  if (seed === undefined) {
    const { privateKey, publicKey } = freshKeyPair('ed25519');
    return { privateKey, publicKey };
  }
  const privateKey = createPrivateKey({ key: pkcs8(ED25519_PKCS8, seed), format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** An X25519 private key from a 32-byte seed (ephemeral keys of test vectors). */
export function x25519FromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: pkcs8(X25519_PKCS8, seed), format: 'der', type: 'pkcs8' });
}

// Keys cross Node's API as JWK where possible: OpenSSL 3's DER decoders cost about ten times more
// (hundreds of microseconds per key), which dominated handshakes of large fleets.

/** The 32 raw bytes of an Ed25519 or X25519 public key (of the public half, given a private key). */
export function rawPublicKey(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  return Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
}

/** An X25519 public key from its 32 raw bytes. */
export function x25519PublicFromRaw(raw: Uint8Array): KeyObject {
  return okpPublic('X25519', raw);
}

/** An Ed25519 public key from its 32 raw bytes. */
export function ed25519PublicFromRaw(raw: Uint8Array): KeyObject {
  return okpPublic('Ed25519', raw);
}

/** An Ed25519 private key from its 32-byte seed and its 32-byte public key (fast path, no DER). */
export function ed25519FromSeedAndPublic(seed: Uint8Array, publicRaw: Uint8Array): KeyObject {
  if (seed.length !== 32 || publicRaw.length !== 32)
    throw new TypeError('an Ed25519 seed and public key are 32 bytes each');
  return createPrivateKey({
    key: {
      kty: 'OKP',
      crv: 'Ed25519',
      d: Buffer.from(seed).toString('base64url'),
      x: Buffer.from(publicRaw).toString('base64url'),
    },
    format: 'jwk',
  });
}

/** A fresh random X25519 private key (ephemeral handshake key). */
export function randomX25519(): KeyObject {
  const { privateRaw, publicRaw } = freshRawKeyPair('x25519');
  try {
    return createPrivateKey({
      key: {
        kty: 'OKP',
        crv: 'X25519',
        d: privateRaw.toString('base64url'),
        x: publicRaw.toString('base64url'),
      },
      format: 'jwk',
    });
  } finally {
    privateRaw.fill(0);
  }
}

function okpPublic(crv: 'X25519' | 'Ed25519', raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new TypeError(`an ${crv} public key is 32 bytes`);
  return createPublicKey({
    key: { kty: 'OKP', crv, x: Buffer.from(raw).toString('base64url') },
    format: 'jwk',
  });
}

/** The 8-byte id of an MDC public key carried in every hello: SHA-256(raw key)[0..8). */
export function mdcKeyId(mdcKey: KeyObject): Buffer {
  return createHash('sha256').update(rawPublicKey(mdcKey)).digest().subarray(0, 8);
}

function pkcs8(prefix: Buffer, seed: Uint8Array): Buffer {
  if (seed.length !== 32) throw new TypeError('a key seed is 32 bytes');
  return Buffer.concat([prefix, seed]);
}
