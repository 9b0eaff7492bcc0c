/**
 * The sealed-blob format shared by every backend that can seal, and the key derivations.
 *
 * A sealed blob (all integers little-endian):
 *
 * | offset | size | field                                                         |
 * |-------:|-----:|---------------------------------------------------------------|
 * |      0 |    4 | magic `SCSL`                                                  |
 * |      4 |    1 | format version, `1`                                           |
 * |      5 |    1 | key id: `1` sim platform secret, `2` Gramine `_sgx_mrenclave` |
 * |      6 |   12 | random AES-GCM nonce                                          |
 * |     18 |    n | AES-256-GCM ciphertext of the plaintext                       |
 * | 18 + n |   16 | AES-GCM tag                                                   |
 *
 * The GCM additional authenticated data is the 18-byte header followed by the caller's associated
 * data (default empty): the header has a fixed length, so the concatenation is unambiguous, and any
 * change to the header, the ciphertext, the tag or the associated data fails the tag check.
 *
 * Key derivation (HKDF-SHA256, 32-byte output, salt {@link SEAL_SALT}):
 * - key id 1 (sim): IKM = the sim platform secret (32 bytes), info = `securecloud-seal-v1` ‖ measurement (32 bytes).
 * - key id 2 (gramine-sgx): IKM = the 16-byte key Gramine exposes at `/dev/attestation/keys/_sgx_mrenclave`
 *   (the SGX sealing key bound to MRENCLAVE on this CPU), info = `securecloud-seal-v1` ‖ `_sgx_mrenclave`.
 *
 * A nonce is random for every seal: with 96-bit random nonces, stay well below 2^32 seals per key.
 */
import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { TeeError } from './errors.ts';
import type { Sealer } from './types.ts';

/** The key ids of the sealed-blob header: which derivation produced the key. */
export const SEAL_KEY_IDS = { sim: 1, 'gramine-sgx-mrenclave': 2 } as const;

/** A key id of the sealed-blob header. */
export type SealKeyId = (typeof SEAL_KEY_IDS)[keyof typeof SEAL_KEY_IDS];

/** The HKDF salt of every sealing key derivation. */
export const SEAL_SALT = 'securecloud-seal-salt-v1';

const SEAL_INFO = 'securecloud-seal-v1';
const MAGIC = Buffer.from('SCSL', 'latin1');
const VERSION = 1;
const HEADER_SIZE = 18;
const TAG_SIZE = 16;

/** A {@link Sealer} that can also forget its key. */
export interface ClosableSealer extends Sealer {
  /** The key id written into every blob. */
  readonly keyId: SealKeyId;
  /** Drops the key; later calls throw a TypeError. */
  close(): void;
}

/**
 * Derives the sim sealing key: HKDF-SHA256(platform secret, salt, `securecloud-seal-v1` ‖ measurement).
 * The derived bytes are zeroed once they are inside the returned KeyObject.
 */
export function deriveSimSealKey(platformSecret: Uint8Array, measurement: Uint8Array): KeyObject {
  if (platformSecret.length !== 32) throw new TypeError('the sim platform secret must be 32 bytes');
  if (measurement.length !== 32) throw new TypeError('the measurement must be 32 bytes');
  return deriveKey(platformSecret, Buffer.concat([Buffer.from(SEAL_INFO), measurement]));
}

/**
 * Derives the Gramine sealing key: HKDF-SHA256(the 16-byte `_sgx_mrenclave` key, salt,
 * `securecloud-seal-v1` ‖ `_sgx_mrenclave`).
 */
export function deriveGramineSealKey(mrenclaveKey: Uint8Array): KeyObject {
  if (mrenclaveKey.length !== 16) throw new TypeError('the Gramine _sgx_mrenclave key must be 16 bytes');
  return deriveKey(mrenclaveKey, Buffer.from(`${SEAL_INFO}_sgx_mrenclave`));
}

function deriveKey(ikm: Uint8Array, info: Uint8Array): KeyObject {
  const derived = Buffer.from(hkdfSync('sha256', ikm, SEAL_SALT, info, 32));
  try {
    return createSecretKey(derived);
  } finally {
    derived.fill(0);
  }
}

/**
 * Creates a sealer over `key` (an AES-256 secret KeyObject from one of the derivations above).
 *
 * @example
 * const sealer = createAeadSealer(SEAL_KEY_IDS.sim, deriveSimSealKey(secret, measurement));
 * const blob = sealer.seal(data, Buffer.from('config'));
 */
