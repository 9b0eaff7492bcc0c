/** Turns an access path and the values of one execution into concrete key ranges. */

import { likePrefix } from './expr-ops.ts';
import { KeyWriter, prefixEnd, TAG, writeKeyValue, writeTextPrefix } from './key-encoding.ts';
import type { AccessPath, BoundTerm } from './plan-access.ts';
import type { Compiled, Env } from './plan-types.ts';
import type { KeyLayout } from './table-info.ts';
import { compareBytes, type Value } from './types.ts';

/** One range of keys to read: a single key (`point`) or `[start, end)`. */
export interface KeyRange {
  readonly start: Uint8Array;
  /** Exclusive; undefined means up to the end of the index. */
  readonly end: Uint8Array | undefined;
  readonly point: boolean;
  /** The equality prefix the range lies in (for EXPLAIN). */
  readonly prefix: Uint8Array;
}

function concat(prefix: Uint8Array, write: (w: KeyWriter) => void): Uint8Array {
  const w = new KeyWriter(prefix.length + 32, prefix);
  write(w);
  return w.finish();
}

/** Evaluates a row-independent value, running its subqueries only when it has some. */
async function valueNow(c: Compiled, env: Env): Promise<Value> {
  if (c.prepare !== undefined) await c.prepare([], env);
  return c.eval([], env);
}

/** The common case, one value per equality column without subqueries: one key, no allocation per column. */
function singlePrefix(path: AccessPath, env: Env): Uint8Array[] | undefined {
  const { index, eq } = path;
  for (const e of eq)
    if (e.isNull || e.values.length !== 1 || e.values[0]!.prepare !== undefined) return undefined;
  const w = new KeyWriter(index.prefix.length + 16 * eq.length, index.prefix);
  for (let i = 0; i < eq.length; i++) {
    const v = eq[i]!.values[0]!.eval([], env);
    if (v === null) return [];
    writeKeyValue(w, v, index.types[i]!, index.desc[i]);
  }
  return [w.finish()];
}

/** Every combination of the equality alternatives, as encoded prefixes (NULL values match nothing). */
async function prefixes(path: AccessPath, env: Env): Promise<Uint8Array[]> {
  const single = singlePrefix(path, env);
  if (single !== undefined) return single;
  let out: Uint8Array[] = [path.index.prefix];
  for (let i = 0; i < path.eq.length; i++) {
    const { values, isNull } = path.eq[i]!;
    const type = path.index.types[i]!;
    const desc = path.index.desc[i]!;
    const vals: Value[] = isNull ? [null] : [];
    for (const c of values) {
      const v = await valueNow(c, env);
      if (v !== null) vals.push(v);
    }
    const next: Uint8Array[] = [];
    for (const p of out) for (const v of vals) next.push(concat(p, (w) => writeKeyValue(w, v, type, desc)));
    out = next;
    if (out.length === 0) return out;
  }
  return out;
}

function maxOf(a: Uint8Array | undefined, b: Uint8Array): Uint8Array {
  return a === undefined || compareBytes(b, a) > 0 ? b : a;
}

function minOf(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (b === undefined) return a;
  return a === undefined || compareBytes(b, a) < 0 ? b : a;
}

interface Bounds {
  start: Uint8Array | undefined;
  end: Uint8Array | undefined;
  empty: boolean;
}

async function applyBound(
  b: Bounds,
  p: Uint8Array,
  t: BoundTerm,
  index: KeyLayout,
  k: number,
  env: Env,
): Promise<void> {
  const v = await valueNow(t.value, env);
  if (v === null) {
    b.empty = true;
    return;
  }
  const desc = index.desc[k]!;
  const key = concat(p, (w) => writeKeyValue(w, v, index.types[k]!, desc));
  // On a DESC column a lower bound on values is an upper bound on bytes, and vice versa.
  const lowerBytes = (t.kind === 'lower') !== desc;
  const after = prefixEnd(key);
  if (lowerBytes) b.start = maxOf(b.start, t.inclusive ? key : (after ?? key));
  else b.end = minOf(b.end, t.inclusive ? after : key);
}

async function rangeIn(path: AccessPath, p: Uint8Array, env: Env): Promise<KeyRange | undefined> {
  const k = path.eq.length;
  const b: Bounds = { start: undefined, end: undefined, empty: false };
  for (const t of path.bounds) await applyBound(b, p, t, path.index, k, env);
  for (const like of path.likes) {
    const pattern = await valueNow(like.pattern, env);
    if (pattern === null) return undefined;
    const { prefix } = likePrefix(pattern as string, like.escape);
    if (prefix === '') continue;
    const lp = concat(p, (w) => writeTextPrefix(w, prefix, path.index.desc[k]));
    b.start = maxOf(b.start, lp);
    b.end = minOf(b.end, prefixEnd(lp));
  }
  if (b.empty) return undefined;
  if (path.bounds.length > 0 && path.index.nullable[k]) {
    // Range conditions are never true for NULL: keep NULL entries (tag 7F, or 80 when DESC) out.
    const desc = path.index.desc[k]!;
    if (!desc && b.end === undefined) b.end = concat(p, (w) => w.byte(TAG.null));
    if (desc && b.start === undefined) b.start = concat(p, (w) => w.byte((~TAG.null & 0xff) + 1));
  }
  const start = b.start ?? p;
  const end = b.end ?? prefixEnd(p);
  if (end !== undefined && compareBytes(start, end) >= 0) return undefined;
  return { start, end: minOf(end, prefixEnd(p)), point: false, prefix: p };
}

/** The key ranges of one execution, in key order, without overlaps. */
/** The single key of a point lookup when it can be computed without awaiting (the common case). */
export function pointKeyNow(path: AccessPath, env: Env): Uint8Array | null | undefined {
  if (!path.point) return undefined;
  const single = singlePrefix(path, env);
  if (single === undefined) return undefined;
  return single[0] ?? null;
}

export async function keyRanges(path: AccessPath, env: Env): Promise<KeyRange[]> {
  const ps = await prefixes(path, env);
  if (ps.length === 1 && path.point) return [{ start: ps[0]!, end: undefined, point: true, prefix: ps[0]! }];
  ps.sort(compareBytes);
  const unique = ps.filter((p, i) => i === 0 || compareBytes(p, ps[i - 1]!) !== 0);
  if (path.point) return unique.map((p) => ({ start: p, end: undefined, point: true, prefix: p }));
  const out: KeyRange[] = [];
  for (const p of unique) {
    const r = await rangeIn(path, p, env);
    if (r !== undefined) out.push(r);
  }
  return out;
}
