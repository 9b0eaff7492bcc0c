/**
 * Stable codes of Secure Content-Based Routing. Filter errors carry the line and column of the
 * offending token; envelope errors say which check failed and never carry key material or contents.
 */
export const SCBR_ERROR_CODES = [
  'ERR_SCBR_FILTER_SYNTAX', // a filter does not follow the grammar (line, column)
  'ERR_SCBR_FILTER_TYPE', // a literal's type does not fit the operator or the attribute (line, column)
  'ERR_SCBR_FILTER_LIMIT', // a filter is too long, too deep, or expands to too many AND-terms
  'ERR_SCBR_ATTRIBUTE_INVALID', // a publication header attribute is not a valid typed value
  'ERR_SCBR_ENVELOPE_MALFORMED', // a message does not parse (version, kind, lengths)
  'ERR_SCBR_DECRYPT', // authentication failed: tampered, or sealed with another key
  'ERR_SCBR_REPLAY', // a sequence number was already seen (or is older than the replay window)
  'ERR_SCBR_ROUTER_KEY', // the router's key announcement does not verify (check named in detail)
  'ERR_SCBR_GROUP_KEY', // no group key with the envelope's key id, or a group key is malformed
  'ERR_SCBR_SUBSCRIPTION', // the router refused or does not know a subscription
  'ERR_SCBR_TOO_LARGE', // a payload is larger than the publisher's limit
  'ERR_SCBR_TIMEOUT', // the router did not answer in time
  'ERR_SCBR_CLOSED', // the router, publisher or subscriber is closed
] as const;

export type ScbrErrorCode = (typeof SCBR_ERROR_CODES)[number];

/** Where in a filter's text an error is: 1-based line and column, 0-based offset. */
export interface FilterPosition {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}

/** Error raised by SCBR. Never carries keys, payloads or (outside filter errors) attribute values. */
export class ScbrError extends Error {
  override readonly name = 'ScbrError';
  readonly code: ScbrErrorCode;
  /** For filter errors: where the offending token starts. */
  readonly position: FilterPosition | undefined;
  /** Non-secret facts: `{ check: 'signature' }`, `{ limit: 256 }`. */
  readonly detail: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: ScbrErrorCode,
    message: string,
    options: { position?: FilterPosition; detail?: Readonly<Record<string, unknown>>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.position = options.position;
    this.detail = options.detail;
  }
}

/** True when `value` is a {@link ScbrError}, optionally with the given code. */
export function isScbrError(value: unknown, code?: ScbrErrorCode): value is ScbrError {
  return value instanceof ScbrError && (code === undefined || value.code === code);
}
