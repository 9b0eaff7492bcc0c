/**
 * Recovery of the CAS state key: the state key wrapped to each recovery public key (X25519 or
 * P-256) with ECDH (ephemeral key of the same type) + HKDF-SHA256 + AES-256-GCM, kept in
 * `DIR/state-key.recovery.json`. Split out of state-store.ts.
 *
 * Wrap of key K to recipient R: ephemeral E; Z = ECDH(E, R); W = HKDF-SHA256(Z, salt = SPKI(E) ‖ SPKI(R),
 * info `securecloud-cas-recovery-v1`, 32 bytes); AES-256-GCM(W, random 12-byte nonce, K,
 * AD = `securecloud-cas-recovery-v1` ‖ keyId) where keyId = hex SHA-256 of SPKI(R).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPublicKey,
  diffieHellman,
  hkdfSync,
  type KeyObject,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { freshKeyPair } from '../crypto/index.ts';
import { CasError } from './errors.ts';

const INFO = 'securecloud-cas-recovery-v1';
const MAC_INFO = 'securecloud-cas-recovery-mac-v1';

/** One wrap of the state key, as stored in the recovery file. */
export interface RecoveryWrap {
  readonly keyId: string;
  readonly algorithm: 'x25519' | 'p256';
  readonly ephemeralPublicKey: string;
  readonly nonce: string;
  readonly ciphertext: string;
  readonly tag: string;
}

/** The recovery file. */
export interface RecoveryFile {
  readonly version: 1;
  readonly wraps: readonly RecoveryWrap[];
  /**
   * HMAC-SHA256 (hex) by the state key over `securecloud-cas-recovery-mac-v1` ‖ JSON of `wraps`:
   * lets the running CAS see that the file is intact (and rewrite it when not). It proves nothing
   * to someone who does not hold the state key.
   */
  readonly mac: string;
}

/** The {@link RecoveryFile.mac} of `wraps` under `stateKey`. */
export function recoveryMac(stateKey: Buffer, wraps: readonly RecoveryWrap[]): string {
  return createHmac('sha256', stateKey)
    .update(`${MAC_INFO}${JSON.stringify(wraps)}`)
    .digest('hex');
}

/** True when `file` holds exactly the wraps for `keyIds` and its MAC verifies under `stateKey`. */
export function recoveryFileIsCurrent(
  file: RecoveryFile,
  stateKey: Buffer,
  keyIds: readonly string[],
): boolean {
  const have = file.wraps.map((w) => w.keyId).sort();
  const want = [...keyIds].sort();
  if (have.length !== want.length || have.some((id, i) => id !== want[i])) return false;
  const expected = Buffer.from(recoveryMac(stateKey, file.wraps), 'hex');
  const actual = Buffer.from(file.mac, 'hex');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/**
 * A new recovery key pair (X25519 unless `algorithm` says `p256`), as PEM. Keep the private key
 * offline; give the public key to `cas serve --recovery-key`.
 */
export function generateRecoveryKeyPair(algorithm: 'x25519' | 'p256' = 'x25519'): {
  privatePem: string;
  publicPem: string;
} {
  const pair = freshKeyPair(algorithm);
  pair.privateRaw.fill(0);
  return {
    privatePem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
  };
}

/** `x25519` or `p256` for a usable recovery key, else a TypeError. */
export function recoveryAlgorithm(key: KeyObject): 'x25519' | 'p256' {
  if (key?.asymmetricKeyType === 'x25519') return 'x25519';
  if (key?.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'p256';
  throw new TypeError('a recovery key must be an X25519 or P-256 key');
}

/** Hex SHA-256 of the SPKI DER of a recovery key (public, or the public half of a private one). */
export function recoveryKeyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return createHash('sha256').update(spki(pub)).digest('hex');
}

function spki(key: KeyObject): Buffer {
  return key.export({ type: 'spki', format: 'der' });
}

function wrapKey(shared: Buffer, ephemeral: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), INFO, 32));
}

