import type { SourcePos } from './ast.ts';

/**
 * Stable error codes of the SQL context, each mapped to the PostgreSQL SQLSTATE that clients see.
 * Codes are stable; add new ones at the end of a group, never rename.
 */
export const SQL_ERROR_SQLSTATES = {
  // Class 0A, 21, 22: features and data
  ERR_SQL_FEATURE_NOT_SUPPORTED: '0A000', // feature_not_supported
  ERR_SQL_CARDINALITY: '21000', // cardinality_violation (scalar subquery with several rows)
  ERR_SQL_STRING_TRUNCATION: '22001', // string_data_right_truncation (VARCHAR(n) too long)
  ERR_SQL_NUMERIC_OUT_OF_RANGE: '22003', // numeric_value_out_of_range
  ERR_SQL_INVALID_DATETIME: '22007', // invalid_datetime_format
  ERR_SQL_DATETIME_OVERFLOW: '22008', // datetime_field_overflow
  ERR_SQL_DIVISION_BY_ZERO: '22012', // division_by_zero
  ERR_SQL_INVALID_PARAMETER_VALUE: '22023', // invalid_parameter_value
  ERR_SQL_INVALID_ESCAPE: '22025', // invalid_escape_sequence (LIKE … ESCAPE)
  ERR_SQL_INVALID_TEXT: '22P02', // invalid_text_representation
  // Class 23: integrity constraints
  ERR_SQL_NOT_NULL_VIOLATION: '23502', // not_null_violation
  ERR_SQL_UNIQUE_VIOLATION: '23505', // unique_violation
  // Class 25: transactions
  ERR_SQL_INVALID_TRANSACTION_STATE: '25000', // invalid_transaction_state
  ERR_SQL_ACTIVE_TRANSACTION: '25001', // active_sql_transaction
  ERR_SQL_NO_ACTIVE_TRANSACTION: '25P01', // no_active_sql_transaction
  ERR_SQL_IN_FAILED_TRANSACTION: '25P02', // in_failed_sql_transaction
  ERR_SQL_READ_ONLY_TRANSACTION: '25006', // read_only_sql_transaction
  // Class 40: transaction rollback
  ERR_SQL_SERIALIZATION_FAILURE: '40001', // serialization_failure
  // Class 42: syntax and access rules
  ERR_SQL_SYNTAX: '42601', // syntax_error
  ERR_SQL_DUPLICATE_COLUMN: '42701', // duplicate_column
  ERR_SQL_AMBIGUOUS_COLUMN: '42702', // ambiguous_column
  ERR_SQL_UNDEFINED_COLUMN: '42703', // undefined_column
  ERR_SQL_UNDEFINED_OBJECT: '42704', // undefined_object (an index)
  ERR_SQL_DUPLICATE_OBJECT: '42710', // duplicate_object (an index)
  ERR_SQL_DUPLICATE_ALIAS: '42712', // duplicate_alias
  ERR_SQL_GROUPING: '42803', // grouping_error
  ERR_SQL_DATATYPE_MISMATCH: '42804', // datatype_mismatch
  ERR_SQL_UNDEFINED_FUNCTION: '42883', // undefined_function (also operator does not exist)
  ERR_SQL_UNDEFINED_TABLE: '42P01', // undefined_table
  ERR_SQL_UNDEFINED_PARAMETER: '42P02', // undefined_parameter
  ERR_SQL_DUPLICATE_TABLE: '42P07', // duplicate_table
  ERR_SQL_INVALID_COLUMN_REFERENCE: '42P10', // invalid_column_reference (ON CONFLICT target, ORDER BY ordinal)
  ERR_SQL_INVALID_TABLE_DEFINITION: '42P16', // invalid_table_definition (two primary keys)
  ERR_SQL_INDETERMINATE_DATATYPE: '42P18', // indeterminate_datatype (a parameter whose type cannot be inferred)
  ERR_SQL_PROTOCOL_VIOLATION: '08P01', // protocol_violation (wrong number of parameters)
  // Class 54, 57: limits, cancellation
  ERR_SQL_PROGRAM_LIMIT: '54000', // program_limit_exceeded (statement text too large)
  ERR_SQL_TOO_COMPLEX: '54001', // statement_too_complex (nesting too deep)
  ERR_SQL_TOO_MANY_COLUMNS: '54011', // too_many_columns
  ERR_SQL_CANCELED: '57014', // query_canceled (AbortSignal)
  // Class XX: internal
  ERR_SQL_DATA_CORRUPTED: 'XX001', // data_corrupted (the storage layer reported an integrity error)
  ERR_SQL_INTERNAL: 'XX000', // internal_error
} as const;

/** One of the stable error codes of the SQL context. */
export type SqlErrorCode = keyof typeof SQL_ERROR_SQLSTATES;

/** A PostgreSQL SQLSTATE that CascaDB raises. */
export type SqlState = (typeof SQL_ERROR_SQLSTATES)[SqlErrorCode];

/** Optional parts of a {@link SqlError}. */
export interface SqlErrorOptions {
  /** Where in the statement text (syntax errors always have one). */
  readonly position?: SourcePos | undefined;
  /** PostgreSQL's DETAIL: more about what was found. */
  readonly detail?: string | undefined;
  /** PostgreSQL's HINT: what to do. */
  readonly hint?: string | undefined;
  readonly cause?: unknown;
}

/**
 * Error raised by the SQL context. `code` is stable, `sqlstate` is what a PostgreSQL client sees,
 * `position` says where in the statement (1-based line, column and offset).
 */
export class SqlError extends Error {
  override readonly name = 'SqlError';
  readonly code: SqlErrorCode;
  readonly sqlstate: SqlState;
  readonly position: SourcePos | undefined;
  readonly detail: string | undefined;
  readonly hint: string | undefined;

  constructor(code: SqlErrorCode, message: string, options: SqlErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.sqlstate = SQL_ERROR_SQLSTATES[code];
    this.position = options.position;
    this.detail = options.detail;
    this.hint = options.hint;
  }
}

/** True when `value` is a {@link SqlError}, optionally with the given code. */
export function isSqlError(value: unknown, code?: SqlErrorCode): value is SqlError {
  return value instanceof SqlError && (code === undefined || value.code === code);
}

/** Formats a position the way syntax errors say it: `line 2, column 14`. */
export function describePosition(pos: SourcePos): string {
  return `line ${pos.line}, column ${pos.column}`;
}

/**
 * Builds the syntax error for "expected X but found Y" at a position.
 *
 * @example
 * syntaxError(pos, "')'", "'FROM'") // syntax error at line 2, column 14: expected ')' but found 'FROM'
 */
export function syntaxError(pos: SourcePos, expected: string, found: string): SqlError {
  return new SqlError(
    'ERR_SQL_SYNTAX',
    `syntax error at ${describePosition(pos)}: expected ${expected} but found ${found}`,
    { position: pos },
  );
}

/** Builds the 0A000 error for a construct CascaDB does not support, naming it. */
export function unsupported(feature: string, pos?: SourcePos, hint?: string): SqlError {
  const where = pos === undefined ? '' : ` at ${describePosition(pos)}`;
  return new SqlError('ERR_SQL_FEATURE_NOT_SUPPORTED', `${feature} is not supported${where}`, {
    position: pos,
    hint,
  });
}
