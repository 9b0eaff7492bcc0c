import { BCD_TIME_LENGTH, decodeBcdTime, encodeBcdTime } from './bcd.ts';
import { decodeCommandFrame, encodeCommandFrame, expectCode } from './block.ts';
import { fieldError } from './errors.ts';
import { assertZero, writeU64BE } from './field-codec.ts';

/**
 * Command 0xE1, a securecloud extension (NBR 14522 leaves codes above 0xE0 to manufacturers): the
 * MDC's receipt for a report, sealed to the meter. A meter resends, under a new counter, every report
 * it has no receipt for. Parameters: status (1) · reading time (6, BCD) · envelope counter (8, BE)
 * · zeros.
 */
export const CMD_RECEIPT = 0xe1;

/** What the MDC did with the report. */
export const RECEIPT_STATUS = { stored: 0, duplicate: 1 } as const;
/** Name of a receipt status. */
export type ReceiptStatus = keyof typeof RECEIPT_STATUS;

/** A decoded receipt. */
export interface Receipt {
  readonly readerSerial: string;
  readonly status: ReceiptStatus;
  /** The reading's interval end, UTC ms. */
  readonly timestamp: number;
  /** Counter of the envelope that carried the report. */
  readonly counter: number;
}

const USED = 1 + BCD_TIME_LENGTH + 8;

/** Builds the 66-byte receipt command. */
export function encodeReceiptCommand(r: Receipt): Uint8Array {
  if (!Number.isSafeInteger(r.counter) || r.counter < 0)
    throw new TypeError('receipt counter must be a non-negative safe integer');
  const params = new Uint8Array(USED);
  params[0] = RECEIPT_STATUS[r.status];
  encodeBcdTime(r.timestamp, params, 1, 'timestamp');
  writeU64BE(params, 1 + BCD_TIME_LENGTH, r.counter);
  return encodeCommandFrame({ code: CMD_RECEIPT, readerSerial: r.readerSerial, params });
}

/** Checks and decodes a receipt command block. */
export function decodeReceiptCommand(block: Uint8Array): Receipt {
  const frame = decodeCommandFrame(block);
  expectCode(frame.code, CMD_RECEIPT);
  const p = frame.params;
  const status = (Object.keys(RECEIPT_STATUS) as ReceiptStatus[]).find((k) => RECEIPT_STATUS[k] === p[0]);
  if (status === undefined) throw fieldError('receipt-status', String(p[0]), '0 (stored) or 1 (duplicate)');
  const timestamp = decodeBcdTime(p, 1, 'timestamp');
  const counter = new DataView(p.buffer, p.byteOffset, p.byteLength).getBigUint64(1 + BCD_TIME_LENGTH);
  if (counter > BigInt(Number.MAX_SAFE_INTEGER))
    throw fieldError('receipt-counter', String(counter), '< 2^53');
  assertZero(p, USED, p.length, 'params');
  return { readerSerial: frame.readerSerial, status, timestamp, counter: Number(counter) };
}
