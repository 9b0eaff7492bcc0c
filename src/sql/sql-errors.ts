/** Maps failures from below (storage, bugs) to SQL errors with a SQLSTATE, at the session boundary. */
import { KvsError } from '../kvs/errors.ts';
import { SqlError } from './errors.ts';

/**
 * The SQL error for anything a statement threw: SQL errors as they are; storage integrity
 * failures (a value altered, moved, or read with the wrong key) as XX001 data_corrupted; an
 * aborted operation as 57014; a storage transaction failure as 40001; anything else as XX000.
 * The original error is the `cause`.
 */
export function toSqlError(err: unknown): SqlError {
  if (err instanceof SqlError) return err;
  if (err instanceof KvsError) {
    switch (err.code) {
      case 'ERR_KVS_INTEGRITY':
      case 'ERR_KVS_KEY_UNKNOWN':
        return new SqlError(
          'ERR_SQL_DATA_CORRUPTED',
          `stored data failed its integrity check (${err.code}): ${err.message}`,
          {
            cause: err,
            hint: 'the store was altered outside CascaDB, or is read with the wrong keys',
          },
        );
      case 'ERR_KVS_ABORTED':
        return new SqlError('ERR_SQL_CANCELED', 'canceling statement due to user request', { cause: err });
      case 'ERR_KVS_TRANSACTION':
        return new SqlError(
          'ERR_SQL_SERIALIZATION_FAILURE',
          `the storage engine aborted the commit: ${err.message}`,
          { cause: err },
        );
      default:
        return new SqlError('ERR_SQL_INTERNAL', `storage failure (${err.code}): ${err.message}`, {
          cause: err,
        });
    }
  }
  if (err instanceof Error && err.name === 'AbortError') {
    return new SqlError('ERR_SQL_CANCELED', 'canceling statement due to user request', { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new SqlError('ERR_SQL_INTERNAL', `internal error: ${message}`, { cause: err });
}