/** Wraps `stateKey` (32 bytes) to a recovery public key. */
export function wrapStateKey(stateKey: Buffer, recipient: KeyObject): RecoveryWrap {
  if (recipient?.type !== 'public') throw new TypeError('recovery keys for wrapping are public keys');
  const algorithm = recoveryAlgorithm(recipient);
  const eph = freshKeyPair(algorithm);
  eph.privateRaw.fill(0);
  const shared = diffieHellman({ privateKey: eph.privateKey, publicKey: recipient });
  const ephemeralSpki = spki(eph.publicKey);
  const key = wrapKey(shared, ephemeralSpki, spki(recipient));
  const keyId = recoveryKeyId(recipient);
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(Buffer.from(`${INFO}${keyId}`));
  const ciphertext = Buffer.concat([cipher.update(stateKey), cipher.final()]);
  shared.fill(0);
  key.fill(0);
  return {
    keyId,
    algorithm,
    ephemeralPublicKey: ephemeralSpki.toString('base64'),
    nonce: nonce.toString('base64'),
    ciphertext: ciphertext.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  };
}

/**
 * Unwraps the state key with a recovery private key. Throws CasError `ERR_BAD_REQUEST` when the key
 * is not one the state was wrapped to, `ERR_STATE_TAMPERED` when the wrap does not authenticate.
 */
export function unwrapStateKey(file: RecoveryFile, recoveryPrivateKey: KeyObject, where: string): Buffer {
  if (recoveryPrivateKey?.type !== 'private') throw new TypeError('recover needs the recovery private key');
  recoveryAlgorithm(recoveryPrivateKey);
  const keyId = recoveryKeyId(recoveryPrivateKey);
  const wrap = file.wraps.find((w) => w.keyId === keyId);
  if (wrap === undefined) {
    const known = file.wraps.map((w) => w.keyId.slice(0, 16)).join(', ') || 'none';
    throw new CasError(
      'ERR_BAD_REQUEST',
      `this recovery key (id ${keyId.slice(0, 16)}…) is not one the state key was wrapped to (ids ${known}) in ${where}`,
    );
  }
  try {
    const ephemeral = Buffer.from(wrap.ephemeralPublicKey, 'base64');
    const publicKey = createPublicKey({ key: ephemeral, format: 'der', type: 'spki' });
    const shared = diffieHellman({ privateKey: recoveryPrivateKey, publicKey });
    const key = wrapKey(shared, ephemeral, spki(createPublicKey(recoveryPrivateKey)));
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(wrap.nonce, 'base64'));
    decipher.setAAD(Buffer.from(`${INFO}${keyId}`));
    decipher.setAuthTag(Buffer.from(wrap.tag, 'base64'));
    const out = Buffer.concat([decipher.update(Buffer.from(wrap.ciphertext, 'base64')), decipher.final()]);
    shared.fill(0);
    key.fill(0);
    if (out.length !== 32) throw new Error('length');
    return out;
  } catch {
    throw new CasError(
      'ERR_STATE_TAMPERED',
      `the wrapped state key in ${where} does not authenticate: the file was altered`,
    );
  }
}

/** Validates the shape of a parsed recovery file. */
export function parseRecoveryFile(text: string, where: string): RecoveryFile {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    throw new CasError('ERR_STATE_TAMPERED', `${where} is not JSON`);
  }
  const o = j as Partial<RecoveryFile> | null;
  const str = (v: unknown) => typeof v === 'string';
  const ok =
    o !== null &&
    typeof o === 'object' &&
    o.version === 1 &&
    typeof o.mac === 'string' &&
    Array.isArray(o.wraps) &&
    o.wraps.every(
      (w) =>
        w !== null &&
        typeof w === 'object' &&
        [w.keyId, w.ephemeralPublicKey, w.nonce, w.ciphertext, w.tag].every(str) &&
        (w.algorithm === 'x25519' || w.algorithm === 'p256'),
    );
  if (!ok)
    throw new CasError(
      'ERR_STATE_TAMPERED',
      `${where} is malformed (expected version 1, a list of wraps and a mac)`,
    );
  return o as RecoveryFile;
}
