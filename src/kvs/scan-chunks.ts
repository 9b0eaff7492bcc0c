/**
 * Chunked scans over any engine: an engine's own `scanChunks` where it has one, otherwise its
 * `scan` grouped into arrays (which saves the consumer's per-entry steps, not the engine's).
 */
import type { KeyValue, OpOptions, ScanRange, StorageEngine } from './types.ts';

const FALLBACK_CHUNK = 64;

/**
 * The entries of `range` in chunks (arrays), in scan order. Entries may share memory with the
 * engine: read them, never change them.
 *
 * @example
 * for await (const chunk of scanChunks(engine, { prefix })) for (const { key, value } of chunk) use(key, value);
 */
export function scanChunks(
  engine: StorageEngine,
  range: ScanRange,
  options?: OpOptions,
): AsyncIterable<readonly KeyValue[]> {
  if (engine.scanChunks !== undefined) return engine.scanChunks(range, options);
  return chunked(engine.scan(range, options), FALLBACK_CHUNK);
}

/** Groups an entry stream into arrays of at most `size`. */
export async function* chunked(
  entries: AsyncIterable<KeyValue>,
  size: number = FALLBACK_CHUNK,
): AsyncGenerator<KeyValue[]> {
  let chunk: KeyValue[] = [];
  for await (const entry of entries) {
    chunk.push(entry);
    if (chunk.length >= size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}
