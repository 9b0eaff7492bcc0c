/**
 * Fresh asymmetric key pairs that are safe to export: the only place in securecloud that calls
 * node:crypto's key generation.
 *
 * Why: in Node.js 20, exporting a key object that `generateKeyPairSync` returned (`export()` to
 * JWK, and `createPublicKey(privateKey).export()`) can deadlock the whole process. The export holds
 * the key's mutex while it allocates JavaScript strings; an allocation may run the garbage
 * collector, which destroys the finished generation job, whose destructor takes the same mutex.
 * The main thread then waits on itself forever (seen here: `meters provision` and a handshake loop
 * hung with 0 % CPU, the main thread in `~KeyGenJob` under `ExportJWK`; a loop of 200,000 such
 * exports under `--max-semi-space-size=1` never ends).
 *
 * The generation job encodes the keys itself when asked for JWK encodings (no key object left
 * for the collector to race with), and the key objects made from those JWKs by import belong to no
 * job. Cost: about 25 µs to generate an X25519 or Ed25519 pair, 25 µs more per key object.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';

/** The algorithms securecloud generates keys for. */
export type FreshKeyType = 'x25519' | 'ed25519' | 'p256';

/** A freshly generated key pair; the raw bytes are copies the caller owns (wipe them after use). */
export interface FreshKeyPair {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /**
   * The public key's raw bytes: 32 for X25519 and Ed25519, the 65-byte uncompressed point for P-256.
   */
  readonly publicRaw: Buffer;
  /** The private key's raw bytes: the 32-byte seed (X25519, Ed25519) or scalar (P-256). */
  readonly privateRaw: Buffer;
}

/** A fresh key pair of `type` whose key objects may be exported without risk (see the file comment). */
export function freshKeyPair(type: FreshKeyType): FreshKeyPair {
  const { privateJwk, publicJwk } = freshJwks(type);
  try {
    const privateKey = createPrivateKey({ key: privateJwk, format: 'jwk' });
    const publicKey = createPublicKey({ key: publicJwk, format: 'jwk' });
    return { privateKey, publicKey, publicRaw: rawPublic(type, publicJwk), privateRaw: b64(privateJwk.d) };
  } finally {
    privateJwk.d = '';
  }
}

/** Raw bytes only (no key objects): the cheapest fresh pair, for key files and CurveZMQ keys. */
export function freshRawKeyPair(type: FreshKeyType): { publicRaw: Buffer; privateRaw: Buffer } {
  const { privateJwk, publicJwk } = freshJwks(type);
  try {
    return { publicRaw: rawPublic(type, publicJwk), privateRaw: b64(privateJwk.d) };
  } finally {
    privateJwk.d = '';
  }
}

function freshJwks(type: FreshKeyType): { privateJwk: JsonWebKey; publicJwk: JsonWebKey } {
  const jwk = { publicKeyEncoding: { format: 'jwk' }, privateKeyEncoding: { format: 'jwk' } } as const;
  const pair =
    type === 'p256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256', ...jwk })
      : type === 'x25519'
        ? generateKeyPairSync('x25519', jwk)
        : generateKeyPairSync('ed25519', jwk);
  return {
    privateJwk: pair.privateKey as unknown as JsonWebKey,
    publicJwk: pair.publicKey as unknown as JsonWebKey,
  };
}

function rawPublic(type: FreshKeyType, jwk: JsonWebKey): Buffer {
  if (type !== 'p256') return b64(jwk.x);
  return Buffer.concat([Buffer.from([4]), b64(jwk.x), b64(jwk.y)]);
}

function b64(field: string | undefined): Buffer {
  if (typeof field !== 'string' || field === '')
    throw new Error('node:crypto returned a JWK without key bytes');
  return Buffer.from(field, 'base64url');
}
