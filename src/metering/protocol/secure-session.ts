import { type CounterVerdict, windowBytes, windowCheck, windowCommit } from './counter-window.ts';
import { COUNTER_OFFSET, type Direction, openSealed, sealInPlace } from './envelope-aead.ts';
import { MeteringError } from './errors.ts';
import { writeU64BE } from './field-codec.ts';
import { SlotSlab } from './session-slab.ts';
import { checkMessage, DATA_HEADER_LENGTH, malformed, TAG_LENGTH, writeMessageHead } from './wire.ts';

/** When sessions end. The meter renews at these limits; the MDC refuses past them. */
export interface SessionLimits {
  /** Messages per direction before renewal (default 100,000; MDC refuses counters above). */
  readonly maxMessages: number;
  /** Meter renews a session this long after it was established (default 24 h). */
  readonly renewAfterMs: number;
  /**
   * The MDC accepts a session's envelopes this long after it was established (default 72 h), so
   * that envelopes held by an aggregator's store-and-forward queue during an outage still open.
   */
  readonly acceptForMs: number;
  /** Anti-replay window, counters (default 64). */
  readonly window: number;
}

/** Defaults of {@link SessionLimits}. */
export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxMessages: 100_000,
  renewAfterMs: 24 * 3600_000,
  acceptForMs: 72 * 3600_000,
  window: 64,
};

export type { Direction } from './envelope-aead.ts';

/** A parsed data envelope header. */
export interface DataHeader {
  readonly direction: Direction;
  readonly meterId: string;
  readonly sessionId: string;
  readonly counter: number;
}

/** Parses the header of a data envelope (`ERR_ENVELOPE_MALFORMED` on bad structure or counter 0). */
export function parseDataHeader(bytes: Uint8Array, direction: Direction): DataHeader {
  const meterId = checkMessage(bytes, direction);
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const counter = b.readBigUInt64BE(COUNTER_OFFSET);
  if (counter === 0n) malformed('counter', '0', '>= 1');
  const capped = counter > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(counter);
  return { direction, meterId, sessionId: b.subarray(6, COUNTER_OFFSET).toString('hex'), counter: capped };
}

/** Slabs by slot size (the window size sets it): 64 key bytes, then the replay bitmap. */
const SLABS = new Map<number, SlotSlab>();
const KEYS = 64;

function slabFor(window: number): SlotSlab {
  const bytes = KEYS + windowBytes(window);
  let slab = SLABS.get(bytes);
  if (slab === undefined) {
    slab = new SlotSlab(bytes);
    SLABS.set(bytes, slab);
  }
  return slab;
}

/** Sessions alive in this process (their key slots not yet zeroed by {@link SecureSession.destroy}). */
export function liveSessionSlots(): number {
  let n = 0;
  for (const slab of SLABS.values()) n += slab.live;
  return n;
}

/**
 * One established session, one side. Seals with one direction's key and opens the other's;
 * AES-256-GCM, nonce = direction prefix ‖ counter, AAD = header. Both keys and the replay bitmap
 * live in a slot of a shared slab (session-slab.ts), not in objects of their own: the MDC holds a
 * million of these.
 */
export class SecureSession {
  readonly meterId: string;
  readonly sessionId: string;
  readonly establishedAt: number;
  readonly #limits: SessionLimits;
  readonly #sendDirection: Direction;
  readonly #slab: SlotSlab;
  /** Slot in `#slab` (send key, receive key, bitmap); -1 once destroyed. */
  #slot: number;
  #highest = 0;
  #sent = 0;

