import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ed25519PublicFromRaw, rawPublicKey } from '../protocol/index.ts';
import { InmetroError } from './errors.ts';

/**
 * The id of an INMETRO key: hex SHA-256 of its 32 raw Ed25519 public-key bytes (all 32 bytes of the
 * hash, 64 hex digits). Accepts the private key too (its public half is used).
 */
export function inmetroKeyId(key: KeyObject): string {
  let id = keyIds.get(key);
  if (id === undefined) {
    assertEd25519(key, key.type === 'private' ? 'private' : 'public');
    id = createHash('sha256').update(rawPublicKey(key)).digest('hex');
    keyIds.set(key, id);
  }
  return id;
}

// Exporting a key to hash it costs as much as an Ed25519 verification; KeyObjects are immutable, so
// the id is remembered per object (weakly: the cache never keeps a key alive).
const keyIds = new WeakMap<KeyObject, string>();

/** Exports the INMETRO public key (or the public half of a private key) as PEM SPKI text. */
export function exportInmetroPublicKey(key: KeyObject, format: 'pem'): string;
/** Exports the INMETRO public key (or the public half of a private key) as its 32 raw bytes. */
export function exportInmetroPublicKey(key: KeyObject, format: 'raw'): Buffer;
export function exportInmetroPublicKey(key: KeyObject, format: 'pem' | 'raw'): string | Buffer {
  assertEd25519(key, key.type === 'private' ? 'private' : 'public');
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  if (format === 'raw') return rawPublicKey(publicKey);
  return publicKey.export({ format: 'pem', type: 'spki' }).toString();
}

/**
 * Loads the INMETRO public key from PEM SPKI text (`-----BEGIN PUBLIC KEY-----`) or from its 32 raw
 * bytes. Anything else, or another algorithm than Ed25519, is an `ERR_INMETRO_KEY`.
 */
export function importInmetroPublicKey(input: string | Uint8Array): KeyObject {
  let key: KeyObject;
  try {
    if (typeof input === 'string') key = createPublicKey({ key: input, format: 'pem' });
    else if (input.length === 32) key = ed25519PublicFromRaw(input);
    else throw new Error(`${input.length} bytes`);
  } catch (cause) {
    const found = typeof input === 'string' ? 'text that is not a PEM public key' : `${input.length} bytes`;
    throw new InmetroError(
      'ERR_INMETRO_KEY',
      `the INMETRO public key is ${found}; expected PEM SPKI ("-----BEGIN PUBLIC KEY-----") or 32 raw Ed25519 bytes`,
      { cause },
    );
  }
  assertEd25519(key, 'public');
  return key;
}

/** Refuses a key that is not an Ed25519 key of the given type (`ERR_INMETRO_KEY`). */
export function assertEd25519(key: KeyObject, type: 'public' | 'private'): void {
  if (key.asymmetricKeyType !== 'ed25519' || key.type !== type) {
    throw new InmetroError(
      'ERR_INMETRO_KEY',
      `the INMETRO key is a ${key.asymmetricKeyType ?? key.type} ${key.type} key; expected an Ed25519 ${type} key`,
    );
  }
}