export function createAeadSealer(keyId: SealKeyId, key: KeyObject): ClosableSealer {
  return new AeadSealer(keyId, key);
}

class AeadSealer implements ClosableSealer {
  readonly keyId: SealKeyId;
  #key: KeyObject | null;

  constructor(keyId: SealKeyId, key: KeyObject) {
    if (key.type !== 'secret' || key.symmetricKeySize !== 32) {
      throw new TypeError('the sealing key must be a 32-byte secret KeyObject');
    }
    this.keyId = keyId;
    this.#key = key;
  }

  seal(plaintext: Uint8Array, associatedData: Uint8Array = new Uint8Array(0)): Uint8Array {
    const key = this.#liveKey();
    assertBytes(plaintext, 'plaintext');
    assertBytes(associatedData, 'associatedData');
    const header = Buffer.alloc(HEADER_SIZE);
    MAGIC.copy(header, 0);
    header.writeUInt8(VERSION, 4);
    header.writeUInt8(this.keyId, 5);
    randomBytes(12).copy(header, 6);
    const cipher = createCipheriv('aes-256-gcm', key, header.subarray(6, 18));
    cipher.setAAD(Buffer.concat([header, associatedData]));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([header, body, cipher.getAuthTag()]);
  }

  unseal(sealed: Uint8Array, associatedData: Uint8Array = new Uint8Array(0)): Uint8Array {
    const key = this.#liveKey();
    assertBytes(sealed, 'sealed');
    assertBytes(associatedData, 'associatedData');
    const blob = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    const header = parseHeader(blob);
    if (header.keyId !== this.keyId) {
      throw new TeeError(
        'ERR_SEAL_INTEGRITY',
        `the blob was sealed with key id ${header.keyId} (${keyIdName(header.keyId)}), this sealer uses key id ${this.keyId} (${keyIdName(this.keyId)}); unseal it with the backend that sealed it`,
        { check: 'seal-key-id', value: String(header.keyId), expected: String(this.keyId) },
      );
    }
    const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(6, HEADER_SIZE));
    decipher.setAAD(Buffer.concat([blob.subarray(0, HEADER_SIZE), associatedData]));
    decipher.setAuthTag(blob.subarray(blob.length - TAG_SIZE));
    const plain = decipher.update(blob.subarray(HEADER_SIZE, blob.length - TAG_SIZE));
    try {
      return Buffer.concat([plain, decipher.final()]);
    } catch (err) {
      plain.fill(0);
      throw new TeeError(
        'ERR_SEAL_INTEGRITY',
        'the sealed blob does not authenticate: it was altered, sealed by another measurement or platform, or the associated data differs',
        { check: 'seal-tag' },
        { cause: err },
      );
    }
  }

  close(): void {
    this.#key = null;
  }

  #liveKey(): KeyObject {
    if (this.#key === null) throw new TypeError('the sealer is closed');
    return this.#key;
  }
}

function parseHeader(blob: Buffer): { keyId: number } {
  if (blob.length < HEADER_SIZE + TAG_SIZE) {
    throw new TeeError(
      'ERR_SEAL_FORMAT',
      `a sealed blob has at least ${HEADER_SIZE + TAG_SIZE} bytes, got ${blob.length}`,
      { check: 'seal-length', value: String(blob.length), expected: `>= ${HEADER_SIZE + TAG_SIZE}` },
    );
  }
  if (!blob.subarray(0, 4).equals(MAGIC)) {
    throw new TeeError('ERR_SEAL_FORMAT', 'not a securecloud sealed blob (magic is not SCSL)', {
      check: 'seal-magic',
      value: blob.subarray(0, 4).toString('hex'),
      expected: MAGIC.toString('hex'),
    });
  }
  const version = blob.readUInt8(4);
  if (version !== VERSION) {
    throw new TeeError('ERR_SEAL_FORMAT', `sealed-blob version ${version} is not supported`, {
      check: 'seal-version',
      value: String(version),
      expected: String(VERSION),
    });
  }
  const keyId = blob.readUInt8(5);
  if (!(Object.values(SEAL_KEY_IDS) as number[]).includes(keyId)) {
    throw new TeeError('ERR_SEAL_FORMAT', `unknown sealing key id ${keyId}`, {
      check: 'seal-key-id',
      value: String(keyId),
      expected: Object.values(SEAL_KEY_IDS).join('|'),
    });
  }
  return { keyId };
}

function keyIdName(id: number): string {
  return Object.entries(SEAL_KEY_IDS).find(([, v]) => v === id)?.[0] ?? 'unknown';
}

function assertBytes(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${name} must be a Uint8Array`);
}
