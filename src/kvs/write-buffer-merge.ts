/**
 * Reads through the write buffer (see write-buffer.ts): the engine's entries of a range merged
 * with the buffered changes, which win, deletions hiding entries.
 */
import { checkOpen } from './engine-guards.ts';
import type { ResolvedScan } from './range.ts';
import { type KeyText, keyBytes, keyText } from './sealed-block.ts';
import type { KeyValue, OpOptions, ScanRange, StorageEngine } from './types.ts';
import { type Change, RESERVED_PREFIX } from './write-buffer-log.ts';

const RESERVED_TEXT = keyText(RESERVED_PREFIX);

/** One layer of buffered changes: its keys in order, and the change to each. */
export interface ChangeLayer {
  readonly sorted: readonly KeyText[];
  readonly changes: ReadonlyMap<KeyText, Change>;
  /** Keeps the layer's values readable until the returned function is called. */
  pin?(): () => void;
}

/**
 * The engine's entries of `scan` merged with the buffered layers (newest first; a newer layer's
 * change to a key wins). Nothing runs before the first `next()`: then the store must be open
 * (`closed` is asked again before each entry), and the layers are read, once.
 */
export async function* mergedScan(
  engine: StorageEngine,
  layersNow: () => readonly ChangeLayer[],
  scan: ResolvedScan,
  options: OpOptions | undefined,
  name: string,
  closed: () => boolean,
): AsyncGenerator<KeyValue> {
  checkOpen(closed(), name, options);
  if (scan.empty) return;
  const layers = layersNow();
  const unpins = layers.map((l) => l.pin?.());
  try {
    yield* mergeWithEngine(engine, layers, scan, options, name, closed);
  } finally {
    for (const unpin of unpins) unpin?.();
  }
}

async function* mergeWithEngine(
  engine: StorageEngine,
  layers: readonly ChangeLayer[],
  scan: ResolvedScan,
  options: OpOptions | undefined,
  name: string,
  closed: () => boolean,
): AsyncGenerator<KeyValue> {
  const start = scan.start === undefined ? undefined : keyText(scan.start);
  let end = scan.end === undefined ? RESERVED_TEXT : keyText(scan.end);
  if (end > RESERVED_TEXT) end = RESERVED_TEXT;
  if (start !== undefined && start >= end) return;
  // The buffered keys of the range, with their changes as they are now (the newer layer wins).
  let mine: [KeyText, Change][] = [];
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = rangeOf(layers[i]!.sorted, layers[i]!.changes, start, end);
    mine = mine.length === 0 ? layer : mergeLayers(layer, mine);
  }
  if (scan.reverse) mine.reverse();
  let remaining = scan.limit;
  const engineRange: ScanRange = {
    ...(scan.start && { start: scan.start }),
    end: keyBytes(end),
    reverse: scan.reverse,
  };
  const before = (a: KeyText, b: KeyText) => (scan.reverse ? a > b : a < b);
  let m = 0;
  const check = () => checkOpen(closed(), name, options);
  const emitMine = function* (upTo: KeyText | undefined): Generator<KeyValue> {
    while (m < mine.length && remaining > 0 && (upTo === undefined || before(mine[m]![0], upTo))) {
      const [k, value] = mine[m++]!;
      if (value === null) continue;
      check();
      remaining--;
      yield { key: keyBytes(k), value: Buffer.from(value) };
    }
  };
  for await (const entry of engine.scan(engineRange, options)) {
    if (remaining <= 0) return;
    check();
    const k = keyText(entry.key);
    yield* emitMine(k);
    if (remaining <= 0) return;
    if (m < mine.length && mine[m]![0] === k) {
      // Buffered change to an engine key: the change wins (a deletion hides it).
      const value = mine[m++]![1];
      if (value === null) continue;
      remaining--;
      yield { key: entry.key, value: Buffer.from(value) };
      continue;
    }
    remaining--;
    yield entry;
  }
  yield* emitMine(undefined);
}

/** The changes of `[start, end)` in key order. */
function rangeOf(
  sorted: readonly KeyText[],
  changes: ReadonlyMap<KeyText, Change>,
  start: KeyText | undefined,
  end: KeyText,
): [KeyText, Change][] {
  const out: [KeyText, Change][] = [];
  const to = lowerBound(sorted, end);
  for (let i = start === undefined ? 0 : lowerBound(sorted, start); i < to; i++)
    out.push([sorted[i]!, changes.get(sorted[i]!)!]);
  return out;
}

/** Two key-ordered change lists as one; on equal keys `newer` wins. */
function mergeLayers(newer: [KeyText, Change][], older: [KeyText, Change][]): [KeyText, Change][] {
  const out: [KeyText, Change][] = [];
  let a = 0;
  let b = 0;
  while (a < newer.length || b < older.length) {
    if (b >= older.length || (a < newer.length && newer[a]![0] < older[b]![0])) out.push(newer[a++]!);
    else if (a >= newer.length || older[b]![0] < newer[a]![0]) out.push(older[b++]!);
    else {
      out.push(newer[a++]!);
      b++;
    }
  }
  return out;
}

function lowerBound(sorted: readonly KeyText[], key: KeyText): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
