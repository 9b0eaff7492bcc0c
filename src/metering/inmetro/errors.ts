/** Stable codes of INMETRO signing and audit. Never renamed; new ones are appended. */
export const INMETRO_ERROR_CODES = [
  'ERR_INMETRO_KEY', // a key is not an Ed25519 key in the expected form (PEM SPKI, 32 raw bytes, private)
  'ERR_INMETRO_BATCH_MALFORMED', // an encoded signed batch has a bad length, tag or field
  'ERR_INMETRO_AUDIT_RANGE', // the audit range is not on the interval grid, or ends before it starts
] as const;

/** One of {@link INMETRO_ERROR_CODES}. */
export type InmetroErrorCode = (typeof INMETRO_ERROR_CODES)[number];

/** Error raised by INMETRO signing and audit. Never carries key material. */
export class InmetroError extends Error {
  override readonly name = 'InmetroError';
  readonly code: InmetroErrorCode;

  constructor(code: InmetroErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** True when `value` is an {@link InmetroError}, optionally with the given code. */
export function isInmetroError(value: unknown, code?: InmetroErrorCode): value is InmetroError {
  return value instanceof InmetroError && (code === undefined || value.code === code);
}
