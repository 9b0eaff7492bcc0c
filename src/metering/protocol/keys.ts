import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';

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
  if (seed === undefined) return generateKeyPairSync('ed25519');
  const privateKey = createPrivateKey({ key: pkcs8(ED25519_PKCS8, seed), format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** An X25519 private key from a 32-byte seed (ephemeral keys of test vectors). */
export function x25519FromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: pkcs8(X25519_PKCS8, seed), format: 'der', type: 'pkcs8' });
}

/** The 32 raw bytes of an Ed25519 or X25519 public key (of the public half, given a private key). */
export function rawPublicKey(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  return spki.subarray(spki.length - 32);
}

/** An X25519 public key from its 32 raw bytes. */
export function x25519PublicFromRaw(raw: Uint8Array): KeyObject {
  const prefix = Buffer.from('302a300506032b656e032100', 'hex');
  return createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' });
}

/** An Ed25519 public key from its 32 raw bytes. */
export function ed25519PublicFromRaw(raw: Uint8Array): KeyObject {
  const prefix = Buffer.from('302a300506032b6570032100', 'hex');
  return createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' });
}

/** The 8-byte id of an MDC public key carried in every hello: SHA-256(raw key)[0..8). */
export function mdcKeyId(mdcKey: KeyObject): Buffer {
  return createHash('sha256').update(rawPublicKey(mdcKey)).digest().subarray(0, 8);
}

function pkcs8(prefix: Buffer, seed: Uint8Array): Buffer {
  if (seed.length !== 32) throw new TypeError('a key seed is 32 bytes');
  return Buffer.concat([prefix, seed]);
}
