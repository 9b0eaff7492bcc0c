/**
 * How SQL values and errors look in the JSON API. JSON has no 64-bit integers, exact decimals or
 * bytes, so BIGINT, NUMERIC and BYTEA travel as strings (BYTEA in PostgreSQL's hex form `\x0a1b`),
 * as do non-finite floats (`"NaN"`, `"Infinity"`, `"-Infinity"`).
 */
import { isSqlError, type SqlError } from '../index.ts';

/** A value as the JSON API sends it. */
export type JsonSqlValue = null | boolean | number | string;

/** Converts one result value (see src/sql/README.md for what each SQL type gives) to JSON. */
export function toJsonValue(value: unknown): JsonSqlValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'boolean':
    case 'string':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return value.toString();
    default:
      if (value instanceof Uint8Array) return `\\x${Buffer.from(value).toString('hex')}`;
      return String(value);
  }
}

/**
 * Validates the `params` of a request: an array of null, booleans, finite numbers and strings
 * (strings are parsed as literals of the parameter's inferred type: `"9007199254740993"` for a
 * BIGINT, `"\\x0a1b"` for a BYTEA, `"2024-03-01 00:15:00"` for a TIMESTAMP).
 */
export function paramsFromJson(params: unknown): unknown[] | string {
  if (params === undefined) return [];
  if (!Array.isArray(params)) return '"params" must be an array';
  for (let i = 0; i < params.length; i++) {
    const p: unknown = params[i];
    const ok =
      p === null ||
      typeof p === 'boolean' ||
      typeof p === 'string' ||
      (typeof p === 'number' && Number.isFinite(p));
    if (!ok) return `params[${i}] must be null, a boolean, a finite number or a string`;
  }
  return params;
}

/** The JSON `error` object of a SQL error: PostgreSQL's fields under readable names. */
export interface JsonSqlError {
  readonly code: string;
  readonly sqlstate: string;
  readonly message: string;
  /** 1-based line and column, and PostgreSQL's 1-based character `position` in the statement. */
  readonly position?: { readonly line: number; readonly column: number; readonly offset: number };
  readonly detail?: string;
  readonly hint?: string;
}

/** Maps a SqlError to its JSON form. */
export function sqlErrorToJson(err: SqlError): JsonSqlError {
  return {
    code: err.code,
    sqlstate: err.sqlstate,
    message: err.message,
    ...(err.position
      ? { position: { line: err.position.line, column: err.position.column, offset: err.position.offset } }
      : {}),
    ...(err.detail !== undefined ? { detail: err.detail } : {}),
    ...(err.hint !== undefined ? { hint: err.hint } : {}),
  };
}

/** HTTP status of a SQL error, by SQLSTATE class. */
export function httpStatusOf(err: unknown): number {
  if (!isSqlError(err)) return 500;
  const state = err.sqlstate;
  if (state === '40001' || state.startsWith('23') || state.startsWith('25')) return 409;
  if (state === '57014') return 408;
  if (state === '54000') return 413;
  if (state.startsWith('XX')) return 500;
  return 400;
}
