/**
 * Envelopes sealed to the router. A client (publisher or subscriber) makes an ephemeral X25519 key
 * pair per router key, and both ends derive two AES-256-GCM keys with
 * HKDF-SHA256(X25519(e, R), salt = e_pub ‖ R_pub, info = `securecloud-scbr-session-v1`, 64 bytes):
 * the first 32 bytes seal client→router ("up"), the last 32 router→client ("down"). Each direction
 * numbers its messages; the number is the GCM nonce (4 zero bytes ‖ 8-byte big-endian sequence), so
 * a nonce is never reused under a key, and each receiver refuses replays with a sliding window.
 *
 * Up frame:   version 1 | kind (1) | router key id (8) | e_pub (32) | seq (8) | ciphertext ‖ tag (16)
 * Down frame: version 1 | kind (1) | seq (8) | ciphertext ‖ tag (16)
 * The associated data is everything before the ciphertext.
 */
import { createCipheriv, createDecipheriv, diffieHellman, hkdfSync, timingSafeEqual } from 'node:crypto';
import { freshKeyPair } from '../../crypto/index.ts';
import { ScbrError } from './errors.ts';
import { concatBytes, Reader } from './header-codec.ts';
import { ReplayWindow } from './replay-window.ts';
import { type RouterKey, type VerifiedRouterKey, x25519PublicKey } from './router-key.ts';

/** The protocol version in every envelope. */
export const ENVELOPE_VERSION = 1;
const UP_PREFIX = 1 + 1 + 8 + 32 + 8;
const DOWN_PREFIX = 1 + 1 + 8;
const TAG = 16;
const INFO = Buffer.from('securecloud-scbr-session-v1');

/** A message opened from an envelope. */
export interface Opened {
  readonly kind: number;
  readonly seq: number;
  readonly plaintext: Uint8Array;
}

/** AES-256-GCM with a counter nonce. */
export function gcmSeal(key: Uint8Array, seq: number, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const cipher = createCipheriv('aes-256-gcm', key, nonceOf(seq));
  cipher.setAAD(aad);
  const body = cipher.update(plaintext);
  cipher.final();
  return concatBytes([body, cipher.getAuthTag()]);
}

/** Opens AES-256-GCM; throws `ERR_SCBR_DECRYPT` when the tag does not verify. */
export function gcmOpen(
  key: Uint8Array,
  seq: number,
  aad: Uint8Array,
  sealed: Uint8Array,
  what: string,
): Uint8Array {
  if (sealed.length < TAG)
    throw new ScbrError('ERR_SCBR_ENVELOPE_MALFORMED', `${what}: shorter than its tag`);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, nonceOf(seq));
    decipher.setAAD(aad);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
    const out = decipher.update(sealed.subarray(0, sealed.length - TAG));
    decipher.final();
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (cause) {
    throw new ScbrError(
      'ERR_SCBR_DECRYPT',
      `${what}: authentication failed (tampered, or sealed with another key)`,
      { cause },
    );
  }
}

function nonceOf(seq: number): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(seq), 4);
  return nonce;
}

function deriveKeys(shared: Uint8Array, clientPub: Uint8Array, routerPub: Uint8Array): [Buffer, Buffer] {
  const okm = Buffer.from(hkdfSync('sha256', shared, concatBytes([clientPub, routerPub]), INFO, 64));
  return [okm.subarray(0, 32), okm.subarray(32)];
}

function replayError(verdict: string, what: string): ScbrError {
  return new ScbrError('ERR_SCBR_REPLAY', `${what}: sequence number ${verdict}`, { detail: { verdict } });
}

/** The client end of a session with one router key. Keys live in `#private` fields. */
export class ClientSession {
  /** The ephemeral public key: the session's name at the router. */
  readonly publicKey: Uint8Array;
  readonly router: VerifiedRouterKey;
  readonly #up: Buffer;
  readonly #down: Buffer;
  readonly #window = new ReplayWindow();
  #seq = 0;

