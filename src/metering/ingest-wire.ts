/**
 * What the MDC answers for each message it receives, and what aggregators pass back to the meter
 * link: `status (1) ‖ meter id (4, BCD) ‖ payload`. The payload is an envelope for the meter (an
 * accept, or a sealed receipt) or, for refusals and retries, the ASCII error code. Aggregators read
 * the status and meter id only; the meter opens the envelope.
 */
import { decodeBcd, encodeBcd } from './protocol/bcd.ts';
import { MeteringError } from './protocol/index.ts';

/** Result statuses. */
export const RESULT = {
  /** The report was stored; payload: the sealed receipt. */
  stored: 0,
  /** The report was already stored; payload: the sealed receipt (status duplicate). */
  duplicate: 1,
  /** A hello was accepted; payload: the accept. */
  accepted: 2,
  /** A finish was accepted: the session is established (no payload). */
  established: 3,
  /** Refused for good; payload: the error code. Do not resend the same bytes. */
  refused: 4,
  /** Not processed (the MDC's store failed, or it is busy); payload: a reason. Resend later. */
  retry: 5,
} as const;

/** Name of a result status. */
export type ResultStatus = keyof typeof RESULT;
const NAMES = Object.keys(RESULT) as ResultStatus[];

/** A decoded result. */
export interface IngestResult {
  readonly status: ResultStatus;
  readonly meterId: string;
  readonly payload: Buffer;
}

/** Encodes a result. */
export function encodeResult(status: ResultStatus, meterId: string, payload?: Uint8Array | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'latin1') : (payload ?? Buffer.alloc(0));
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = RESULT[status];
  encodeBcd(/^[0-9]{8}$/.test(meterId) ? meterId : '00000000', out, 1, 'meterId');
  out.set(body, 5);
  return out;
}

/** Decodes a result; `ERR_ENVELOPE_MALFORMED` when it is not one. */
export function decodeResult(bytes: Uint8Array): IngestResult {
  const status = NAMES[bytes[0] ?? 255];
  if (bytes.length < 5 || status === undefined) {
    throw new MeteringError('ERR_ENVELOPE_MALFORMED', 'not an ingest result', { check: 'result' });
  }
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { status, meterId: decodeBcd(b, 1, 4, 'meterId'), payload: b.subarray(5) };
}

/** The meter id of an envelope (bytes 2–5, BCD), or undefined when it has none. */
export function envelopeMeterId(bytes: Uint8Array): string | undefined {
  if (bytes.length < 6) return undefined;
  try {
    return decodeBcd(bytes, 2, 4, 'meterId');
  } catch {
    return undefined;
  }
}
