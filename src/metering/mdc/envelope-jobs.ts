/**
 * Batches of envelope AEAD work, as one ArrayBuffer each way, for the MDC's envelope worker
 * (envelope-worker.ts). The main thread does every session check (which session, its age, the replay
 * window, counters) and only hands out the cipher work: for each message its session key and bytes.
 *
 * Job:    op (u8: 1 open, 2 seal) ‖ direction (u8: 0 up, 1 down) ‖ count (u32 LE),
 *         then per message: length (u16 LE) ‖ key (32) ‖ message (length bytes).
 * Result: per message: status (u8: 1 done, 0 tag mismatch) ‖ length (u16 LE) ‖ bytes (length):
 *         open → the plaintext; seal → the sealed message (same length as given).
 *
 * The runner zeroes every key in the job once it has run.
 */
import { type Direction, openSealed, sealInPlace } from '../protocol/envelope-aead.ts';

/** What a job does with each message. */
export type JobOp = 'open' | 'seal';

/** One message and the session key to use on it. */
export interface JobItem {
  readonly key: Uint8Array;
  /** open: the whole envelope; seal: header ‖ plaintext ‖ 16 bytes for the tag. */
  readonly message: Uint8Array;
}

const HEAD = 6;
const KEY = 32;
const MAX_MESSAGE = 0xffff;
const DIRECTIONS: readonly Direction[] = ['dataUp', 'dataDown'];

/** Packs a job (copies keys and messages). */
export function encodeJob(op: JobOp, direction: Direction, items: readonly JobItem[]): ArrayBuffer {
  let size = HEAD;
  for (const it of items) {
    if (it.key.length !== KEY) throw new TypeError('envelope keys are 32 bytes');
    if (it.message.length > MAX_MESSAGE)
      throw new TypeError('an envelope job message is at most 65535 bytes');
    size += 2 + KEY + it.message.length;
  }
  const buf = new ArrayBuffer(size);
  const bytes = new Uint8Array(buf);
  const view = new DataView(buf);
  bytes[0] = op === 'open' ? 1 : 2;
  bytes[1] = DIRECTIONS.indexOf(direction);
  view.setUint32(2, items.length, true);
  let at = HEAD;
  for (const it of items) {
    view.setUint16(at, it.message.length, true);
    bytes.set(it.key, at + 2);
    bytes.set(it.message, at + 2 + KEY);
    at += 2 + KEY + it.message.length;
  }
  return buf;
}

/** Runs a job (in the worker, or inline); zeroes its keys. Throws `TypeError` on a malformed job. */
export function runJob(job: ArrayBuffer): ArrayBuffer {
  const bytes = new Uint8Array(job);
  const view = new DataView(job);
  if (job.byteLength < HEAD || (bytes[0] !== 1 && bytes[0] !== 2) || (bytes[1] !== 0 && bytes[1] !== 1))
    throw new TypeError('malformed envelope job head');
  const open = bytes[0] === 1;
  const direction = DIRECTIONS[bytes[1]!]!;
  const count = view.getUint32(2, true);
  // Results are never longer than their messages: open shrinks them, seal keeps their length.
  const out = new Uint8Array(job.byteLength - HEAD);
  const outView = new DataView(out.buffer);
  let at = HEAD;
  let w = 0;
  try {
    for (let i = 0; i < count; i++) {
      if (at + 2 + KEY > job.byteLength) throw new TypeError('envelope job truncated');
      const length = view.getUint16(at, true);
      const key = bytes.subarray(at + 2, at + 2 + KEY);
      const end = at + 2 + KEY + length;
      if (end > job.byteLength) throw new TypeError('envelope job truncated');
      const message = bytes.subarray(at + 2 + KEY, end);
      let result: Uint8Array | undefined;
      if (open) result = openSealed(direction, key, message);
      else {
        sealInPlace(direction, key, message);
        result = message;
      }
      out[w] = result === undefined ? 0 : 1;
      outView.setUint16(w + 1, result?.length ?? 0, true);
      if (result !== undefined) out.set(result, w + 3);
      w += 3 + (result?.length ?? 0);
      key.fill(0);
      at = end;
    }
  } finally {
    bytes.fill(0);
  }
  return out.buffer;
}

/**
 * The results of a job of `count` messages: bytes (views into `result`), or `null` for a message
 * whose tag did not match. Throws `TypeError` when `result` does not hold `count` results.
 */
export function decodeResults(result: ArrayBuffer, count: number): Array<Uint8Array | null> {
  const bytes = new Uint8Array(result);
  const view = new DataView(result);
  const out: Array<Uint8Array | null> = new Array(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    if (at + 3 > bytes.length) throw new TypeError('envelope job result truncated');
    const length = view.getUint16(at + 1, true);
    if (at + 3 + length > bytes.length) throw new TypeError('envelope job result truncated');
    out[i] = bytes[at] === 1 ? bytes.subarray(at + 3, at + 3 + length) : null;
    at += 3 + length;
  }
  return out;
}
