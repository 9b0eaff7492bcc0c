/**
 * End-to-end payload encryption with the group key the CAS grants to the channel's publishers and
 * subscribers (a `symmetric-key` secret, 256 bits) and never to the router. Each publisher instance
 * picks a random 16-byte publisher id and seals with its own key
 * K_p = HKDF-SHA256(group key, salt = publisher id, info = `securecloud-scbr-payload-v1`, 32 bytes),
 * AES-256-GCM, nonce 4 zero bytes ‖ 8-byte sequence number. Frame:
 *
 *   version 1 | group key id (8) | publisher id (16) | seq (8) | ciphertext ‖ tag (16)
 *
 * The associated data is `securecloud-scbr-payload-v1\0` ‖ channel ‖ `\0` ‖ the frame's first 33
 * bytes, so a payload moved to another channel, publisher or sequence number fails to open.
 * Subscribers refuse replays per publisher id with a sliding window. The plaintext is the encoded
 * header (2-byte length, then header-codec) followed by the body.
 */
import { createHash, hkdfSync, randomBytes } from 'node:crypto';
import { ENVELOPE_VERSION, gcmOpen, gcmSeal } from './envelope.ts';
import { ScbrError } from './errors.ts';
import type { Header } from './filter-types.ts';
import { concatBytes, decodeHeader, encodeHeader, Reader } from './header-codec.ts';
import { DEFAULT_REPLAY_WINDOW, ReplayWindow } from './replay-window.ts';

const INFO = Buffer.from('securecloud-scbr-payload-v1');
const AAD_CONTEXT = 'securecloud-scbr-payload-v1\0';
/** Bytes of the payload frame before the ciphertext. */
export const PAYLOAD_PREFIX = 1 + 8 + 16 + 8;

/** A group key (from the CAS). The key bytes live in a `#private` field. */
export class GroupKey {
  /** Names the key in payload frames: first 8 bytes of SHA-256(`securecloud-scbr-key-id-v1\0` ‖ key). */
  readonly keyId: Uint8Array;
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
    this.keyId = new Uint8Array(
      createHash('sha256').update('securecloud-scbr-key-id-v1\0').update(key).digest().subarray(0, 8),
    );
  }

  /** From 32 raw bytes or 64 hex characters (`service.secret('busGroupKey').hex`). */
  static from(key: Uint8Array | string): GroupKey {
    const bytes =
      typeof key === 'string' && /^[0-9a-fA-F]{64}$/.test(key)
        ? Buffer.from(key, 'hex')
        : typeof key === 'string'
          ? null
          : Buffer.from(key);
    if (bytes === null || bytes.length !== 32) {
      throw new ScbrError(
        'ERR_SCBR_GROUP_KEY',
        'a group key is 32 bytes (a symmetric-key secret with bits: 256; pass its hex field)',
      );
    }
    return new GroupKey(bytes);
  }

  /** The sealing key of one publisher. */
  publisherKey(publisherId: Uint8Array): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, publisherId, INFO, 32));
  }

  destroy(): void {
    this.#key.fill(0);
  }
}

function aadOf(channel: string, prefix: Uint8Array): Uint8Array {
  return concatBytes([Buffer.from(`${AAD_CONTEXT}${channel}\0`), prefix]);
}

/** Seals payloads for one publisher instance. */
export class PayloadSealer {
  readonly publisherId: Uint8Array = new Uint8Array(randomBytes(16));
  readonly #channel: string;
  readonly #keyId: Uint8Array;
  readonly #key: Buffer;

  constructor(groupKey: GroupKey, channel: string) {
    this.#channel = channel;
    this.#keyId = groupKey.keyId;
    this.#key = groupKey.publisherKey(this.publisherId);
  }