  constructor(o: {
    meterId: string;
    sessionId: string;
    establishedAt: number;
    keys: { up: Buffer; down: Buffer };
    side: 'meter' | 'mdc';
    limits: SessionLimits;
  }) {
    if (o.keys.up.length !== 32 || o.keys.down.length !== 32)
      throw new TypeError('session keys are 32 bytes');
    this.meterId = o.meterId;
    this.sessionId = o.sessionId;
    this.establishedAt = o.establishedAt;
    this.#limits = o.limits;
    this.#sendDirection = o.side === 'meter' ? 'dataUp' : 'dataDown';
    this.#slab = slabFor(o.limits.window);
    this.#slot = this.#slab.alloc();
    const slab = this.#slab.slab(this.#slot);
    const at = this.#slab.offset(this.#slot);
    slab.set(o.side === 'meter' ? o.keys.up : o.keys.down, at);
    slab.set(o.side === 'meter' ? o.keys.down : o.keys.up, at + 32);
    o.keys.up.fill(0);
    o.keys.down.fill(0);
  }

  /** Messages sealed so far. */
  get sent(): number {
    return this.#sent;
  }

  /** True when the sender should renew (message count or age reached). */
  needsRenewal(now: number): boolean {
    return this.#sent >= this.#limits.maxMessages || now - this.establishedAt >= this.#limits.renewAfterMs;
  }

