/**
 * The pure part of writing to the `blocks` layout: applying a sorted run of changes to a block's
 * entries, and cutting an overfull block into parts. The secure store does the I/O around it.
 */

import { type BlockEntry, entrySize, type KeyText, keyText } from './sealed-block.ts';
import type { BatchOp } from './types.ts';

/** A change to one key: the new value, or `null` to delete it. */
export type Change = Uint8Array | null;

/** Changes by ascending key, each key once: `values[i]` is the change to `keys[i]`. */
export interface Changes {
  readonly keys: readonly KeyText[];
  readonly values: readonly Change[];
}

/** A block to rewrite: its entries after the changes and its range. */
export interface Rewrite {
  /** The block's engine key before the write; `undefined` for a new first block. */
  readonly oldLower: KeyText | undefined;
  lower: KeyText;
  upper: KeyText | undefined;
  entries: BlockEntry[];
  /**
   * The changes only added keys after the block's existing ones (appends, e.g. a meter's next
   * reading): a split keeps the old entries in full blocks and starts a new one for the rest.
   */
  appended?: boolean;
}

/** One block of a rewrite, ready to seal. */
export interface Part {
  readonly lower: KeyText;
  readonly upper: KeyText | undefined;
  readonly entries: readonly BlockEntry[];
}

/**
 * Merges changes `[from, to)` into `entries` (ascending). Returns the new entries and how many
 * existing keys were deleted.
 */
export function mergeChanges(
  entries: readonly BlockEntry[],
  changes: Changes,
  from: number,
  to: number,
): { entries: BlockEntry[]; deleted: number; appended: boolean } {
  const { keys, values } = changes;
  // The common case first: new keys after every existing one (appends).
  const last = entries.at(-1);
  if (last === undefined || keys[from]! > last.key) {
    const out = entries.slice();
    for (let i = from; i < to; i++) {
      const value = values[i]!;
      if (value !== null) out.push({ key: keys[i]!, value });
    }
    return { entries: out, deleted: 0, appended: last !== undefined };
  }
  const out: BlockEntry[] = [];
  let deleted = 0;
  let e = 0;
  for (let i = from; i < to; i++) {
    const key = keys[i]!;
    while (e < entries.length && entries[e]!.key < key) out.push(entries[e++]!);
    const existing = e < entries.length && entries[e]!.key === key;
    if (existing) e++;
    const value = values[i]!;
    if (value !== null) out.push({ key, value });
    else if (existing) deleted++;
  }
  while (e < entries.length) out.push(entries[e++]!);
  return { entries: out, deleted, appended: false };
}

/**
 * Cuts a rewrite into blocks whose bodies take at most `maxBody` bytes (a single larger entry gets
 * a block of its own). The last block of the store, and a block that only received appends, fill
 * each part before starting the next (appends go on in the last part, the others stay full); a
 * block inside the store that received inserts is cut into equal parts, leaving room on both
 * sides.
 */
export function splitRewrite(rewrite: Rewrite, maxBody: number): Part[] {
  const { entries, lower, upper } = rewrite;
  const sizes = entries.map((e) => entrySize(e.key, e.value.length));
  const total = sizes.reduce((a, b) => a + b, 0);
  // Room for the body's header: an upper bound (one of the keys, or the rewrite's) and a count.
  let longest = upper?.length ?? 0;
  for (const e of entries) if (e.key.length > longest) longest = e.key.length;
  const room = Math.max(1, maxBody - (entrySize('', longest + 1) + longest + 4));
  if (total <= room) return [{ lower, upper, entries }];
  const greedy = upper === undefined || rewrite.appended === true;
  const target = greedy ? room : total / Math.ceil(total / room);
  const cuts: number[] = [];
  let filled = 0;
  for (let i = 0; i < entries.length; i++) {
    const size = sizes[i]!;
    const full = greedy ? filled + size > target : filled >= target;
    if (filled > 0 && full) {
      cuts.push(i);
      filled = 0;
    }
    filled += size;
  }
  const parts: Part[] = [];
  let begin = 0;
  for (let c = 0; c <= cuts.length; c++) {
    const end = cuts[c] ?? entries.length;
    const next = cuts[c];
    parts.push({
      lower: c === 0 ? lower : entries[begin]!.key,
      upper: next === undefined ? upper : entries[next]!.key,
      entries: entries.slice(begin, end),
    });
    begin = end;
  }
  return parts;
}

/**
 * A batch's changes by ascending key, the last operation on a key winning; values copied in (the
 * caller may reuse its buffers once the call returns). Batches already in key order (a
 * transaction's inserts) need no map and no sort.
 */
export function sortedChanges(ops: readonly BatchOp[]): Changes {
  const keys: KeyText[] = new Array(ops.length);
  const values: Change[] = new Array(ops.length);
  // One buffer for all the values' copies: one allocation, not one per value.
  let total = 0;
  for (const op of ops) if (op.type === 'put') total += op.value.length;
  const copies = Buffer.allocUnsafe(total);
  let at = 0;
  let ordered = true;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    keys[i] = keyText(op.key);
    if (op.type === 'put') {
      const n = op.value.length;
      copies.set(op.value, at);
      values[i] = copies.subarray(at, at + n);
      at += n;
    } else values[i] = null;
    if (i > 0 && keys[i]! <= keys[i - 1]!) ordered = false;
  }
  if (ordered) return { keys, values };
  const last = new Map<KeyText, Change>();
  for (let i = 0; i < keys.length; i++) last.set(keys[i]!, values[i]!);
  const sorted = [...last.keys()].sort();
  return { keys: sorted, values: sorted.map((k) => last.get(k)!) };
}
