/**
 * The MDC process's storage and runtime settings: its database (the secure store over LMDB behind
 * a write buffer sized for a round), the keys derived from its storage key, and the Node options it
 * runs with.
 */
import { createHash } from 'node:crypto';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import {
  createKeyring,
  createLmdbEngine,
  createSecureStore,
  createWriteBuffer,
  lmdbPagesEncrypted,
  type WriteBuffer,
} from '../../kvs/index.ts';
import { type Database, openDatabase } from '../../sql/index.ts';

/** Derives the LMDB page key and the value key from the storage key (HKDF-free split: SHA-256 with labels). */
function deriveKeys(storageKey: Uint8Array): { page: Buffer; value: Buffer } {
  if (storageKey.length !== 32) throw new TypeError('the MDC storage key is 32 bytes');
  const d = (label: string) => createHash('sha256').update(label).update(storageKey).digest();
  return { page: d('securecloud/mdc/lmdb-page'), value: d('securecloud/mdc/value') };
}

/**
 * Opens the MDC database: the secure store (every block sealed) over LMDB, with LMDB page encryption
 * as `pageEncryption` says (see {@link MdcServiceOptions.pageEncryption}).
 */
export async function openMdcDatabase(
  dataDir: string,
  storageKey: Uint8Array,
  o: {
    readonly pageEncryption?: boolean | undefined;
    readonly onStoreError?: ((err: unknown) => void) | undefined;
    /** Buffered bytes that force a fold (default {@link MDC_WRITE_BUFFER_BYTES}). */
    readonly writeBufferBytes?: number | undefined;
  } = {},
): Promise<{ db: Database; engine: WriteBuffer }> {
  const { pageEncryption, onStoreError } = o;
  const keys = deriveKeys(storageKey);
  const path = join(dataDir, 'db');
  const pages = pageEncryption ?? (await lmdbPagesEncrypted(path)) ?? false;
  const lmdb = await createLmdbEngine({ path, ...(pages && { encryptionKey: keys.page }) });
  const secure = createSecureStore(lmdb, createKeyring({ keys: [{ id: 1, key: keys.value }] }), {
    namespace: 'mdc',
    closeEngine: true,
  });
  // A round writes one reading per meter, each meter's rows elsewhere in the table: logged in
  // batches and folded in key order once the round pauses (src/kvs/write-buffer.ts).
  const maxBytes = o.writeBufferBytes ?? MDC_WRITE_BUFFER_BYTES;
  const engine = await createWriteBuffer(secure, {
    maxBytes,
    // A round's records in memory reserved now, not grown into during the round (write-buffer-arena.ts).
    reserveBytes: maxBytes,
    idleFoldMs: MDC_IDLE_FOLD_MS,
    ...(onStoreError && { onError: onStoreError }),
  });
  keys.page.fill(0);
  keys.value.fill(0);
  const db = await openDatabase({ engine });
  return { db, engine };
}

/**
 * Node options the MDC process should run with: a larger young generation, so that the short-lived
 * buffers of a round (envelopes, rows, receipts) die there instead of being promoted (measured on
 * the 65,000-meter round: 3.99 s against 4.2-5.1 s with the default).
 */
export const MDC_NODE_ARGS: readonly string[] = ['--max-semi-space-size=64'];

/**
 * The MDC folds its buffer after this long without a write: the round has paused. Not 1 s: a
 * saturated MDC handling large batches (a million meters' round) can take over a second between
 * two writes, and a fold started mid-round rewrites blocks the rest of the round will touch again.
 */
export const MDC_IDLE_FOLD_MS = 5000;

/** Buffered writes the MDC folds into its tables at the latest, at least (about 120,000 readings). */
export const MDC_WRITE_BUFFER_BYTES = 128 * 1024 * 1024;

/** Buffered bytes per reading of a round (its row, its share of the Merkle batch; measured ~1.1 KB). */
const BUFFER_BYTES_PER_METER = 1536;

/**
 * The MDC's default write-buffer limit for `meters` provisioned meters: a whole round, so that the
 * round is folded once, after it, rather than every ~120,000 readings (each fold rewrites the blocks
 * of every meter it holds: at a million meters, nearly all blocks, several times a round). At least
 * {@link MDC_WRITE_BUFFER_BYTES}; at most a quarter of the machine's memory.
 */
export function mdcWriteBufferBytes(meters: number, totalMemory: number = totalmem()): number {
  const ceiling = Math.max(MDC_WRITE_BUFFER_BYTES, Math.floor(totalMemory / 4));
  return Math.min(ceiling, Math.max(MDC_WRITE_BUFFER_BYTES, meters * BUFFER_BYTES_PER_METER));
}