  /** Seals `plaintext` into a data envelope with the next counter. */
  seal(plaintext: Uint8Array): Uint8Array {
    const { key, message } = this.prepareSeal(plaintext);
    sealInPlace(this.#sendDirection, key, message);
    return message;
  }

  /**
   * Takes the next counter and lays out its envelope (header ‖ plaintext ‖ room for the tag) without
   * encrypting it: seal `message` in place with `key` ({@link sealInPlace}), here or in a worker,
   * before the session is destroyed. `key` is a view of the session's send key.
   */
  prepareSeal(plaintext: Uint8Array): { key: Buffer; message: Buffer } {
    if (this.#sent >= this.#limits.maxMessages)
      this.#expired('messages', this.#sent + 1, this.#limits.maxMessages);
    const key = this.#key(0);
    this.#sent += 1;
    const message = dataMessage(this.#sendDirection, this.meterId, this.sessionId, this.#sent, plaintext);
    return { key, message };
  }

  /** A view of the receive key (to open this session's envelopes in a worker); valid until destroyed. */
  receiveKey(): Buffer {
    return this.#key(32);
  }

  /**
   * Opens a data envelope whose header was parsed by {@link parseDataHeader}: checks age, replay
   * window, tag and counter limit, in that order, and records the counter only once authenticated.
   * `options.opened` is what a worker made of this envelope with this session's {@link receiveKey}:
   * its plaintext, or `null` when its tag did not match; the checks are the same.
   */
  open(
    bytes: Uint8Array,
    header: DataHeader,
    now: number,
    options: { commit?: boolean; opened?: Uint8Array | null | undefined } = {},
  ): Uint8Array {
    if (now - this.establishedAt > this.#limits.acceptForMs) {
      this.#expired('age-ms', now - this.establishedAt, this.#limits.acceptForMs);
    }
    const key = this.#key(32);
    const verdict = this.#check(header.counter);
    if (verdict !== 'fresh') this.#refuseCounter(verdict, header.counter);
    const opened = options.opened;
    const plaintext = opened === undefined ? openData(bytes, header, key) : (opened ?? tampered(header));
    if (header.counter > this.#limits.maxMessages)
      this.#expired('messages', header.counter, this.#limits.maxMessages);
    if (options.commit !== false) this.#commit(header.counter);
    return plaintext;
  }

  /**
   * Records a counter opened with `commit: false` once what it carried is durable (the MDC commits
   * counters only after the readings are stored, so a failed store can be retried).
   */
  commitCounter(counter: number): void {
    // A session replaced (and destroyed) since the envelope was opened has nothing to record.
    if (this.#slot >= 0 && this.#check(counter) === 'fresh') this.#commit(counter);
  }

  /** Zeroes the keys and the window and gives their slot back; the session then refuses to seal or open. */
  destroy(): void {
    if (this.#slot < 0) return;
    this.#slab.free(this.#slot);
    this.#slot = -1;
  }

  /** A view of the send (0) or receive (32) key; `ERR_SESSION_UNKNOWN` once destroyed. */
  #key(at: 0 | 32): Buffer {
    if (this.#slot < 0) {
      throw new MeteringError('ERR_SESSION_UNKNOWN', `session ${this.sessionId} was closed`, {
        check: 'session',
        value: this.sessionId,
        expected: 'an open session',
      });
    }
    return this.#slab.view(this.#slot, at, 32);
  }

  #check(counter: number): CounterVerdict {
    const { window } = this.#limits;
    return windowCheck(
      this.#slab.slab(this.#slot),
      this.#slab.offset(this.#slot) + KEYS,
      window,
      this.#highest,
      counter,
    );
  }

  #commit(counter: number): void {
    const { window } = this.#limits;
    const bits = this.#slab.slab(this.#slot);
    this.#highest = windowCommit(bits, this.#slab.offset(this.#slot) + KEYS, window, this.#highest, counter);
  }

  #refuseCounter(verdict: 'replayed' | 'reordered', counter: number): never {
    const code = verdict === 'replayed' ? 'ERR_ENVELOPE_REPLAYED' : 'ERR_ENVELOPE_REORDERED';
    const expected =
      verdict === 'replayed'
        ? 'a counter not yet accepted'
        : `a counter above ${this.#highest - this.#limits.window} (window ${this.#limits.window})`;
    throw new MeteringError(code, `envelope counter ${counter} is ${verdict}: expected ${expected}`, {
      check: 'counter',
      value: String(counter),
      expected,
    });
  }

  #expired(check: string, value: number, limit: number): never {
    throw new MeteringError(
      'ERR_SESSION_EXPIRED',
      `session ${this.sessionId} is past its ${check} limit (${value} > ${limit}): run a new handshake`,
      { check: `session-${check}`, value: String(value), expected: `<= ${limit}` },
    );
  }
}

/** header ‖ plaintext ‖ room for the tag. */
function dataMessage(
  direction: Direction,
  meterId: string,
  sessionId: string,
  counter: number,
  plaintext: Uint8Array,
): Buffer {
  const out = Buffer.allocUnsafe(DATA_HEADER_LENGTH + plaintext.length + TAG_LENGTH);
  writeMessageHead(out, direction, meterId);
  out.write(sessionId, 6, 'hex');
  writeU64BE(out, COUNTER_OFFSET, counter);
  out.set(plaintext, DATA_HEADER_LENGTH);
  return out;
}

/**
 * Seals `plaintext` into a data envelope: head, session id, counter, AES-256-GCM under `key` with
 * nonce = direction prefix ‖ counter and the header as AAD. The building block of
 * {@link SecureSession}, exported for compact fleets (the simulator holds a million meters' keys
 * in typed arrays rather than objects). The caller owns counter uniqueness.
 */
export function sealData(
  direction: Direction,
  key: Uint8Array,
  meterId: string,
  sessionId: string,
  counter: number,
  plaintext: Uint8Array,
): Buffer {
  const out = dataMessage(direction, meterId, sessionId, counter, plaintext);
  sealInPlace(direction, key, out);
  return out;
}

/** Authenticates and decrypts a data envelope whose header was parsed ({@link parseDataHeader}); `ERR_ENVELOPE_TAMPERED` otherwise. */
export function openData(bytes: Uint8Array, header: DataHeader, key: Uint8Array): Uint8Array {
  return openSealed(header.direction, key, bytes) ?? tampered(header);
}

function tampered(header: DataHeader): never {
  throw new MeteringError(
    'ERR_ENVELOPE_TAMPERED',
    `envelope ${header.counter} of session ${header.sessionId} does not authenticate`,
    { check: 'aead-tag', value: 'mismatch', expected: 'AES-256-GCM tag of header and ciphertext' },
  );
}
