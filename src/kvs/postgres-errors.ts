/**
 * Maps what the PostgreSQL driver raises (server SQLSTATEs, socket errors, pool timeouts) to
 * {@link KvsError} codes, each with the reason and what to do. Works on the error's shape, so it
 * needs no import of the driver.
 */
import { KvsError, type KvsErrorCode } from './errors.ts';

/** SQLSTATEs after which a transaction is worth running again (nothing was applied). */
export const RETRYABLE_SQLSTATES: ReadonlySet<string> = new Set(['40001', '40P01']);

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOENT', // a Unix socket path that does not exist
]);

interface Described {
  readonly code: KvsErrorCode;
  readonly text: string;
}

/** The SQLSTATE or socket error code of `cause`, if any (AggregateError: its first member's). */
export function errorCodeOf(cause: unknown): string | undefined {
  const code = (cause as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  const members = (cause as { errors?: unknown } | null)?.errors;
  return Array.isArray(members) ? errorCodeOf(members[0]) : undefined;
}

/**
 * Translates a driver error raised while doing `what` against `target` (a URL without password
 * and the table) into a KvsError.
 */
export function toKvsError(cause: unknown, what: string, target: string): KvsError {
  if (cause instanceof KvsError) return cause;
  const code = errorCodeOf(cause);
  const message = cause instanceof Error ? cause.message : String(cause);
  const detail = `${message}${code ? ` [${code}]` : ''}`;
  const { code: kvsCode, text } = describe(code, message);
  return new KvsError(kvsCode, `${what} on ${target} failed: ${detail}. ${text}`, { cause });
}

function describe(code: string | undefined, message: string): Described {
  if (code !== undefined && NETWORK_CODES.has(code)) {
    return {
      code: 'ERR_KVS_CONNECTION',
      text: 'The server is not reachable: check that it runs and the host, port or socket in the URL.',
    };
  }
  if (/timeout exceeded when trying to connect/i.test(message)) {
    return {
      code: 'ERR_KVS_POOL',
      text: 'No connection became free in time: every pooled connection is busy or the server is slow to accept; raise pool.max or pool.connectionTimeoutMs, or lower the load.',
    };
  }
  if (/Connection terminated|connection timeout|Client has encountered a connection error/i.test(message)) {
    return {
      code: 'ERR_KVS_CONNECTION',
      text: 'The connection dropped or could not be set up in time; check the server and network, then retry.',
    };
  }
  if (code === undefined) return { code: 'ERR_KVS_IO', text: 'Unexpected driver failure.' };
  return describeSqlState(code);
}

function describeSqlState(code: string): Described {
  if (RETRYABLE_SQLSTATES.has(code)) {
    return {
      code: 'ERR_KVS_TRANSACTION',
      text: 'The transaction conflicted with another (serialization failure or deadlock) and was rolled back; nothing was applied. Retry it.',
    };
  }
  if (code === '53300') {
    return {
      code: 'ERR_KVS_POOL',
      text: 'The server has no connection slot left: lower pool.max or raise max_connections.',
    };
  }
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') {
    return {
      code: 'ERR_KVS_CONNECTION',
      text: 'The connection failed or the server is shutting down or starting; retry when it is up.',
    };
  }
  if (code.startsWith('28')) {
    return {
      code: 'ERR_KVS_CONNECTION',
      text: 'The server refused the credentials: check the user and password in the URL.',
    };
  }
  if (code === '3D000') {
    return {
      code: 'ERR_KVS_CONNECTION',
      text: 'The database in the URL does not exist: create it or fix the URL.',
    };
  }
  if (code === '54000' || code === '22001') {
    return { code: 'ERR_KVS_LIMIT', text: 'The server refused a key or value as too large.' };
  }
  if (code === '57014') {
    return {
      code: 'ERR_KVS_IO',
      text: 'The statement was cancelled (statement timeout); raise statementTimeoutMs or narrow the scan.',
    };
  }
  if (code === '42P01') {
    return {
      code: 'ERR_KVS_IO',
      text: 'The table does not exist any more (dropped by someone else?); reopen the engine to create it.',
    };
  }
  if (code === '42501') {
    return {
      code: 'ERR_KVS_IO',
      text: 'The user lacks a privilege on the table or schema: grant it, or use another table.',
    };
  }
  return { code: 'ERR_KVS_IO', text: 'The server refused the statement.' };
}

/** The URL with its password removed, for messages (never log credentials). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '***');
    return parsed.toString();
  } catch {
    return 'the configured PostgreSQL URL';
  }
}
