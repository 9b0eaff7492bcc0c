/**
 * The CascaDB server: the PostgreSQL frontend/backend protocol listener (pg-*.ts), the HTTPS JSON
 * API (http-api.ts) and the server process that opens the store and runs both (sql-server.ts).
 */

export { createSqlHttpApi, type SqlHttpApiOptions, type SqlHttpAuth } from './http-api.ts';
export { type JsonSqlError, type JsonSqlValue, paramsFromJson, toJsonValue } from './json-values.ts';
export type { PgAuthOptions } from './pg-auth.ts';
export {
  DEFAULT_MAX_MESSAGE_BYTES,
  MAX_MESSAGE_BYTES_CAP,
  type PgServerOptions,
  type PgTlsOptions,
} from './pg-options.ts';
export { type PgServer, startPgServer } from './pg-server.ts';
export {
  type PgListener,
  type PgListenerStarter,
  type RunningSqlServer,
  SQL_USER,
  type SqlServerOptions,
  startSqlServer,
} from './sql-server.ts';
export {
  deriveStorageKeys,
  loadOrCreateSealedKey,
  SEALED_KEY_FILE,
  type StorageKeys,
} from './storage-key.ts';
