/**
 * Packing of many small messages into one frame: `count (u32 BE)` then, per message, `length (u16 BE)
 * ‖ bytes`. Used on the meter links (simulator ↔ aggregator) and on the bus (aggregator ↔ MDC), so
 * that a batch of envelopes costs one frame instead of one per envelope. Unpacking is bounded and
 * refuses anything that does not add up exactly.
 */
import { MeteringError } from './protocol/index.ts';

/** Largest message in a pack (an envelope is at most 296 bytes; results carry a little more). */
export const MAX_PACKED_MESSAGE = 1024;
/** Most messages in one pack. */
export const MAX_PACKED_COUNT = 20_000;

/** Packs `messages` (each 1..{@link MAX_PACKED_MESSAGE} bytes) into one buffer. */
export function packMessages(messages: readonly Uint8Array[]): Buffer {
  if (messages.length > MAX_PACKED_COUNT)
    throw new RangeError(`at most ${MAX_PACKED_COUNT} messages per pack`);
  let size = 4;
  for (const m of messages) {
    if (m.length === 0 || m.length > MAX_PACKED_MESSAGE)
      throw new RangeError(`a packed message is 1..${MAX_PACKED_MESSAGE} bytes, not ${m.length}`);
    size += 2 + m.length;
  }
  const out = Buffer.allocUnsafe(size);
  out.writeUInt32BE(messages.length, 0);
  let at = 4;
  for (const m of messages) {
    out.writeUInt16BE(m.length, at);
    out.set(m, at + 2);
    at += 2 + m.length;
  }
  return out;
}

/** Unpacks a buffer made by {@link packMessages}; `ERR_ENVELOPE_MALFORMED` when it does not add up. */
export function unpackMessages(frame: Uint8Array, maxCount = MAX_PACKED_COUNT): Buffer[] {
  const b = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (b.length < 4) bad('pack-length', String(b.length), '>= 4');
  const count = b.readUInt32BE(0);
  if (count > maxCount) bad('pack-count', String(count), `<= ${maxCount}`);
  const out: Buffer[] = new Array(count);
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 2 > b.length) bad('pack-truncated', `${b.length} bytes`, `message ${i} header at ${at}`);
    const len = b.readUInt16BE(at);
    if (len === 0 || len > MAX_PACKED_MESSAGE)
      bad('pack-message-length', String(len), `1..${MAX_PACKED_MESSAGE}`);
    if (at + 2 + len > b.length) bad('pack-truncated', `${b.length} bytes`, `${at + 2 + len}`);
    out[i] = b.subarray(at + 2, at + 2 + len);
    at += 2 + len;
  }
  if (at !== b.length) bad('pack-trailing', `${b.length - at} bytes`, '0');
  return out;
}

function bad(check: string, value: string, expected: string): never {
  throw new MeteringError('ERR_ENVELOPE_MALFORMED', `${check} is ${value}, expected ${expected}`, {
    check,
    value,
    expected,
  });
}
