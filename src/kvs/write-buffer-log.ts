/**
 * The write buffer's log format (see write-buffer.ts): each buffered batch is one record under a
 * reserved key `ff ff ff ff "wbuf-log/" <u64 sequence>` in the engine below, which seals it and
 * binds it to that key.
 */
import { KvsError } from './errors.ts';
import type { KeyText } from './sealed-block.ts';
import type { StorageEngine } from './types.ts';

/** The first key of the reserved range (four 0xFF bytes); user keys must sort below it. */
export const RESERVED_PREFIX = Buffer.from([0xff, 0xff, 0xff, 0xff]);
/** The prefix of every log record's key. */
export const LOG_PREFIX = Buffer.concat([RESERVED_PREFIX, Buffer.from('wbuf-log/', 'latin1')]);

/** A buffered change: the new value, or null for a deletion. */
export type Change = Buffer | null;
/** One operation of a record, as the buffer keeps it. */
export type DecodedOp = readonly [KeyText, Change];

/** The key of record `seq`. */
export function logKey(seq: bigint): Buffer {
  return sequenceKey(seq, 8);
}

/** {@link LOG_PREFIX}, `seq` as 8 bytes, then zero bytes up to `length` bytes after the prefix. */
function sequenceKey(seq: bigint, length: number): Buffer {
  const key = Buffer.alloc(LOG_PREFIX.length + length);
  LOG_PREFIX.copy(key, 0);
  key.writeBigUInt64BE(seq, LOG_PREFIX.length);
  return key;
}

/**
 * The key of record `seq`'s end mark: the record's key and one 0x00 byte, with an empty value,
 * written in the same engine batch as the record. It sorts between the record and the next one, so
 * that under the secure store's `blocks` layout the record's block is closed when it is written
 * and the next record starts after the mark: appending a record then rewrites the mark's small
 * block, not the previous record's (a block's range is sealed inside it, so extending the last
 * block means sealing it again: without marks every record was sealed twice).
 */
export function endMarkKey(seq: bigint): Buffer {
  return sequenceKey(seq, 9);
}

/** True for an end mark's key ({@link endMarkKey}). */
function isEndMark(key: Uint8Array): boolean {
  return key.length === LOG_PREFIX.length + 9 && key[key.length - 1] === 0;
}

/** The sequence number of a record key (`ERR_KVS_INTEGRITY` if it is not one). */
export function logSeq(key: Uint8Array): bigint {
  if (key.length !== LOG_PREFIX.length + 8)
    throw new KvsError('ERR_KVS_INTEGRITY', 'a write buffer log key has the wrong length');
  return Buffer.from(key.buffer, key.byteOffset, key.length).readBigUInt64BE(LOG_PREFIX.length);
}

// A log record: u32 count, then per operation u8 type (1 put, 2 delete), u16 key length, key,
// and for a put u32 value length and value. Sealed and bound to its key by the engine below.
// Also returns the changes as the buffer keeps them (values are views of the record: the copy).
// `alloc` gives the record's memory (the buffer's arena: write-buffer-arena.ts).
// `values[i]` is the change to `keys[i]` (null: delete), applied in order.
export function encodeRecord(
  keys: readonly KeyText[],
  values: readonly (Uint8Array | null)[],
  alloc: (size: number) => Buffer = Buffer.allocUnsafe,
): { record: Buffer; changes: DecodedOp[] } {
  let size = 4;
  for (let i = 0; i < keys.length; i++) {
    const value = values[i];
    size += 3 + keys[i]!.length + (value ? 4 + value.length : 0);
  }
  const out = alloc(size);
  const changes: DecodedOp[] = new Array(keys.length);
  out.writeUInt32BE(keys.length, 0);
  let at = 4;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    const value = values[i]!;
    out[at] = value === null ? 2 : 1;
    out.writeUInt16BE(key.length, at + 1);
    out.write(key, at + 3, 'latin1');
    at += 3 + key.length;
    if (value !== null) {
      out.writeUInt32BE(value.length, at);
      out.set(value, at + 4);
      changes[i] = [key, out.subarray(at + 4, at + 4 + value.length)];
      at += 4 + value.length;
    } else changes[i] = [key, null];
  }
  return { record: out, changes };
}

/** The operations of a record, in order (`ERR_KVS_INTEGRITY` when malformed). */
export function decodeRecord(record: Buffer): DecodedOp[] {
  const bad = () => new KvsError('ERR_KVS_INTEGRITY', 'a write buffer log record is malformed');
  if (record.length < 4) throw bad();
  const count = record.readUInt32BE(0);
  const ops: DecodedOp[] = [];
  let at = 4;
  for (let i = 0; i < count; i++) {
    if (at + 3 > record.length) throw bad();
    const type = record[at]!;
    const keyLength = record.readUInt16BE(at + 1);
    at += 3;
    if (at + keyLength > record.length || (type !== 1 && type !== 2)) throw bad();
    const k = record.toString('latin1', at, at + keyLength);
    at += keyLength;
    if (type === 2) {
      ops.push([k, null]);
      continue;
    }
    if (at + 4 > record.length) throw bad();
    const n = record.readUInt32BE(at);
    at += 4;
    if (at + n > record.length) throw bad();
    ops.push([k, record.subarray(at, at + n)]);
    at += n;
  }
  if (at !== record.length) throw bad();
  return ops;
}

/**
 * The log records in `engine`, in order: the first and last sequence numbers (`first` undefined and
 * `last` -1n when there are none). `ERR_KVS_INTEGRITY` when a record in between is missing.
 */
export async function readLog(
  engine: StorageEngine,
): Promise<{ first: bigint | undefined; last: bigint; records: Buffer[] }> {
  let first: bigint | undefined;
  let last = -1n;
  const records: Buffer[] = [];
  for await (const { key, value } of engine.scan({ prefix: LOG_PREFIX })) {
    if (isEndMark(key)) {
      if (value.length !== 0) throw new KvsError('ERR_KVS_INTEGRITY', 'a write buffer end mark has a value');
      continue;
    }
    const seq = logSeq(key);
    if (seq !== last + 1n && first !== undefined) {
      throw new KvsError(
        'ERR_KVS_INTEGRITY',
        `the write buffer's log skips from record ${last} to ${seq} (records were deleted)`,
      );
    }
    first ??= seq;
    last = seq;
    records.push(Buffer.from(value));
  }
  return { first, last, records };
}