  /** Seals header and body under sequence number `seq` (never reuse one). */
  seal(seq: number, header: Header, body: Uint8Array): Uint8Array {
    const encoded = encodeHeader(header);
    const length = new Uint8Array(2);
    new DataView(length.buffer).setUint16(0, encoded.length);
    const prefix = new Uint8Array(PAYLOAD_PREFIX);
    prefix[0] = ENVELOPE_VERSION;
    prefix.set(this.#keyId, 1);
    prefix.set(this.publisherId, 9);
    new DataView(prefix.buffer).setBigUint64(25, BigInt(seq));
    const sealed = gcmSeal(
      this.#key,
      seq,
      aadOf(this.#channel, prefix),
      concatBytes([length, encoded, body]),
    );
    return concatBytes([prefix, sealed]);
  }

  destroy(): void {
    this.#key.fill(0);
  }
}

/** The clear prefix of a payload frame (what the router may check without any key). */
export interface PayloadPrefix {
  readonly keyId: Uint8Array;
  readonly publisherId: Uint8Array;
  readonly seq: number;
}

/** Parses the clear prefix of a payload frame. */
export function readPayloadPrefix(frame: Uint8Array): PayloadPrefix {
  const r = new Reader(frame);
  if (r.u8() !== ENVELOPE_VERSION)
    throw new ScbrError('ERR_SCBR_ENVELOPE_MALFORMED', 'payload: unknown version');
  return { keyId: r.bytes(8), publisherId: r.bytes(16), seq: r.u64() };
}

/** An opened payload. */
export interface OpenedPayload {
  /** Hex of the publisher id. */
  readonly publisher: string;
  readonly seq: number;
  readonly header: Header;
  readonly body: Uint8Array;
}

/** Options of {@link PayloadOpener}. */
export interface PayloadOpenerOptions {
  readonly channel: string;
  /** Sequence numbers remembered per publisher (default 1024). */
  readonly replayWindow?: number;
  /** Publishers tracked at once, least recently heard forgotten first (default 10,000). */
  readonly maxPublishers?: number;
}

/** Opens payloads for a subscriber: authenticity, then replay, per publisher. */
export class PayloadOpener {
  readonly #keys: Map<string, GroupKey>;
  readonly #options: Required<PayloadOpenerOptions>;
  readonly #publishers = new Map<string, PublisherState>();

  constructor(groupKeys: readonly GroupKey[], options: PayloadOpenerOptions) {
    this.#keys = new Map(groupKeys.map((k) => [Buffer.from(k.keyId).toString('hex'), k]));
    this.#options = { replayWindow: DEFAULT_REPLAY_WINDOW, maxPublishers: 10_000, ...options };
  }

  /** Throws `ERR_SCBR_ENVELOPE_MALFORMED`, `ERR_SCBR_GROUP_KEY`, `ERR_SCBR_DECRYPT` or `ERR_SCBR_REPLAY`. */
  open(frame: Uint8Array): OpenedPayload {
    const { keyId, publisherId, seq } = readPayloadPrefix(frame);
    const keyHex = Buffer.from(keyId).toString('hex');
    const publisher = Buffer.from(publisherId).toString('hex');
    const id = `${keyHex}/${publisher}`;
    const state = this.#publishers.get(id) ?? this.#derive(keyHex, publisherId);
    const prefix = frame.subarray(0, PAYLOAD_PREFIX);
    const plain = gcmOpen(
      state.key,
      seq,
      aadOf(this.#options.channel, prefix),
      frame.subarray(PAYLOAD_PREFIX),
      'payload',
    );
    this.#remember(id, state);
    const verdict = state.window.check(seq);
    if (verdict !== 'fresh') {
      throw new ScbrError(
        'ERR_SCBR_REPLAY',
        `payload from publisher ${publisher.slice(0, 8)}… seq ${seq}: ${verdict}`,
        {
          detail: { verdict, publisher, seq },
        },
      );
    }
    const r = new Reader(plain);
    const header = decodeHeader(r.bytes(r.u16()));
    return { publisher, seq, header, body: r.rest() };
  }

  #derive(keyHex: string, publisherId: Uint8Array): PublisherState {
    const groupKey = this.#keys.get(keyHex);
    if (groupKey === undefined) {
      throw new ScbrError(
        'ERR_SCBR_GROUP_KEY',
        `payload sealed with group key ${keyHex}, which this subscriber does not hold`,
        {
          detail: { keyId: keyHex },
        },
      );
    }
    return { key: groupKey.publisherKey(publisherId), window: new ReplayWindow(this.#options.replayWindow) };
  }

  /** Remembers (or refreshes) an authenticated publisher; forgeries never reach this. */
  #remember(id: string, state: PublisherState): void {
    this.#publishers.delete(id);
    this.#publishers.set(id, state);
    if (this.#publishers.size > this.#options.maxPublishers) {
      const oldest = this.#publishers.keys().next().value as string;
      this.#publishers.get(oldest)?.key.fill(0);
      this.#publishers.delete(oldest);
    }
  }
}

interface PublisherState {
  readonly key: Buffer;
  readonly window: ReplayWindow;
}
