/** Small helpers shared by the evidence backends (sim, gramine-sgx, tsm). Internal. */
import { open } from 'node:fs/promises';
import { TeeError } from './errors.ts';

/** The size of report data every backend binds. */
export const REPORT_DATA_SIZE = 64;

/** Device files larger than this are refused: real quotes and reports are a few KiB (configfs-tsm caps outblob at 32 KiB). */
const MAX_DEVICE_FILE = 1024 * 1024;

/** Throws a TypeError unless `value` is exactly 64 bytes of report data. */
export function assertReportData(value: unknown): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || value.length !== REPORT_DATA_SIZE) {
    const got =
      value instanceof Uint8Array ? `${value.length} bytes` : value === null ? 'null' : typeof value;
    throw new TypeError(`report data must be a Uint8Array of exactly ${REPORT_DATA_SIZE} bytes, got ${got}`);
  }
}

/**
 * Reads a pseudo-file (configfs attribute, Gramine pseudo-device) until end of file. The size that
 * `stat` reports for such files is meaningless (often 0 or 4096), so it is not used as a limit.
 */
export async function readDeviceFile(path: string, signal?: AbortSignal): Promise<Buffer> {
  const fh = await open(path, 'r');
  const scratch = Buffer.alloc(64 * 1024);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await fh.read(scratch, 0, scratch.length, null);
      if (bytesRead === 0) break;
      chunks.push(Buffer.from(scratch.subarray(0, bytesRead)));
      total += bytesRead;
      if (total > MAX_DEVICE_FILE) {
        throw new TeeError(
          'ERR_BACKEND_IO',
          `${path} gave more than ${MAX_DEVICE_FILE} bytes; that is not a quote`,
          {
            check: 'device-read',
            value: `> ${MAX_DEVICE_FILE} bytes`,
          },
        );
      }
    }
    return Buffer.concat(chunks, total);
  } finally {
    // The file may be a key (Gramine's sealing key): leave no copy behind in the scratch buffers.
    scratch.fill(0);
    for (const chunk of chunks) chunk.fill(0);
    await fh.close();
  }
}

/** The errno code of a Node.js system error, or `EIO`. */
export function errnoCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'EIO';
}

/** True for the error an aborted AbortSignal raises. */
export function isAbortError(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}
