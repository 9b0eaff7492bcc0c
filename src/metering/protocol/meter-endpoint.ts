import { type KeyObject, randomBytes as nodeRandomBytes } from 'node:crypto';
import { decodeCommandFrame } from './block.ts';
import { MeteringError } from './errors.ts';
import { buildFinish, buildHello, deriveSessionKeys, parseAccept, verifyAccept } from './handshake.ts';
import { randomX25519, x25519FromSeed } from './keys.ts';
import {
  DEFAULT_SESSION_LIMITS,
  parseDataHeader,
  SecureSession,
  type SessionLimits,
} from './secure-session.ts';
import { SessionSet } from './session-set.ts';

/** Options of {@link MeterEndpoint}. */
export interface MeterEndpointOptions {
  /** 8 decimal digits: the meter serial, also in every response block. */
  readonly meterId: string;
  /** The meter's Ed25519 private key (from manufacture). */
  readonly privateKey: KeyObject;
  /** The MDC's Ed25519 public key (from manufacture). */
  readonly mdcPublicKey: KeyObject;
  readonly limits?: Partial<SessionLimits>;
  /** Clock, UTC ms (default `Date.now`). */
  readonly now?: () => number;
  /** Randomness (default `crypto.randomBytes`); injected only to reproduce test vectors. */
  readonly randomBytes?: (size: number) => Uint8Array;
}

/**
 * The meter's end of the secure envelope: runs the handshake (hello → accept → finish), seals
 * response blocks for the MDC and opens command blocks from it.
 *
 * @example
 * const meter = new MeterEndpoint({ meterId: '00012345', privateKey, mdcPublicKey });
 * const hello = meter.startHandshake();            // → aggregator → MDC
 * const finish = meter.completeHandshake(accept);  // ← accept; → finish
 * const envelope = meter.seal(encodeInstantaneousResponse(report));
 */
export class MeterEndpoint {
  readonly meterId: string;
  readonly #privateKey: KeyObject;
  readonly #mdcPublicKey: KeyObject;
  readonly #limits: SessionLimits;
  readonly #now: () => number;
  readonly #random: (size: number) => Uint8Array;
  readonly #sessions = new SessionSet();
  #pending: { hello: Uint8Array; ephemeral: KeyObject } | undefined;
  #lastHelloTime = 0;

  constructor(o: MeterEndpointOptions) {
    if (!/^[0-9]{8}$/.test(o.meterId)) throw new TypeError('meterId must be 8 decimal digits');
    this.meterId = o.meterId;
    this.#privateKey = o.privateKey;
    this.#mdcPublicKey = o.mdcPublicKey;
    this.#limits = { ...DEFAULT_SESSION_LIMITS, ...o.limits };
    this.#now = o.now ?? Date.now;
    this.#random = o.randomBytes ?? nodeRandomBytes;
  }

  /** True when there is no session, or the current one reached its renewal limits. */
  needsHandshake(): boolean {
    const s = this.#sessions.current;
    return s === undefined || s.needsRenewal(this.#now());
  }

  /** Id (hex) of the current session, if any. */
  get sessionId(): string | undefined {
    return this.#sessions.current?.sessionId;
  }

  /** Starts a handshake: a fresh ephemeral key and a signed hello (118 bytes) for the MDC. */
  startHandshake(): Uint8Array {
    const ephemeral = this.#random === nodeRandomBytes ? randomX25519() : x25519FromSeed(this.#random(32));
    // Hello times must strictly increase at the MDC, even if the clock stalls.
    const time = Math.max(this.#now(), this.#lastHelloTime + 1);
    this.#lastHelloTime = time;
    const hello = buildHello({
      meterId: this.meterId,
      meterKey: this.#privateKey,
      mdcPublicKey: this.#mdcPublicKey,
      time,
      ephemeral,
    });
    this.#pending = { hello, ephemeral };
    return hello;
  }

  /** Checks the MDC's accept (its signature proves the MDC key), installs the session, returns the finish. */
  completeHandshake(accept: Uint8Array): Uint8Array {
    const parsed = parseAccept(accept);
    const pending = this.#pending;
    if (pending === undefined) {
      throw new MeteringError('ERR_SESSION_UNKNOWN', 'no handshake in progress', { check: 'handshake' });
    }
    if (parsed.meterId !== this.meterId) {
      throw new MeteringError('ERR_METER_MISMATCH', `accept is for meter ${parsed.meterId}`, {
        check: 'accept-meter',
        value: parsed.meterId,
        expected: this.meterId,
      });
    }
    if (!verifyAccept(pending.hello, accept, this.#mdcPublicKey)) {
      throw new MeteringError(
        'ERR_MDC_KEY',
        'accept signature does not verify with the MDC key of manufacture',
        {
          check: 'accept-signature',
          value: 'invalid',
          expected: 'Ed25519 signature by the MDC key',
        },
      );
    }
    const keys = deriveSessionKeys(pending.ephemeral, parsed.ephemeral, pending.hello, accept);
    const finish = buildFinish(pending.hello, accept, this.meterId, this.#privateKey);
    const sessionId = parsed.sessionId.toString('hex');
    this.#sessions.install(
      new SecureSession({
        meterId: this.meterId,
        sessionId,
        establishedAt: this.#now(),
        keys,
        side: 'meter',
        limits: this.#limits,
      }),
    );
    this.#pending = undefined;
    return finish;
  }

  /** Seals a 258-byte response block for the MDC (`ERR_SESSION_EXPIRED` past the message limit). */
  seal(responseBlock: Uint8Array): Uint8Array {
    if (responseBlock.length !== 258) throw new TypeError('the meter seals 258-byte response blocks');
    const s = this.#sessions.current;
    if (s === undefined)
      throw new MeteringError('ERR_SESSION_UNKNOWN', 'no session: run a handshake', { check: 'session' });
    return s.seal(responseBlock);
  }

  /** Opens an envelope from the MDC and returns its checked 66-byte command block. */
  open(envelope: Uint8Array): Uint8Array {
    const header = parseDataHeader(envelope, 'dataDown');
    if (header.meterId !== this.meterId) {
      throw new MeteringError('ERR_METER_MISMATCH', `envelope is for meter ${header.meterId}`, {
        check: 'envelope-meter',
        value: header.meterId,
        expected: this.meterId,
      });
    }
    const block = this.#sessions.find(header.sessionId, this.meterId).open(envelope, header, this.#now());
    decodeCommandFrame(block);
    return block;
  }

  /** Destroys the session keys. */
  close(): void {
    this.#sessions.destroy();
    this.#pending = undefined;
  }
}
