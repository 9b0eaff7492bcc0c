/**
 * Keyword classes, after PostgreSQL 15's `kwlist.h`. Words are lower-case.
 *
 * A reserved word can never be a bare column or table name or alias; a type/function-name word
 * (`left`, `join`, `like`, …) can be a function name but not a column, table or alias. Every other
 * word is an ordinary identifier wherever the grammar does not expect that keyword.
 */
export const RESERVED_KEYWORDS: ReadonlySet<string> = new Set([
  'all',
  'analyse',
  'analyze',
  'and',
  'any',
  'array',
  'as',
  'asc',
  'asymmetric',
  'both',
  'case',
  'cast',
  'check',
  'collate',
  'column',
  'constraint',
  'create',
  'current_catalog',
  'current_date',
  'current_role',
  'current_time',
  'current_timestamp',
  'current_user',
  'default',
  'deferrable',
  'desc',
  'distinct',
  'do',
  'else',
  'end',
  'except',
  'false',
  'fetch',
  'for',
  'foreign',
  'from',
  'grant',
  'group',
  'having',
  'in',
  'initially',
  'intersect',
  'into',
  'lateral',
  'leading',
  'limit',
  'localtime',
  'localtimestamp',
  'not',
  'null',
  'offset',
  'on',
  'only',
  'or',
  'order',
  'placing',
  'primary',
  'references',
  'returning',
  'select',
  'session_user',
  'some',
  'symmetric',
  'table',
  'then',
  'to',
  'trailing',
  'true',
  'union',
  'unique',
  'user',
  'using',
  'variadic',
  'when',
  'where',
  'window',
  'with',
]);

/** Words that may name a function or type but not a column, table or alias. */
export const TYPE_FUNC_NAME_KEYWORDS: ReadonlySet<string> = new Set([
  'authorization',
  'binary',
  'collation',
  'concurrently',
  'cross',
  'current_schema',
  'freeze',
  'full',
  'ilike',
  'inner',
  'is',
  'isnull',
  'join',
  'left',
  'like',
  'natural',
  'notnull',
  'outer',
  'overlaps',
  'right',
  'similar',
  'tablesample',
  'verbose',
]);

/**
 * Words with special expression syntax in CascaDB (`CASE`, `EXISTS (…)`, `TIMESTAMP '…'`…). They can
 * still be column names where unambiguous, but the formatter quotes them to be safe.
 */
const SPECIAL_EXPRESSION_WORDS: ReadonlySet<string> = new Set([
  'between',
  'exists',
  'extract',
  'interval',
  'position',
  'substring',
  'timestamp',
  'bytea',
  'boolean',
  'bool',
  'integer',
  'int',
  'int4',
  'int8',
  'bigint',
  'smallint',
  'real',
  'float',
  'float4',
  'float8',
  'double',
  'numeric',
  'decimal',
  'text',
  'varchar',
  'char',
  'character',
  'escape',
  'nulls',
  'over',
  'filter',
  'set',
  'values',
  'precision',
  'within',
]);

/** Words the formatter quotes when they name a function, because the parser reads them specially. */
const SPECIAL_FUNCTION_WORDS: ReadonlySet<string> = new Set(['exists', 'interval', 'row', 'not']);

/** True when `word` (lower-case) cannot be a bare column, table or alias name. */
export function isReservedName(word: string): boolean {
  return RESERVED_KEYWORDS.has(word) || TYPE_FUNC_NAME_KEYWORDS.has(word);
}

/** True when an identifier must be double-quoted to be read back as the same name. */
export function needsQuoting(name: string): boolean {
  return (
    !/^[a-z_][a-z0-9_$]*$/.test(name) ||
    RESERVED_KEYWORDS.has(name) ||
    TYPE_FUNC_NAME_KEYWORDS.has(name) ||
    SPECIAL_EXPRESSION_WORDS.has(name)
  );
}

/** An identifier as SQL text: bare when safe, otherwise double-quoted with `"` doubled. */
export function quoteIdentifier(name: string): string {
  return needsQuoting(name) ? `"${name.replaceAll('"', '""')}"` : name;
}

/** A function name as SQL text: quoted only when the parser would not read it back as a call of that name. */
export function quoteFunctionName(name: string): string {
  const plain =
    /^[a-z_][a-z0-9_$]*$/.test(name) && !RESERVED_KEYWORDS.has(name) && !SPECIAL_FUNCTION_WORDS.has(name);
  return plain ? name : `"${name.replaceAll('"', '""')}"`;
}

/** SQL value functions: written and printed without parentheses (`CURRENT_TIMESTAMP`). */
export const VALUE_FUNCTIONS: ReadonlySet<string> = new Set([
  'current_timestamp',
  'current_date',
  'current_time',
  'localtime',
  'localtimestamp',
  'current_user',
  'session_user',
  'current_role',
  'current_catalog',
  'current_schema',
  'user',
]);