  constructor(router: VerifiedRouterKey) {
    const { privateKey, publicRaw, privateRaw } = freshKeyPair('x25519');
    privateRaw.fill(0);
    this.router = router;
    this.publicKey = new Uint8Array(publicRaw);
    const shared = diffieHellman({ privateKey, publicKey: x25519PublicKey(router.publicKey) });
    [this.#up, this.#down] = deriveKeys(shared, this.publicKey, router.publicKey);
  }

  /** The next sequence number this end will use (publications bind their payload to it). */
  get nextSeq(): number {
    return this.#seq;
  }

  /** Seals `plaintext` to the router as a message of `kind`. */
  seal(kind: number, plaintext: Uint8Array): Uint8Array {
    const seq = this.#seq++;
    const prefix = new Uint8Array(UP_PREFIX);
    const view = new DataView(prefix.buffer);
    prefix[0] = ENVELOPE_VERSION;
    prefix[1] = kind;
    prefix.set(this.router.keyId, 2);
    prefix.set(this.publicKey, 10);
    view.setBigUint64(42, BigInt(seq));
    return concatBytes([prefix, gcmSeal(this.#up, seq, prefix, plaintext)]);
  }

  /** Opens a message from the router; refuses tampering (`ERR_SCBR_DECRYPT`) and replays (`ERR_SCBR_REPLAY`). */
  open(frame: Uint8Array): Opened {
    const r = new Reader(frame);
    if (r.u8() !== ENVELOPE_VERSION)
      throw new ScbrError('ERR_SCBR_ENVELOPE_MALFORMED', 'router message: unknown version');
    const kind = r.u8();
    const seq = r.u64();
    const plaintext = gcmOpen(this.#down, seq, frame.subarray(0, DOWN_PREFIX), r.rest(), 'router message');
    const verdict = this.#window.check(seq);
    if (verdict !== 'fresh') throw replayError(verdict, 'router message');
    return { kind, seq, plaintext };
  }

  /** Zeroes the keys. */
  destroy(): void {
    this.#up.fill(0);
    this.#down.fill(0);
  }
}

/** The router end of one client session. */
export class RouterSession {
  /** Hex of the client's ephemeral public key. */
  readonly id: string;
  readonly #up: Buffer;
  readonly #down: Buffer;
  readonly #window = new ReplayWindow();
  #seq = 0;

  constructor(id: string, up: Buffer, down: Buffer) {
    this.id = id;
    this.#up = up;
    this.#down = down;
  }

  /** Seals a message to the client. */
  seal(kind: number, plaintext: Uint8Array): Uint8Array {
    const seq = this.#seq++;
    const prefix = new Uint8Array(DOWN_PREFIX);
    prefix[0] = ENVELOPE_VERSION;
    prefix[1] = kind;
    new DataView(prefix.buffer).setBigUint64(2, BigInt(seq));
    return concatBytes([prefix, gcmSeal(this.#down, seq, prefix, plaintext)]);
  }

  /** Opens the sealed part of an up frame whose prefix was parsed. */
  openUp(seq: number, aad: Uint8Array, sealed: Uint8Array): Uint8Array {
    const plaintext = gcmOpen(this.#up, seq, aad, sealed, 'client message');
    const verdict = this.#window.check(seq);
    if (verdict !== 'fresh') throw replayError(verdict, 'client message');
    return plaintext;
  }

  destroy(): void {
    this.#up.fill(0);
    this.#down.fill(0);
  }
}

/** An up frame opened by {@link RouterSessions.open}. */
export interface OpenedUp extends Opened {
  readonly session: RouterSession;
}

/**
 * The router's sessions, by client ephemeral key, at most `maxSessions` (default 20,000): the least
 * recently used session that is not pinned (a live subscriber's) is forgotten first. A forgotten
 * publisher session is derived again on its next message with a fresh replay window, so replay
 * refusal at the router is best effort; subscribers enforce it end to end.
 */
export class RouterSessions {
  readonly #key: RouterKey;
  readonly #sessions = new Map<string, RouterSession>();
  readonly #max: number;

  readonly #pinned: (id: string) => boolean;

  /** `pinned` sessions (live subscribers) are never forgotten to make room. */
  constructor(key: RouterKey, options: { maxSessions?: number; pinned?: (id: string) => boolean } = {}) {
    this.#key = key;
    this.#max = options.maxSessions ?? 20_000;
    this.#pinned = options.pinned ?? (() => false);
  }

  get size(): number {
    return this.#sessions.size;
  }

  /**
   * Opens an up frame. Throws `ERR_SCBR_ENVELOPE_MALFORMED`, `ERR_SCBR_ROUTER_KEY` (sealed to another
   * router key: the client must fetch the current announcement), `ERR_SCBR_DECRYPT` or `ERR_SCBR_REPLAY`.
   */
  open(frame: Uint8Array): OpenedUp {
    const r = new Reader(frame);
    if (r.u8() !== ENVELOPE_VERSION)
      throw new ScbrError('ERR_SCBR_ENVELOPE_MALFORMED', 'client message: unknown version');
    const kind = r.u8();
    const keyId = r.bytes(8);
    if (!timingSafeEqual(keyId, this.#key.keyId)) {
      throw new ScbrError(
        'ERR_SCBR_ROUTER_KEY',
        'client message sealed to another router key; fetch the current announcement',
        {
          detail: { check: 'key-id', keyId: Buffer.from(keyId).toString('hex') },
        },
      );
    }
    const clientPub = r.bytes(32);
    const seq = r.u64();
    const id = Buffer.from(clientPub).toString('hex');
    const known = this.#sessions.get(id);
    const session = known ?? this.#derive(id, clientPub);
    const plaintext = session.openUp(seq, frame.subarray(0, UP_PREFIX), r.rest());
    // Remembered (or refreshed) only once a message authenticated: forgeries cannot evict sessions.
    this.#sessions.delete(id);
    this.#sessions.set(id, session);
    if (this.#sessions.size > this.#max) this.#evict();
    return { kind, seq, plaintext, session };
  }

  /** Forgets a session (its subscriber expired or said goodbye). */
  forget(id: string): void {
    this.#sessions.get(id)?.destroy();
    this.#sessions.delete(id);
  }

  #evict(): void {
    for (const id of this.#sessions.keys()) {
      if (this.#pinned(id)) continue;
      this.forget(id);
      return;
    }
  }

  #derive(id: string, clientPub: Uint8Array): RouterSession {
    const [up, down] = deriveKeys(this.#key.sharedSecret(clientPub), clientPub, this.#key.publicKey);
    return new RouterSession(id, up, down);
  }
}
