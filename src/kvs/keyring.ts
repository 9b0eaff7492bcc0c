/**
 * The keyring of the secure layer: several 32-byte AES-256-GCM keys by id, one current for
 * writes, any held one accepted for reads, so that keys rotate without downtime. It seals and
 * opens values itself; the key bytes never leave its `#private` fields.
 *
 * Sealed frame format (33 bytes of overhead), shared by both kinds of frames:
 *
 * | offset   | size | field                                                 |
 * |----------|------|-------------------------------------------------------|
 * | 0        | 1    | format version: 0x01 one value, 0x02 a block of them  |
 * | 1        | 4    | key id, unsigned 32-bit big-endian                    |
 * | 5        | 12   | nonce, random (96 bits)                               |
 * | 17       | n    | ciphertext (AES-256-GCM, n = plaintext)               |
 * | 17 + n   | 16   | GCM tag                                               |
 *
 * Associated data: the format's domain string ({@link SealFormat}) ‖ the 5 header bytes ‖ the
 * caller's context (the secure store passes the namespace, length-prefixed, then the full
 * engine key, through a reused {@link AssociatedData}). The domain and version byte keep the two
 * kinds of frames apart: a block never opens as a value, nor a value as a block.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  type KeyObject,
  randomFillSync,
} from 'node:crypto';
import { asBuffer } from './engine-guards.ts';
import { KvsError } from './errors.ts';

/** Format version byte of a value sealed on its own (the secure store's `values` layout). */
export const VALUE_FORMAT_VERSION = 1;
/** Format version byte of a sealed block of entries (the secure store's `blocks` layout). */
export const BLOCK_FORMAT_VERSION = 2;
/** Bytes a sealed value adds to its plaintext: version 1 + key id 4 + nonce 12 + tag 16. */
export const VALUE_OVERHEAD = 33;
/** Bytes of a pseudonym: HMAC-SHA256 truncated to 128 bits. */
export const PSEUDONYM_BYTES = 16;

const HEADER = 5;
const NONCE = 12;
const TAG = 16;
const KEY_BYTES = 32;
const VALUE_DOMAIN = Buffer.from('securecloud.kvs.value.v1\0', 'latin1');
const BLOCK_DOMAIN = Buffer.from('securecloud.kvs.block.v1\0', 'latin1');
const PSEUDONYM_DOMAIN = Buffer.from('securecloud.kvs.pseudonym.v1\0', 'latin1');

/** A kind of sealed frame: its version byte, the domain its associated data starts with, a name. */
export interface SealFormat {
  readonly version: number;
  readonly domain: Buffer;
  /** What the frame holds, for error messages: `value` or `block`. */
  readonly holds: string;
}

/** Frames holding one value (version 1). */
export const VALUE_FORMAT: SealFormat = Object.freeze({
  version: VALUE_FORMAT_VERSION,
  domain: VALUE_DOMAIN,
  holds: 'value',
});
/** Frames holding a block of entries (version 2). */
export const BLOCK_FORMAT: SealFormat = Object.freeze({
  version: BLOCK_FORMAT_VERSION,
  domain: BLOCK_DOMAIN,
  holds: 'block',
});
const FORMATS: readonly (SealFormat | undefined)[] = [undefined, VALUE_FORMAT, BLOCK_FORMAT];

/** One key of the keyring: an id (u32) and 32 bytes of key material (from the CAS). */
export interface KeyringEntry {
  readonly id: number;
  readonly key: Uint8Array;
}

export interface KeyringOptions {
  /** The keys; at least one. The bytes are copied: zero your copies when done. */
  readonly keys: readonly KeyringEntry[];
  /** The id used for writes; defaults to the highest id. */
  readonly currentId?: number;
  /**
   * 32 bytes for {@link Keyring.pseudonym}. Separate from the value keys because pseudonyms are
   * part of stored keys: rotating this key means rewriting every key, which `reencrypt` does not do.
   */
  readonly pseudonymKey?: Uint8Array;
}

