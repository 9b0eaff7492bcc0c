/** Stable codes of the disk queue. Never renamed; new ones are appended. */
export const QUEUE_ERROR_CODES = [
  'ERR_QUEUE_FULL', // appending would take the queue past maxBytes on disk
  'ERR_QUEUE_CORRUPT', // a record or file failed its CRC or framing check where a torn tail cannot explain it
  'ERR_QUEUE_LOCKED', // another live process holds the queue directory
  'ERR_QUEUE_CLOSED', // the queue was closed
  'ERR_QUEUE_RECORD_TOO_LARGE', // a record is longer than maxRecordBytes
  'ERR_QUEUE_IO', // the file system failed (disk full, permissions, I/O error); the queue must be reopened
] as const;

/** One of {@link QUEUE_ERROR_CODES}. */
export type QueueErrorCode = (typeof QUEUE_ERROR_CODES)[number];

/** Where a refusal happened on disk, when it is about a file. Never carries record contents. */
export interface QueueErrorDetail {
  readonly file?: string;
  readonly offset?: number;
  readonly id?: bigint;
}

/** Error raised by the disk queue: a stable `code`, a message with the reason and the remedy. */
export class QueueError extends Error {
  override readonly name = 'QueueError';
  readonly code: QueueErrorCode;
  readonly detail: QueueErrorDetail;

  constructor(code: QueueErrorCode, message: string, detail: QueueErrorDetail = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.detail = detail;
  }
}

/** True when `value` is a {@link QueueError}, optionally with the given code. */
export function isQueueError(value: unknown, code?: QueueErrorCode): value is QueueError {
  return value instanceof QueueError && (code === undefined || value.code === code);
}

/** Wraps a file-system failure as `ERR_QUEUE_IO`, naming the operation and the file. */
export function ioError(operation: string, file: string, cause: unknown): QueueError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new QueueError(
    'ERR_QUEUE_IO',
    `disk queue could not ${operation} ${file}: ${reason}; check free space and permissions, then reopen the queue`,
    { file },
    cause,
  );
}
