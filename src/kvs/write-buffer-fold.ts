/**
 * A fold's writes (write-buffer.ts): a frozen layer's changes into the engine in key order, then the
 * deletion of its log records.
 */
import { type KeyText, keyBytes } from './sealed-block.ts';
import type { BatchOp, StorageEngine } from './types.ts';
import { type Change, endMarkKey, logKey } from './write-buffer-log.ts';

/** Keys per engine batch of a fold. */
export const FOLD_CHUNK = 4096;

/**
 * Writes a frozen layer in key order, then deletes its log records (`firstSeq` up to the layer's
 * `upToSeq`, with their end marks). The changes go in engine batches of {@link FOLD_CHUNK} keys with a turn of the event
 * loop between them, so that a long fold does not stall the process's I/O (health checks, the bus)
 * nor its writes; the log records go with the last batch. A crash midway leaves the log, and its
 * replay writes the same final values again. `checkOpen` throws once the buffer is closed.
 */
export async function foldLayer(
  engine: StorageEngine,
  layer: {
    readonly sorted: readonly KeyText[];
    readonly changes: ReadonlyMap<KeyText, Change>;
    readonly upToSeq: bigint;
  },
  firstSeq: bigint,
  checkOpen: () => void,
): Promise<void> {
  const keys = layer.sorted;
  for (let from = 0; from < keys.length || from === 0; from += FOLD_CHUNK) {
    const to = Math.min(keys.length, from + FOLD_CHUNK);
    const ops: BatchOp[] = [];
    for (let i = from; i < to; i++) {
      const k = keys[i]!;
      const value = layer.changes.get(k)!;
      ops.push(
        value === null ? { type: 'delete', key: keyBytes(k) } : { type: 'put', key: keyBytes(k), value },
      );
    }
    if (to >= keys.length) {
      for (let seq = firstSeq; seq < layer.upToSeq; seq++) {
        ops.push({ type: 'delete', key: logKey(seq) }, { type: 'delete', key: endMarkKey(seq) });
      }
      await engine.batch(ops);
      return;
    }
    await engine.batch(ops);
    await new Promise((resolve) => setImmediate(resolve));
    checkOpen();
  }
}