/**
 * Creates a keyring.
 *
 * @example
 * const keyring = createKeyring({ keys: [{ id: 1, key: keyFromCas }] });
 */
export function createKeyring(options: KeyringOptions): Keyring {
  return new Keyring(options);
}

/**
 * Holds value keys by id; seals with the current key and opens with whichever key a value names.
 * Keys are OpenSSL key objects: their bytes live outside the JavaScript heap, are never exposed,
 * and are freed when dropped (Node offers no way to zero them explicitly).
 */
export class Keyring {
  readonly #keys = new Map<number, KeyObject>();
  readonly #nonces = new NoncePool();
  #currentId: number;
  #pseudonymKey: KeyObject | undefined;

  constructor(options: KeyringOptions) {
    if (!options || !Array.isArray(options.keys) || options.keys.length === 0) {
      throw new TypeError('a keyring needs at least one key: { keys: [{ id, key }] }');
    }
    for (const { id, key } of options.keys) this.add(id, key);
    this.#currentId = options.currentId ?? Math.max(...this.#keys.keys());
    if (!this.#keys.has(this.#currentId))
      throw new TypeError(`currentId ${this.#currentId} is not in the keyring`);
    if (options.pseudonymKey !== undefined)
      this.#pseudonymKey = copyKey(options.pseudonymKey, 'pseudonymKey');
  }

  /** The id of the key new values are sealed with. */
  get currentId(): number {
    return this.#currentId;
  }

  /** The ids held, ascending. */
  ids(): number[] {
    return [...this.#keys.keys()].sort((a, b) => a - b);
  }

  has(id: number): boolean {
    return this.#keys.has(id);
  }

  /** Adds a key for reading (and later writing). Adding an id twice is a TypeError. */
  add(id: number, key: Uint8Array): void {
    assertKeyId(id);
    if (this.#keys.has(id)) throw new TypeError(`key id ${id} is already in the keyring`);
    this.#keys.set(id, copyKey(key, `key ${id}`));
  }

  /**
   * Adds `key` under `id` (default: the highest id + 1) and makes it current; returns the id. Old
   * values stay readable; `SecureStore.reencrypt()` rewrites them, then {@link remove} drops the old key.
   */
  rotate(key: Uint8Array, id: number = Math.max(...this.#keys.keys()) + 1): number {
    this.add(id, key);
    this.#currentId = id;
    return id;
  }

  /** Forgets a key that is not current. Values still sealed under it become unreadable. */
  remove(id: number): void {
    if (id === this.#currentId) throw new TypeError(`key id ${id} is current; rotate before removing it`);
    this.#keys.delete(id);
  }

  /** Forgets every key; the keyring is unusable afterwards. */
  destroy(): void {
    this.#keys.clear();
    this.#pseudonymKey = undefined;
  }

  /**
   * Seals `plaintext` under the current key, bound to `context` (see the format above). With an
   * {@link AssociatedData} and the entry's `key`, the bytes bound are the same as with
   * `context` = its prefix ‖ `key`, but built in a reused buffer (the secure store's hot path).
   */
  seal(plaintext: Uint8Array, context: Uint8Array | AssociatedData, key: Uint8Array = NO_BYTES): Uint8Array {
    const material = this.#keys.get(this.#currentId);
    if (!material) throw new TypeError('the keyring was destroyed');
    const aad = bound(context, key);
    const out = Buffer.allocUnsafe(HEADER + NONCE + plaintext.length + TAG);
    out[0] = aad.format.version;
    out.writeUInt32BE(this.#currentId, 1);
    this.#nonces.fill(out, HEADER);
    const cipher = createCipheriv('aes-256-gcm', material, out.subarray(HEADER, HEADER + NONCE));
    cipher.setAAD(aad.of(out, key));
    let at = HEADER + NONCE;
    // node:crypto has no update-into-buffer: one copy of the ciphertext into the frame is the floor.
    at += cipher.update(plaintext).copy(out, at);
    at += cipher.final().copy(out, at);
    cipher.getAuthTag().copy(out, at);
    return out;
  }

  /**
   * Opens a sealed value bound to `context` (or to an {@link AssociatedData} and `key`, as in
   * {@link seal}). A value that is truncated, of an unknown format, altered, bound to another
   * context or sealed under another key with the same id raises `ERR_KVS_INTEGRITY`; one naming a
   * key id this keyring lacks raises `ERR_KVS_KEY_UNKNOWN`. The result is a new buffer.
   */
  open(sealed: Uint8Array, context: Uint8Array | AssociatedData, key: Uint8Array = NO_BYTES): Buffer {
    const aad = bound(context, key);
    const id = sealedKeyId(sealed, aad.format);
    const material = this.#keys.get(id);
    if (!material) {
      throw new KvsError(
        'ERR_KVS_KEY_UNKNOWN',
        `the value is sealed under key id ${id}, which this keyring does not hold (it holds ${this.ids().join(', ') || 'none'}); add that key from the CAS`,
      );
    }
    const buf = asBuffer(sealed);
    const end = buf.length - TAG;
    const decipher = createDecipheriv('aes-256-gcm', material, buf.subarray(HEADER, HEADER + NONCE));
    decipher.setAAD(aad.of(buf, key));
    decipher.setAuthTag(buf.subarray(end));
    const body = decipher.update(buf.subarray(HEADER + NONCE, end));
    try {
      decipher.final();
    } catch (cause) {
      body.fill(0);
      throw new KvsError(
        'ERR_KVS_INTEGRITY',
        `a sealed ${aad.format.holds} failed authentication under key id ${id}: it was altered, moved from another key or namespace, or sealed with different key material`,
        { cause },
      );
    }
    return body;
  }

  /**
   * A keyed pseudonym of `bytes` in `namespace`: HMAC-SHA256 under the pseudonym key, truncated
   * to {@link PSEUDONYM_BYTES} bytes. Deterministic (equal inputs give equal pseudonyms, which is
   * what makes point and prefix lookups work), but it hides the value and destroys its order.
   */
  pseudonym(namespace: string, bytes: Uint8Array): Uint8Array {
    if (!this.#pseudonymKey) throw new TypeError('this keyring has no pseudonymKey');
    const ns = encodeNamespace(namespace);
    const mac = createHmac('sha256', this.#pseudonymKey);
    mac.update(PSEUDONYM_DOMAIN).update(ns).update(bytes);
    return new Uint8Array(mac.digest().subarray(0, PSEUDONYM_BYTES));
  }
}

/**
 * The key id a sealed frame names, read without decrypting (reencryption uses it to skip frames
 * already under the current key). Raises `ERR_KVS_INTEGRITY` when the header is malformed or, with
 * `format`, of another format (the message names the store layout that wrote it).
 */
export function sealedKeyId(sealed: Uint8Array, format?: SealFormat): number {
  const what = format?.holds ?? 'value';
  if (sealed.length < VALUE_OVERHEAD) {
    throw new KvsError(
      'ERR_KVS_INTEGRITY',
      `a sealed ${what} is ${sealed.length} bytes, shorter than its 33-byte frame`,
    );
  }
  const version = sealed[0]!;
  const found = FORMATS[version];
  if (found === undefined || (format !== undefined && found !== format)) {
    const hint =
      found === undefined
        ? ''
        : ` (a sealed ${found.holds}: the store was written with layout '${found.holds}s'; open it with that layout)`;
    throw new KvsError(
      'ERR_KVS_INTEGRITY',
      `a sealed ${what} has format version ${version}; expected ${format?.version ?? '1 or 2'}${hint}`,
    );
  }
  return asBuffer(sealed).readUInt32BE(1);
}

/** The namespace as length-prefixed UTF-8 (1 to 255 bytes), so that namespace and key never blur. */
export function encodeNamespace(namespace: string): Buffer {
  if (typeof namespace !== 'string') throw new TypeError('namespace must be a string');
  const bytes = Buffer.from(namespace, 'utf8');
  if (bytes.length === 0 || bytes.length > 255) {
    throw new TypeError(`namespace must be 1 to 255 bytes of UTF-8, got ${bytes.length}`);
  }
  return Buffer.concat([Buffer.of(bytes.length), bytes]);
}

/**
 * The associated data of sealed values with a fixed prefix (the secure store's length-prefixed
 * namespace): the format's domain ‖ header ‖ prefix ‖ key, built in one buffer allocated once, where
 * each call writes only the 5 header bytes and the key. Not secret; not reentrant (the views it
 * returns are overwritten by the next call), which synchronous seal/open never need.
 */
export class AssociatedData {
  /** The kind of frame sealed and opened with this associated data. */
  readonly format: SealFormat;
  readonly #keyAt: number;
  #buf: Buffer;
  #views: Buffer[] = [];

  constructor(prefix: Uint8Array, keyRoom = 64, format: SealFormat = VALUE_FORMAT) {
    this.format = format;
    this.#keyAt = format.domain.length + HEADER + prefix.length;
    this.#buf = Buffer.allocUnsafeSlow(this.#keyAt + keyRoom);
    format.domain.copy(this.#buf, 0);
    this.#buf.set(prefix, format.domain.length + HEADER);
  }

  /** The bytes to authenticate for a value whose frame starts with `frame` and whose key is `key`. */
  of(frame: Uint8Array, key: Uint8Array): Buffer {
    const length = this.#keyAt + key.length;
    if (length > this.#buf.length) this.#grow(length);
    const buf = this.#buf;
    const at = this.format.domain.length;
    buf[at] = frame[0]!;
    buf[at + 1] = frame[1]!;
    buf[at + 2] = frame[2]!;
    buf[at + 3] = frame[3]!;
    buf[at + 4] = frame[4]!;
    if (key.length > 0) buf.set(key, this.#keyAt);
    // One view per key length, reused: table keys come in few lengths.
    let view = this.#views[key.length];
    if (view === undefined) {
      view = buf.subarray(0, length);
      this.#views[key.length] = view;
    }
    return view;
  }

  #grow(length: number): void {
    const buf = Buffer.allocUnsafeSlow(length);
    this.#buf.copy(buf, 0, 0, this.#keyAt);
    this.#buf = buf;
    this.#views = [];
  }
}

const NO_BYTES = new Uint8Array(0);

/** An {@link AssociatedData} for a one-off `context` (the keyring's plain seal/open API). */
function bound(context: Uint8Array | AssociatedData, key: Uint8Array): AssociatedData {
  if (context instanceof AssociatedData) return context;
  if (!(context instanceof Uint8Array)) throw new TypeError('context must be a Uint8Array');
  return new AssociatedData(context, key.length);
}

function assertKeyId(id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) {
    throw new TypeError(`key id must be an integer from 0 to 2^32-1, got ${String(id)}`);
  }
}

function copyKey(key: Uint8Array, what: string): KeyObject {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new TypeError(`${what} must be ${KEY_BYTES} bytes`);
  }
  const copy = Buffer.from(key);
  const object = createSecretKey(copy);
  copy.fill(0);
  return object;
}

/**
 * Random nonces drawn from the system CSPRNG 4 KiB at a time (one `randomBytes` call per value
 * costs more than the encryption of a small value). Each nonce is used once.
 */
class NoncePool {
  readonly #pool = Buffer.alloc(NONCE * 341);
  #used = this.#pool.length;

  fill(out: Buffer, at: number): void {
    if (this.#used === this.#pool.length) {
      randomFillSync(this.#pool);
      this.#used = 0;
    }
    this.#pool.copy(out, at, this.#used, this.#used + NONCE);
    this.#pool.fill(0, this.#used, this.#used + NONCE);
    this.#used += NONCE;
  }
}
