import { type KeyObject, randomBytes as nodeRandomBytes } from 'node:crypto';
import { decodeResponseFrameView, type ResponseFrame } from './block.ts';
import { sealInPlace } from './envelope-aead.ts';
import { MeteringError } from './errors.ts';
import {
  buildAccept,
  deriveSessionKeys,
  parseFinish,
  parseHello,
  verifyFinish,
  verifyHello,
} from './handshake.ts';
import { mdcKeyId, randomX25519, x25519FromSeed } from './keys.ts';
import {
  type DataHeader,
  DEFAULT_SESSION_LIMITS,
  parseDataHeader,
  SecureSession,
  type SessionLimits,
} from './secure-session.ts';
import { SessionSet } from './session-set.ts';
import { malformed } from './wire.ts';

/** Options of {@link MdcEndpoint}. */
export interface MdcEndpointOptions {
  /** The MDC's Ed25519 private key (its public key is in every meter). */
  readonly privateKey: KeyObject;
  /** The registry: a meter's Ed25519 public key, or undefined when the meter is not provisioned. */
  readonly meterPublicKey: (meterId: string) => KeyObject | undefined;
  readonly limits?: Partial<SessionLimits>;
  /** Hellos whose time is further than this from the MDC clock are refused (default 10 min). */
  readonly maxClockSkewMs?: number;
  readonly now?: () => number;
  /** Randomness (default `crypto.randomBytes`); injected only to reproduce test vectors. */
  readonly randomBytes?: (size: number) => Uint8Array;
  /** Called when a session is established, before the finish is answered: persist it (sealed). */
  readonly onSession?: (record: MdcSessionRecord) => void;
}

/** What {@link MdcEndpoint.open} returns: who sent it, under which session and counter, and the checked block. */
export interface OpenedEnvelope {
  readonly meterId: string;
  readonly sessionId: string;
  readonly counter: number;
  /** The 258-byte response block (length and CRC checked, meter serial = meter id). */
  readonly block: Uint8Array;
  /** The block split into its fields (decode it without checking the CRC again). */
  readonly frame: ResponseFrame;
  /** Records the counter in the replay window (done by `open` unless `commit: false`). */
  commit(): void;
}

/**
 * What {@link MdcEndpoint.preOpen} found for a data envelope: its header, the session it names and
 * that session's receive key, to open it elsewhere (a worker thread) before {@link MdcEndpoint.open}
 * checks it.
 */
export interface PreOpened {
  readonly header: DataHeader;
  readonly session: SecureSession;
  /** A view of the session's receive key: copy it before the session can be destroyed. */
  readonly key: Buffer;
}

/**
 * An established session as the MDC persists it (in its encrypted store), so that a restarted MDC
 * keeps serving meters without new handshakes. Contains key material: store it sealed only.
 */
export interface MdcSessionRecord {
  readonly meterId: string;
  readonly sessionId: string;
  readonly establishedAt: number;
  readonly lastHelloTime: number;
  /** 32-byte meter → MDC key. */
  readonly up: Uint8Array;
  /** 32-byte MDC → meter key. */
  readonly down: Uint8Array;
}

interface MeterState {
  readonly sessions: SessionSet;
  lastHelloTime: number;
  pending:
    | { hello: Uint8Array; accept: Uint8Array; sessionId: string; keys: { up: Buffer; down: Buffer } }
    | undefined;
}

/**
 * The MDC's end of the secure envelope: many meter sessions keyed by meter id, each with its own
 * counters and replay window.
 */
export class MdcEndpoint {
  readonly #privateKey: KeyObject;
  readonly #keyId: Buffer;
  readonly #lookup: (meterId: string) => KeyObject | undefined;
  readonly #limits: SessionLimits;
  readonly #skew: number;
  readonly #now: () => number;
  readonly #random: (size: number) => Uint8Array;
  readonly #meters = new Map<string, MeterState>();
  readonly #onSession: ((record: MdcSessionRecord) => void) | undefined;

  constructor(o: MdcEndpointOptions) {
    this.#privateKey = o.privateKey;
    this.#keyId = mdcKeyId(o.privateKey);
    this.#lookup = o.meterPublicKey;
    this.#limits = { ...DEFAULT_SESSION_LIMITS, ...o.limits };
    this.#skew = o.maxClockSkewMs ?? 10 * 60_000;
    this.#now = o.now ?? Date.now;
    this.#random = o.randomBytes ?? nodeRandomBytes;
    this.#onSession = o.onSession;
  }

