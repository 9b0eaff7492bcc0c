/**
 * The pure part of a scan over the `blocks` layout: which entries of each block a scan takes,
 * in which order, and where two consecutive blocks fail to meet (a gap).
 */
import { type Block, copyOut, findKey, type KeyText, keyBytes, keyView, valueView } from './sealed-block.ts';
import type { KeyValue } from './types.ts';

/** Where a scan is: its bounds, direction, what is left of its limit, the last key handed out. */
export interface Picking {
  readonly start: KeyText | undefined;
  readonly end: KeyText | undefined;
  readonly reverse: boolean;
  readonly copy: boolean;
  remaining: number;
  /**
   * The last key handed out: a block read again after a concurrent split on an engine whose
   * scans are not snapshots (PostgreSQL) must not hand a key out twice.
   */
  last: KeyText | undefined;
}

/** The key range `[from, to)` between two consecutive blocks of a scan, if they do not meet. */
export function gapBetween(previous: Block, next: Block, reverse: boolean): [KeyText, KeyText] | undefined {
  if (!reverse) {
    const from = previous.upper;
    return from !== undefined && next.lower > from ? [from, next.lower] : undefined;
  }
  const from = next.upper;
  return from !== undefined && from < previous.lower ? [from, previous.lower] : undefined;
}

/** The entries of `block` the scan takes next (within `within`, when given), in scan order. */
export function pick(
  block: Block,
  p: Picking,
  within: readonly [KeyText, KeyText | undefined] | undefined,
): KeyValue[] {
  const { keys } = block;
  const out: KeyValue[] = [];
  let low = p.start;
  let high = p.end;
  if (within !== undefined) {
    const [from, to] = within;
    if (low === undefined || from > low) low = from;
    if (to !== undefined && (high === undefined || to < high)) high = to;
  }
  if (!p.reverse) {
    let i = low === undefined ? 0 : lowerIndex(keys, low);
    if (p.last !== undefined) i = Math.max(i, lowerIndex(keys, `${p.last}\0`));
    for (; i < keys.length && p.remaining > 0; i++) {
      if (high !== undefined && keys[i]! >= high) break;
      out.push(entryAt(block, i, p.copy));
      p.remaining--;
    }
    if (out.length > 0) p.last = keys[i - 1];
  } else {
    let i = (high === undefined ? keys.length : lowerIndex(keys, high)) - 1;
    if (p.last !== undefined) i = Math.min(i, lowerIndex(keys, p.last) - 1);
    for (; i >= 0 && p.remaining > 0; i--) {
      if (low !== undefined && keys[i]! < low) break;
      out.push(entryAt(block, i, p.copy));
      p.remaining--;
    }
    if (out.length > 0) p.last = keys[i + 1];
  }
  return out;
}

/** Entry `i` of a block: copies, or views into the block (read-only). */
export function entryAt(block: Block, i: number, copy: boolean): KeyValue {
  return copy
    ? { key: keyBytes(block.keys[i]!), value: copyOut(valueView(block, i)) }
    : { key: keyView(block, i), value: valueView(block, i) };
}

/** The index of the first key ≥ `key`. */
export function lowerIndex(keys: readonly KeyText[], key: KeyText): number {
  const i = findKey(keys, key);
  return i >= 0 ? i : -i - 1;
}
