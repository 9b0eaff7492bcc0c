/**
 * The write buffer's options and statistics (write-buffer.ts).
 */

/** Options of {@link createWriteBuffer}. */
export interface WriteBufferOptions {
  /** Fold once the buffered keys and values take more than this many bytes (default 128 MiB). */
  readonly maxBytes?: number;
  /**
   * Fold after this many milliseconds without a write (default 1000; 0: only at `maxBytes` and on
   * close). A timer that fires more than half a period late (the event loop was blocked) waits again.
   */
  readonly idleFoldMs?: number;
  /**
   * Memory for log records reserved when the buffer opens (default 0: taken as needed); records
   * live in chunks reused from one layer to the next (write-buffer-arena.ts).
   */
  readonly reserveBytes?: number;
  /** Size of those chunks (default 32 MiB). */
  readonly recordChunkBytes?: number;
  /** Whether `close()` also closes the wrapped engine (default true). */
  readonly closeEngine?: boolean;
  /** Told about a failed background fold (the changes stay buffered and logged; the next fold retries). */
  readonly onError?: (err: unknown) => void;
}

/** What {@link WriteBuffer.stats} reports. */
export interface WriteBufferStats {
  /** Keys changed and not yet folded. */
  readonly bufferedKeys: number;
  /** Their bytes (keys and values). */
  readonly bufferedBytes: number;
  /** Log records not yet folded. */
  readonly logRecords: number;
  /** Whether a fold is running (writes go on meanwhile, into a fresh layer). */
  readonly folding: boolean;
  /** Folds started since open, by what started them: `maxBytes` passed, idle time, or a call (`fold()`, `close()`). */
  readonly foldsBy: { readonly size: number; readonly idle: number; readonly call: number };
  /** Folds done since open, and the seconds they took. */
  readonly folds: number;
  readonly foldSeconds: number;
  /** Chunks of record memory allocated (write-buffer-arena.ts), and how many are free for reuse. */
  readonly recordChunks: { readonly total: number; readonly free: number };
}
