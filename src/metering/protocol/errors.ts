/** Stable codes of the metering context. Never renamed; new ones are appended. */
export const METERING_ERROR_CODES = [
  'ERR_BLOCK_LENGTH', // a block is not 66 (command) or 258 (response) bytes
  'ERR_BLOCK_CRC', // the CRC-16/ARC of a block does not match its last two bytes
  'ERR_BLOCK_CODE', // unknown command code, or not the code the caller expected
  'ERR_BLOCK_FIELD', // a field is out of range, NaN/infinite, bad BCD, or a reserved byte is not zero
  'ERR_ENVELOPE_MALFORMED', // an envelope or handshake message has a bad length, version, type or counter
  'ERR_METER_UNKNOWN', // no public key is registered for the meter id (forged or unprovisioned meter)
  'ERR_METER_SIGNATURE', // the meter's signature does not verify (forged meter)
  'ERR_METER_MISMATCH', // the block inside an envelope names another meter than the envelope
  'ERR_MDC_KEY', // the message was made for another MDC key, or the MDC's signature does not verify
  'ERR_HANDSHAKE_REPLAYED', // a hello not newer than the last one accepted from that meter
  'ERR_HANDSHAKE_STALE', // a hello whose clock is too far from the MDC's
  'ERR_SESSION_UNKNOWN', // no established session with that id for that meter
  'ERR_SESSION_EXPIRED', // the session is past its message or age limit: run a new handshake
  'ERR_ENVELOPE_TAMPERED', // the AES-256-GCM tag does not verify (header, ciphertext or tag altered)
  'ERR_ENVELOPE_REPLAYED', // the counter was already accepted in this session
  'ERR_ENVELOPE_REORDERED', // the counter is below the replay window (too late to tell it from a replay)
  'ERR_REGISTRY', // a meter registry or key file is malformed, or its digest is not the one the CAS released
  'ERR_READING_INVALID', // a decoded reading fails the MDC's checks (clock skew, interval grid, command)
  'ERR_LINK', // a meter link (simulator ↔ aggregator) frame is malformed or too large
] as const;

/** One of {@link METERING_ERROR_CODES}. */
export type MeteringErrorCode = (typeof METERING_ERROR_CODES)[number];

/** Non-secret facts about a refusal: which check, the value found, what was expected. */
export interface MeteringErrorDetail {
  readonly check: string;
  readonly value?: string;
  readonly expected?: string;
}

/** Error raised by the metering protocol. Never carries key material or plaintext. */
export class MeteringError extends Error {
  override readonly name = 'MeteringError';
  readonly code: MeteringErrorCode;
  readonly detail: MeteringErrorDetail;

  constructor(code: MeteringErrorCode, message: string, detail: MeteringErrorDetail, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.detail = detail;
  }
}

/** True when `value` is a {@link MeteringError}, optionally with the given code. */
export function isMeteringError(value: unknown, code?: MeteringErrorCode): value is MeteringError {
  return value instanceof MeteringError && (code === undefined || value.code === code);
}

/** Shorthand for an `ERR_BLOCK_FIELD` refusal. */
export function fieldError(check: string, value: string, expected: string): MeteringError {
  return new MeteringError('ERR_BLOCK_FIELD', `field ${check} is ${value}, expected ${expected}`, {
    check,
    value,
    expected,
  });
}
