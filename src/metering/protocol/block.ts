import { decodeBcd, encodeBcd } from './bcd.ts';
import { crc16Arc, sealCrc, storedCrc } from './crc16.ts';
import { MeteringError } from './errors.ts';
import { assertZero } from './field-codec.ts';

/** Length of an NBR 14522 command block (reader → meter). */
export const COMMAND_LENGTH = 66;
/** Length of an NBR 14522 response block (meter → reader). */
export const RESPONSE_LENGTH = 258;
/** Command block: code (1) + reader serial (3, BCD) + parameters (60) + CRC (2). */
export const COMMAND_PARAMS_OFFSET = 4;
export const COMMAND_PARAMS_LENGTH = 60;
/** Response block: code (1) + meter serial (4, BCD) + data (251) + CRC (2). */
export const RESPONSE_DATA_OFFSET = 5;
export const RESPONSE_DATA_LENGTH = 251;

/** A checked command block, split into its fields. */
export interface CommandFrame {
  readonly code: number;
  /** Reader serial number: 6 decimal digits. */
  readonly readerSerial: string;
  /** The 60 parameter bytes (a copy). */
  readonly params: Uint8Array;
}

/** A checked response block, split into its fields. */
export interface ResponseFrame {
  readonly code: number;
  /** Meter serial number: 8 decimal digits. */
  readonly meterSerial: string;
  /** The 251 data bytes (a copy; a view of the block from {@link decodeResponseFrameView}). */
  readonly data: Uint8Array;
}

/**
 * `n` zero bytes in a slice of Node's shared allocation pool, as a plain Uint8Array. A new
 * ArrayBuffer per block costs far more than the block (an external allocation the garbage collector
 * accounts for: at a million meters, allocating the MDC's receipt blocks this way cost 8 µs each),
 * and blocks are short-lived, so the pool they keep alive is soon free.
 */
function zeroed(n: number): Uint8Array {
  const b = Buffer.allocUnsafe(n).fill(0);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/** Builds a 66-byte command block; `params` (at most 60 bytes) is zero-padded, the CRC appended. */
export function encodeCommandFrame(frame: CommandFrame): Uint8Array {
  if (frame.params.length > COMMAND_PARAMS_LENGTH) throw new TypeError('command parameters exceed 60 bytes');
  const block = zeroed(COMMAND_LENGTH);
  block[0] = checkCode(frame.code);
  encodeBcd(frame.readerSerial, block, 1, 'readerSerial');
  if (frame.readerSerial.length !== 6) throw new TypeError('readerSerial must have 6 digits');
  block.set(frame.params, COMMAND_PARAMS_OFFSET);
  sealCrc(block);
  return block;
}

/** Builds a 258-byte response block; `data` (at most 251 bytes) is zero-padded, the CRC appended. */
export function encodeResponseFrame(frame: ResponseFrame): Uint8Array {
  if (frame.data.length > RESPONSE_DATA_LENGTH) throw new TypeError('response data exceeds 251 bytes');
  const block = zeroed(RESPONSE_LENGTH);
  block[0] = checkCode(frame.code);
  if (frame.meterSerial.length !== 8) throw new TypeError('meterSerial must have 8 digits');
  encodeBcd(frame.meterSerial, block, 1, 'meterSerial');
  block.set(frame.data, RESPONSE_DATA_OFFSET);
  sealCrc(block);
  return block;
}

/** Checks length and CRC of a command block and splits it. Hostile input gives `MeteringError`s. */
export function decodeCommandFrame(block: Uint8Array): CommandFrame {
  checkBlock(block, COMMAND_LENGTH, 'command');
  return {
    code: block[0] ?? 0,
    readerSerial: decodeBcd(block, 1, 3, 'readerSerial'),
    params: block.slice(COMMAND_PARAMS_OFFSET, COMMAND_PARAMS_OFFSET + COMMAND_PARAMS_LENGTH),
  };
}

/** Checks length and CRC of a response block and splits it. Hostile input gives `MeteringError`s. */
export function decodeResponseFrame(block: Uint8Array): ResponseFrame {
  const frame = decodeResponseFrameView(block);
  return { code: frame.code, meterSerial: frame.meterSerial, data: new Uint8Array(frame.data) };
}

/**
 * {@link decodeResponseFrame} with `data` a view of `block`, not a copy: for a caller that owns the
 * block and never changes it (the MDC, with each envelope's fresh plaintext).
 */
export function decodeResponseFrameView(block: Uint8Array): ResponseFrame {
  checkBlock(block, RESPONSE_LENGTH, 'response');
  return {
    code: block[0] ?? 0,
    meterSerial: decodeBcd(block, 1, 4, 'meterSerial'),
    data: block.subarray(RESPONSE_DATA_OFFSET, RESPONSE_DATA_OFFSET + RESPONSE_DATA_LENGTH),
  };
}

/** Refuses a frame whose code is not `expected` (`ERR_BLOCK_CODE`). */
export function expectCode(found: number, expected: number): void {
  if (found !== expected) {
    throw new MeteringError(
      'ERR_BLOCK_CODE',
      `block has command code ${hex2(found)}, expected ${hex2(expected)}`,
      {
        check: 'code',
        value: hex2(found),
        expected: hex2(expected),
      },
    );
  }
}

/** `0x14`-style hex of one byte. */
export function hex2(value: number): string {
  return `0x${value.toString(16).padStart(2, '0')}`;
}

function checkBlock(block: Uint8Array, length: number, what: string): void {
  if (!(block instanceof Uint8Array) || block.length !== length) {
    const found = block instanceof Uint8Array ? String(block.length) : typeof block;
    throw new MeteringError('ERR_BLOCK_LENGTH', `${what} block is ${found} bytes, expected ${length}`, {
      check: `${what}-length`,
      value: found,
      expected: String(length),
    });
  }
  const computed = crc16Arc(block, 0, length - 2);
  const stored = storedCrc(block);
  if (computed !== stored) {
    throw new MeteringError(
      'ERR_BLOCK_CRC',
      `${what} block CRC is ${hex4(stored)}, computed ${hex4(computed)}`,
      {
        check: `${what}-crc`,
        value: hex4(stored),
        expected: hex4(computed),
      },
    );
  }
}

function checkCode(code: number): number {
  if (!Number.isInteger(code) || code < 0 || code > 0xff) throw new TypeError('command code must be a byte');
  return code;
}

function hex4(value: number): string {
  return `0x${value.toString(16).padStart(4, '0')}`;
}

/** Builds the block of a command that takes no parameters (its parameter bytes are all zero). */
export function encodeBareCommand(code: number, readerSerial: string): Uint8Array {
  return encodeCommandFrame({ code, readerSerial, params: new Uint8Array(0) });
}

/** Checks the block of a parameterless command `code` and returns the reader serial. */
export function decodeBareCommand(block: Uint8Array, code: number): { readerSerial: string } {
  const frame = decodeCommandFrame(block);
  expectCode(frame.code, code);
  assertZero(frame.params, 0, frame.params.length, 'params');
  return { readerSerial: frame.readerSerial };
}
