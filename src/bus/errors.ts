/** Stable codes of the bus context. */
export const BUS_ERROR_CODES = [
  'ERR_BUS_CLOSED', // the socket or transport was closed
  'ERR_BUS_TIMEOUT', // a send, receive or request did not complete in time (detail: which, how long)
  'ERR_BUS_ABORTED', // the caller's AbortSignal fired
  'ERR_BUS_UNROUTABLE', // a router socket was asked to send to a peer it is not connected to
  'ERR_BUS_NULL_REFUSED', // the NULL mechanism was asked for on a transport that does not allow it
  'ERR_BUS_BIND', // bind or connect failed (address in use, bad endpoint)
  'ERR_BUS_MESSAGE_INVALID', // a message failed its codec's validation at the boundary
  'ERR_BUS_MESSAGE_TOO_LARGE', // a message or frame is larger than the limit
  'ERR_BUS_KEY_DIRECTORY', // the key directory could not be refreshed from the CAS
  'ERR_BUS_PEER_UNKNOWN', // no admitted key for the peer / service / role asked for
  'ERR_BUS_SOCKET', // the underlying socket failed (details in cause)
] as const;

export type BusErrorCode = (typeof BUS_ERROR_CODES)[number];

/** Error raised by the bus. Never carries key material or message contents. */
export class BusError extends Error {
  override readonly name = 'BusError';
  readonly code: BusErrorCode;
  /** Non-secret facts about the failure (`{ operation: 'receive', timeoutMs: 5000 }`). */
  readonly detail: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: BusErrorCode,
    message: string,
    options: { detail?: Readonly<Record<string, unknown>>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.detail = options.detail;
  }
}

/** True when `value` is a {@link BusError}, optionally with the given code. */
export function isBusError(value: unknown, code?: BusErrorCode): value is BusError {
  return value instanceof BusError && (code === undefined || value.code === code);
}
