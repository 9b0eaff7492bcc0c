import { decodeBcd, encodeBcd } from './bcd.ts';
import { COMMAND_LENGTH, RESPONSE_LENGTH } from './block.ts';
import { MeteringError } from './errors.ts';

/** Envelope format version (byte 0 of every message). */
export const ENVELOPE_VERSION = 1;
/**
 * Message types (byte 1). `plainUp`/`plainDown` carry a block in clear (head ‖ block): they exist only
 * to measure what the secure envelope costs; an MDC refuses them unless started for that benchmark.
 */
export const MESSAGE_TYPES = {
  hello: 1,
  accept: 2,
  finish: 3,
  dataUp: 4,
  dataDown: 5,
  plainUp: 6,
  plainDown: 7,
} as const;
/** Name of a message type. */
export type MessageType = keyof typeof MESSAGE_TYPES;

/** Fixed lengths, bytes. */
export const HELLO_LENGTH = 118;
export const ACCEPT_LENGTH = 110;
export const FINISH_LENGTH = 78;
/** Data header: version, type, meter id (4), session id (8), counter (8). It is the AEAD's AAD. */
export const DATA_HEADER_LENGTH = 22;
export const TAG_LENGTH = 16;
/** Up (meter → MDC) envelopes carry a 258-byte response; down (MDC → meter) a 66-byte command. */
export const DATA_UP_LENGTH = DATA_HEADER_LENGTH + RESPONSE_LENGTH + TAG_LENGTH; // 296
export const DATA_DOWN_LENGTH = DATA_HEADER_LENGTH + COMMAND_LENGTH + TAG_LENGTH; // 104

/** Lengths of the benchmark-only clear messages: head (6) ‖ block. */
export const PLAIN_UP_LENGTH = 6 + RESPONSE_LENGTH;
export const PLAIN_DOWN_LENGTH = 6 + COMMAND_LENGTH;

const LENGTHS: Record<MessageType, number> = {
  plainUp: PLAIN_UP_LENGTH,
  plainDown: PLAIN_DOWN_LENGTH,
  hello: HELLO_LENGTH,
  accept: ACCEPT_LENGTH,
  finish: FINISH_LENGTH,
  dataUp: DATA_UP_LENGTH,
  dataDown: DATA_DOWN_LENGTH,
};

/** The type of a message (what an aggregator or MDC dispatcher needs), after checking version and length. */
export function messageType(bytes: Uint8Array): MessageType {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2) malformed('length', String(bytes?.length), '>= 2');
  if (bytes[0] !== ENVELOPE_VERSION) malformed('version', String(bytes[0]), String(ENVELOPE_VERSION));
  const type = (Object.keys(MESSAGE_TYPES) as MessageType[]).find((k) => MESSAGE_TYPES[k] === bytes[1]);
  if (type === undefined) return malformed('type', String(bytes[1]), '1 to 7');
  if (bytes.length !== LENGTHS[type])
    malformed(`${type}-length`, String(bytes.length), String(LENGTHS[type]));
  return type;
}

/** Checks version, type and length against `expected`; returns the meter id (8 BCD digits at bytes 2-5). */
export function checkMessage(bytes: Uint8Array, expected: MessageType): string {
  const type = messageType(bytes);
  if (type !== expected) malformed('type', type, expected);
  try {
    return decodeBcd(bytes, 2, 4, 'meterId');
  } catch {
    return malformed('meterId', 'not BCD', '8 decimal digits');
  }
}

/** Writes version, type and meter id (bytes 0-5). */
export function writeMessageHead(target: Uint8Array, type: MessageType, meterId: string): void {
  if (!/^[0-9]{8}$/.test(meterId)) throw new TypeError('a meter id is 8 decimal digits');
  target[0] = ENVELOPE_VERSION;
  target[1] = MESSAGE_TYPES[type];
  encodeBcd(meterId, target, 2, 'meterId');
}

/** Throws `ERR_ENVELOPE_MALFORMED`. */
export function malformed(check: string, value: string, expected: string): never {
  throw new MeteringError('ERR_ENVELOPE_MALFORMED', `message ${check} is ${value}, expected ${expected}`, {
    check,
    value,
    expected,
  });
}
