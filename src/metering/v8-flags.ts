/**
 * V8 settings of the ingestion processes (`securecloud mdc`, `aggregator`, `meters simulate`; the
 * ingest bench, which runs the simulator and aggregators, applies them too), process-wide: freed
 * ArrayBuffers are released during the collector's pause instead of by a background thread.
 * These processes allocate a few small ArrayBuffers per envelope (node:crypto's outputs, framing);
 * with the background sweeper freeing them concurrently, each allocation of 258 bytes cost
 * 1.3-1.5 µs on the 2-core machines, 0.35-0.6 µs without, and an AES-GCM open or seal 5.2-6.4 µs
 * against 3.8-4.3 µs.
 */
import { setFlagsFromString } from 'node:v8';

/** Applies the settings (see the module comment); call once, when the process starts. */
export function applyIngestV8Flags(): void {
  setFlagsFromString('--no-concurrent-array-buffer-sweeping');
}