  /** Reinstalls a persisted session (at start-up); the replay window starts empty. */
  restoreSession(r: MdcSessionRecord): void {
    const state = this.#state(r.meterId);
    state.lastHelloTime = Math.max(state.lastHelloTime, r.lastHelloTime);
    state.sessions.install(
      new SecureSession({
        meterId: r.meterId,
        sessionId: r.sessionId,
        establishedAt: r.establishedAt,
        keys: { up: Buffer.from(r.up), down: Buffer.from(r.down) },
        side: 'mdc',
        limits: this.#limits,
      }),
    );
  }

  /** Meters with an established session. */
  get sessionCount(): number {
    let n = 0;
    for (const m of this.#meters.values()) if (m.sessions.current) n++;
    return n;
  }

  /** Answers a hello with a signed accept after checking MDC key id, meter key, signature and time. */
  acceptHello(hello: Uint8Array): Uint8Array {
    const h = parseHello(hello);
    if (!h.mdcKeyId.equals(this.#keyId)) {
      refuse('ERR_MDC_KEY', 'hello-mdc-key', h.mdcKeyId.toString('hex'), this.#keyId.toString('hex'));
    }
    const meterKey = this.#meterKey(h.meterId);
    if (!verifyHello(hello, meterKey))
      refuse('ERR_METER_SIGNATURE', 'hello-signature', 'invalid', 'meter Ed25519');
    const now = this.#now();
    if (Math.abs(h.time - now) > this.#skew) {
      refuse('ERR_HANDSHAKE_STALE', 'hello-time', String(h.time), `within ${this.#skew} ms of ${now}`);
    }
    const state = this.#state(h.meterId);
    if (h.time <= state.lastHelloTime) {
      refuse('ERR_HANDSHAKE_REPLAYED', 'hello-time', String(h.time), `> ${state.lastHelloTime}`);
    }
    const ephemeral = this.#random === nodeRandomBytes ? randomX25519() : x25519FromSeed(this.#random(32));
    const sessionId = Buffer.from(this.#random(8));
    const accept = buildAccept({ hello, meterId: h.meterId, sessionId, mdcKey: this.#privateKey, ephemeral });
    let keys: { up: Buffer; down: Buffer };
    try {
      keys = deriveSessionKeys(ephemeral, h.ephemeral, hello, accept);
    } catch {
      return malformed('hello-ephemeral', 'a low-order X25519 point', 'a valid X25519 public key');
    }
    state.lastHelloTime = h.time;
    state.pending = { hello: Buffer.from(hello), accept, sessionId: sessionId.toString('hex'), keys };
    return accept;
  }

  /**
   * Checks a finish (meter signature over the transcript) and installs the session. `undo()` takes it
   * back and restores the pending handshake (when persisting the session failed, so that the meter can
   * resend the same finish); `release()` drops what `undo` needs.
   */
  acceptFinish(finish: Uint8Array): { meterId: string; sessionId: string; undo(): void; release(): void } {
    const f = parseFinish(finish);
    const state = this.#meters.get(f.meterId);
    const pending = state?.pending;
    const sessionId = f.sessionId.toString('hex');
    if (state === undefined || pending === undefined || pending.sessionId !== sessionId) {
      return refuse(
        'ERR_SESSION_UNKNOWN',
        'finish-session',
        sessionId,
        pending?.sessionId ?? 'no pending handshake',
      );
    }
    if (!verifyFinish(pending.hello, pending.accept, finish, this.#meterKey(f.meterId))) {
      refuse('ERR_METER_SIGNATURE', 'finish-signature', 'invalid', 'meter Ed25519 over hello ‖ accept');
    }
    const saved = {
      ...pending,
      keys: { up: Buffer.from(pending.keys.up), down: Buffer.from(pending.keys.down) },
    };
    const establishedAt = this.#now();
    this.#onSession?.({
      meterId: f.meterId,
      sessionId,
      establishedAt,
      lastHelloTime: state.lastHelloTime,
      up: Buffer.from(pending.keys.up),
      down: Buffer.from(pending.keys.down),
    });
    state.sessions.install(
      new SecureSession({
        meterId: f.meterId,
        sessionId,
        establishedAt,
        keys: pending.keys,
        side: 'mdc',
        limits: this.#limits,
      }),
    );
    state.pending = undefined;
    const release = (): void => {
      saved.keys.up.fill(0);
      saved.keys.down.fill(0);
    };
    return {
      meterId: f.meterId,
      sessionId,
      undo: () => {
        state.sessions.uninstall(sessionId);
        state.pending = {
          ...saved,
          keys: { up: Buffer.from(saved.keys.up), down: Buffer.from(saved.keys.down) },
        };
        release();
      },
      release,
    };
  }

  /**
   * The header, session and receive key of a data envelope whose session is known, or `undefined`
   * (malformed, unknown session: {@link open} will say why). Checks nothing else.
   */
  preOpen(envelope: Uint8Array): PreOpened | undefined {
    let header: DataHeader;
    try {
      header = parseDataHeader(envelope, 'dataUp');
    } catch {
      return undefined;
    }
    const session = this.#meters.get(header.meterId)?.sessions.get(header.sessionId);
    if (session === undefined) return undefined;
    return { header, session, key: session.receiveKey() };
  }

  /**
   * Opens a meter's envelope: session, age, replay window, tag, then the block's length, CRC and serial.
   * `options.pre` and `options.opened`: what {@link preOpen} returned for this envelope and what was
   * made of it with that key (plaintext, or `null` when the tag did not match); used only when the
   * envelope still names that same session, otherwise the envelope is decrypted here.
   */
  open(
    envelope: Uint8Array,
    options: { commit?: boolean; pre?: PreOpened | undefined; opened?: Uint8Array | null | undefined } = {},
  ): OpenedEnvelope {
    const { pre } = options;
    const header = pre?.header ?? parseDataHeader(envelope, 'dataUp');
    const state = this.#meters.get(header.meterId);
    if (state === undefined) return refuse('ERR_SESSION_UNKNOWN', 'session', header.sessionId, 'none');
    const session = state.sessions.find(header.sessionId, header.meterId);
    const block = session.open(envelope, header, this.#now(), {
      commit: options.commit !== false,
      opened: pre !== undefined && pre.session === session ? options.opened : undefined,
    });
    const frame = decodeResponseFrameView(block);
    if (frame.meterSerial !== header.meterId) {
      refuse('ERR_METER_MISMATCH', 'block-meter-serial', frame.meterSerial, header.meterId);
    }
    return {
      meterId: header.meterId,
      sessionId: header.sessionId,
      counter: header.counter,
      block,
      frame,
      commit: () => session.commitCounter(header.counter),
    };
  }

  /** Seals a 66-byte command block (e.g. an acknowledgment or a 0x52 request) for a meter. */
  seal(meterId: string, commandBlock: Uint8Array): Uint8Array {
    const { key, message } = this.prepareSeal(meterId, commandBlock);
    sealInPlace('dataDown', key, message);
    return message;
  }

  /**
   * Takes the meter's next down counter and lays out the envelope of a 66-byte command block without
   * encrypting it: seal `message` in place with `key` ({@link sealInPlace}) before the session can be
   * destroyed (in the same turn of the event loop, or from a copy of the key).
   */
  prepareSeal(meterId: string, commandBlock: Uint8Array): { key: Buffer; message: Buffer } {
    if (commandBlock.length !== 66) throw new TypeError('the MDC seals 66-byte command blocks');
    const session = this.#meters.get(meterId)?.sessions.current;
    if (session === undefined)
      return refuse('ERR_SESSION_UNKNOWN', 'session', meterId, 'an established session');
    return session.prepareSeal(commandBlock);
  }

  /** Destroys every session key. */
  close(): void {
    for (const m of this.#meters.values()) m.sessions.destroy();
    this.#meters.clear();
  }

  #meterKey(meterId: string): KeyObject {
    const key = this.#lookup(meterId);
    if (key === undefined) return refuse('ERR_METER_UNKNOWN', 'meter-key', meterId, 'a provisioned meter');
    return key;
  }

  #state(meterId: string): MeterState {
    let state = this.#meters.get(meterId);
    if (state === undefined) {
      state = { sessions: new SessionSet(), lastHelloTime: 0, pending: undefined };
      this.#meters.set(meterId, state);
    }
    return state;
  }
}

function refuse(code: MeteringError['code'], check: string, value: string, expected: string): never {
  throw new MeteringError(code, `${check} refused: found ${value}, expected ${expected}`, {
    check,
    value,
    expected,
  });
}
