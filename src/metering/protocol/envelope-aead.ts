/**
 * The AEAD of a data envelope, on whole messages: AES-256-GCM with nonce = direction prefix ‖ the
 * header's 8 counter bytes and the 22-byte header as AAD. No session state here (no counters, no
 * replay window): {@link SecureSession} owns those. Kept free of other imports' state so that a
 * worker thread can run it on messages whose session checks the main thread does
 * (src/metering/mdc/envelope-worker.ts).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { DATA_HEADER_LENGTH, TAG_LENGTH } from './wire.ts';

/** Direction prefixes of the 12-byte GCM nonce: prefix (4) ‖ counter (8, BE). */
export const NONCE_PREFIX = { dataUp: 0x75700000, dataDown: 0x646e0000 } as const; // 'up\0\0', 'dn\0\0'
/** Direction of a data envelope. */
export type Direction = keyof typeof NONCE_PREFIX;

/** Byte offset of the big-endian counter in a data header. */
export const COUNTER_OFFSET = 14;

/** The nonce of the envelope whose header starts `message`: prefix ‖ its counter bytes. */
export function envelopeNonce(direction: Direction, message: Uint8Array): Buffer {
  const n = Buffer.allocUnsafe(12);
  n.writeUInt32BE(NONCE_PREFIX[direction], 0);
  n.set(message.subarray(COUNTER_OFFSET, DATA_HEADER_LENGTH), 4);
  return n;
}

/**
 * Seals a message in place: `message` is header ‖ plaintext ‖ 16 bytes for the tag; the plaintext is
 * replaced by its ciphertext and the tag written after it.
 */
export function sealInPlace(direction: Direction, key: Uint8Array, message: Uint8Array): void {
  const end = message.length - TAG_LENGTH;
  if (end < DATA_HEADER_LENGTH) throw new TypeError('a data message is at least header and tag');
  const cipher = createCipheriv('aes-256-gcm', key, envelopeNonce(direction, message));
  cipher.setAAD(message.subarray(0, DATA_HEADER_LENGTH));
  message.set(cipher.update(message.subarray(DATA_HEADER_LENGTH, end)), DATA_HEADER_LENGTH);
  cipher.final();
  message.set(cipher.getAuthTag(), end);
}

/**
 * Authenticates and decrypts a sealed message: its plaintext, or `undefined` when the tag does not
 * match (wrong key, altered header, ciphertext or tag).
 */
export function openSealed(
  direction: Direction,
  key: Uint8Array,
  message: Uint8Array,
): Uint8Array | undefined {
  const end = message.length - TAG_LENGTH;
  if (end < DATA_HEADER_LENGTH) return undefined;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, envelopeNonce(direction, message));
    decipher.setAAD(message.subarray(0, DATA_HEADER_LENGTH));
    decipher.setAuthTag(message.subarray(end));
    // GCM's final() returns nothing (it checks the tag): update's output is the whole plaintext,
    // handed out as a plain Uint8Array view of it (no copy).
    const plaintext = decipher.update(message.subarray(DATA_HEADER_LENGTH, end));
    decipher.final();
    return new Uint8Array(plaintext.buffer, plaintext.byteOffset, plaintext.length);
  } catch {
    return undefined;
  }
}
