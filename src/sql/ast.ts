/**
 * The abstract syntax tree of CascaDB's SQL dialect (a subset of PostgreSQL).
 *
 * Every node is a plain, immutable object with a string-literal `kind` tag, so that a `switch` on
 * `kind` is exhaustive, and a `pos` giving where it starts in the source text. Operators carry the
 * position of their operator token (`a + b` points at `+`), as PostgreSQL's error positions do.
 *
 * Normalisation done by the parser, so that consumers never see the variants:
 * - unquoted identifiers are folded to lower case, quoted ones (`"Name"`) keep their case;
 * - `!=` is `<>`; `x NOT BETWEEN …` is `Between` with `negated`; `NOT EXISTS` is `Unary NOT` over `Exists`;
 * - a minus sign directly before a numeric literal is folded into the literal (`-5` is `IntegerLiteral -5n`);
 * - `x::t`, `CAST(x AS t)` and typed literals (`TIMESTAMP '2024-01-01'`, `BYTEA '\x00'`) are all `Cast`;
 * - type names are canonical (`INT` is `integer`, `DECIMAL(10,2)` is `numeric`, `FLOAT8` is `double`);
 * - `COALESCE`, `NULLIF`, `GREATEST`, `LEAST` and `CURRENT_TIMESTAMP` are ordinary `FunctionCall`s
 *   with lower-case names; `count(*)` is a `FunctionCall` with `star: true` and no arguments;
 * - parentheses leave no node behind.
 *
 * Optional fields are always present on parsed nodes (set to `undefined` when absent), which keeps
 * object shapes stable; hand-built nodes may omit them.
 */

/** A place in the SQL text. All fields are 1-based; `offset` counts UTF-16 code units, like PostgreSQL's error position. */
export interface SourcePos {
  readonly line: number;
  readonly column: number;
  readonly offset: number;
}

/** Fields every node carries. */
interface Node {
  readonly pos: SourcePos;
}

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

/** Canonical names of the column types CascaDB knows. */
export type SqlTypeName =
  | 'integer'
  | 'bigint'
  | 'real'
  | 'double'
  | 'numeric'
  | 'text'
  | 'varchar'
  | 'boolean'
  | 'timestamp'
  | 'bytea';

/** A type as written in DDL or a cast: `NUMERIC(10, 2)`, `VARCHAR(20)`, `DOUBLE PRECISION`. */
export interface TypeName extends Node {
  readonly kind: 'TypeName';
  readonly name: SqlTypeName;
  /** NUMERIC precision, or VARCHAR length. */
  readonly precision?: number | undefined;
  /** NUMERIC scale (only with a precision). */
  readonly scale?: number | undefined;
}

// ---------------------------------------------------------------------------------------------
// Expressions
// ---------------------------------------------------------------------------------------------

/** An integer literal that fits in 64 bits (wider integers are `NumericLiteral`). */
export interface IntegerLiteral extends Node {
  readonly kind: 'IntegerLiteral';
  readonly value: bigint;
}

/** A numeric literal with a decimal point or an exponent, or an integer beyond 64 bits, as written (`1.50`, `-2e3`). */
export interface NumericLiteral extends Node {
  readonly kind: 'NumericLiteral';
  readonly text: string;
}

/** A string literal, escapes already resolved (`'it''s'` is `it's`). Its type is decided by context, as in PostgreSQL. */
export interface StringLiteral extends Node {
  readonly kind: 'StringLiteral';
  readonly value: string;
}

/** `TRUE` or `FALSE`. */
export interface BooleanLiteral extends Node {
  readonly kind: 'BooleanLiteral';
  readonly value: boolean;
}

/** `NULL`. */
export interface NullLiteral extends Node {
  readonly kind: 'NullLiteral';
}

/** A column reference, optionally qualified by a table name or alias (`excluded.c` in ON CONFLICT DO UPDATE). */
export interface ColumnRef extends Node {
  readonly kind: 'ColumnRef';
  readonly table?: string | undefined;
  readonly name: string;
}

/** A parameter placeholder `$n` (1-based). */
export interface Parameter extends Node {
  readonly kind: 'Parameter';
  readonly index: number;
}

/** Prefix operators. */
export type UnaryOperator = '-' | '+' | 'NOT';

/** A prefix operator application; `pos` is the operator's. */
export interface UnaryExpr extends Node {
  readonly kind: 'Unary';
  readonly op: UnaryOperator;
  readonly operand: Expr;
}

/** Infix operators (LIKE, IN, BETWEEN, IS have their own nodes). */
export type BinaryOperator =
  | 'OR'
  | 'AND'
  | '='
  | '<>'
  | '<'
  | '<='
  | '>'
  | '>='
  | '||'
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | '^';

/** An infix operator application; `pos` is the operator's. */
export interface BinaryExpr extends Node {
  readonly kind: 'Binary';
  readonly op: BinaryOperator;
  readonly left: Expr;
  readonly right: Expr;
}

/** `expr IS [NOT] NULL` (also `ISNULL`, `NOTNULL`). */
export interface IsNullExpr extends Node {
  readonly kind: 'IsNull';
  readonly expr: Expr;
  readonly negated: boolean;
}

/** `left IS [NOT] DISTINCT FROM right`: equality where NULL equals NULL. */
export interface IsDistinctFromExpr extends Node {
  readonly kind: 'IsDistinctFrom';
  readonly left: Expr;
  readonly right: Expr;
  readonly negated: boolean;
}

/** `expr IS [NOT] TRUE | FALSE | UNKNOWN`. */
export interface IsBooleanExpr extends Node {
  readonly kind: 'IsBoolean';
  readonly expr: Expr;
  readonly value: 'TRUE' | 'FALSE' | 'UNKNOWN';
  readonly negated: boolean;
}

/** `expr [NOT] BETWEEN low AND high` (inclusive). */
export interface BetweenExpr extends Node {
  readonly kind: 'Between';
  readonly expr: Expr;
  readonly low: Expr;
  readonly high: Expr;
  readonly negated: boolean;
}

/** `expr [NOT] IN (a, b, …)`. */
export interface InListExpr extends Node {
  readonly kind: 'InList';
  readonly expr: Expr;
  readonly list: readonly Expr[];
  readonly negated: boolean;
}

/** `expr [NOT] IN (SELECT …)`. */
export interface InSubqueryExpr extends Node {
  readonly kind: 'InSubquery';
  readonly expr: Expr;
  readonly query: Query;
  readonly negated: boolean;
}

/** `expr [NOT] LIKE | ILIKE pattern [ESCAPE esc]`. */
export interface LikeExpr extends Node {
  readonly kind: 'Like';
  readonly expr: Expr;
  readonly pattern: Expr;
  readonly escape?: Expr | undefined;
  readonly caseInsensitive: boolean;
  readonly negated: boolean;
}

/** One `WHEN … THEN …` arm of a CASE. */
export interface CaseWhen extends Node {
  readonly kind: 'CaseWhen';
  readonly when: Expr;
  readonly then: Expr;
}

/** `CASE [operand] WHEN … THEN … [ELSE …] END`; with an operand it is the simple form (`operand = when`). */
export interface CaseExpr extends Node {
  readonly kind: 'Case';
  readonly operand?: Expr | undefined;
  readonly whens: readonly CaseWhen[];
  readonly else?: Expr | undefined;
}

/** A function or aggregate call: `lower(x)`, `count(*)`, `count(DISTINCT x)`, `coalesce(a, b)`. */
export interface FunctionCall extends Node {
  readonly kind: 'FunctionCall';
  /** Lower-case unless quoted. */
  readonly name: string;
  readonly args: readonly Expr[];
  readonly distinct: boolean;
  /** `count(*)`: true, with `args` empty. */
  readonly star: boolean;
}

/** `CAST(expr AS type)`, `expr::type`, or a typed literal `TIMESTAMP '…'`. */
export interface CastExpr extends Node {
  readonly kind: 'Cast';
  readonly expr: Expr;
  readonly type: TypeName;
}

/** A scalar subquery `(SELECT …)`: one column, at most one row. */
export interface SubqueryExpr extends Node {
  readonly kind: 'Subquery';
  readonly query: Query;
}

/** `EXISTS (SELECT …)`. */
export interface ExistsExpr extends Node {
  readonly kind: 'Exists';
  readonly query: Query;
}

/** `DEFAULT` as a value in an INSERT … VALUES row or an UPDATE … SET. Nowhere else. */
export interface DefaultExpr extends Node {
  readonly kind: 'Default';
}

/** Any scalar expression. */
export type Expr =
  | IntegerLiteral
  | NumericLiteral
  | StringLiteral
  | BooleanLiteral
  | NullLiteral
  | ColumnRef
  | Parameter
  | UnaryExpr
  | BinaryExpr
  | IsNullExpr
  | IsDistinctFromExpr
  | IsBooleanExpr
  | BetweenExpr
  | InListExpr
  | InSubqueryExpr
  | LikeExpr
  | CaseExpr
  | FunctionCall
  | CastExpr
  | SubqueryExpr
  | ExistsExpr
  | DefaultExpr;

// ---------------------------------------------------------------------------------------------
// Queries
// ---------------------------------------------------------------------------------------------

/** `expr [AS alias]` in a select list or RETURNING. */
export interface SelectExpr extends Node {
  readonly kind: 'SelectExpr';
  readonly expr: Expr;
  readonly alias?: string | undefined;
}

/** `*` or `t.*`. */
export interface SelectStar extends Node {
  readonly kind: 'SelectStar';
  readonly table?: string | undefined;
}

/** One item of a select list or RETURNING list. */
export type SelectItem = SelectExpr | SelectStar;

/** A table in FROM: `name [[AS] alias]`. */
export interface TableName extends Node {
  readonly kind: 'TableName';
  readonly name: string;
  readonly alias?: string | undefined;
}

/** A subquery in FROM: `(SELECT …) [AS] alias [(col, …)]`; the alias is mandatory, as in PostgreSQL 15. */
export interface DerivedTable extends Node {
  readonly kind: 'DerivedTable';
  readonly query: Query;
  readonly alias: string;
  /** Renames the subquery's columns, in order. */
  readonly columnAliases?: readonly string[] | undefined;
}

/** Join kinds: `CROSS` (`CROSS JOIN`, no ON), `INNER` (`[INNER] JOIN … ON`), `LEFT` (`LEFT [OUTER] JOIN … ON`). */
export type JoinType = 'INNER' | 'LEFT' | 'CROSS';

/** `left [INNER|LEFT [OUTER]|CROSS] JOIN right [ON cond]`; `pos` is the JOIN keyword's first token. */
export interface JoinExpr extends Node {
  readonly kind: 'Join';
  readonly type: JoinType;
  readonly left: TableRef;
  readonly right: TableRef;
  /** Present for INNER and LEFT, absent for CROSS. */
  readonly on?: Expr | undefined;
}

/** Anything that can appear in FROM. Comma-separated items are separate entries of `Select.from`. */
export type TableRef = TableName | DerivedTable | JoinExpr;

/** `expr [ASC|DESC] [NULLS FIRST|LAST]`. */
export interface OrderByItem extends Node {
  readonly kind: 'OrderByItem';
  readonly expr: Expr;
  readonly direction: 'ASC' | 'DESC';
  /** Absent means PostgreSQL's default: NULLS LAST for ASC, NULLS FIRST for DESC. */
  readonly nulls?: 'FIRST' | 'LAST' | undefined;
}

/** A SELECT block. `ORDER BY 1` (an ordinal) is an `IntegerLiteral` the planner interprets. */
export interface SelectStatement extends Node {
  readonly kind: 'Select';
  readonly distinct: boolean;
  readonly columns: readonly SelectItem[];
  /** Empty for `SELECT 1`. */
  readonly from: readonly TableRef[];
  readonly where?: Expr | undefined;
  readonly groupBy: readonly Expr[];
  readonly having?: Expr | undefined;
  readonly orderBy: readonly OrderByItem[];
  readonly limit?: Expr | undefined;
  readonly offset?: Expr | undefined;
}

/** Set operators. INTERSECT binds tighter than UNION and EXCEPT, as in PostgreSQL. */
export type SetOperator = 'UNION' | 'INTERSECT' | 'EXCEPT';

/** `left UNION [ALL] right [ORDER BY …] [LIMIT …] [OFFSET …]`; ORDER BY/LIMIT apply to the whole result. */
export interface SetOperation extends Node {
  readonly kind: 'SetOperation';
  readonly op: SetOperator;
  readonly all: boolean;
  readonly left: Query;
  readonly right: Query;
  readonly orderBy: readonly OrderByItem[];
  readonly limit?: Expr | undefined;
  readonly offset?: Expr | undefined;
}

/** A query: what can appear in a subquery, INSERT … SELECT, or as a statement. */
export type Query = SelectStatement | SetOperation;

// ---------------------------------------------------------------------------------------------
// DML
// ---------------------------------------------------------------------------------------------

/** `VALUES (…), (…)` as the source of an INSERT. Rows may contain `Default`. */
export interface ValuesClause extends Node {
  readonly kind: 'Values';
  readonly rows: readonly (readonly Expr[])[];
}

/** `column = expr` in UPDATE … SET and ON CONFLICT DO UPDATE SET. */
export interface Assignment extends Node {
  readonly kind: 'Assignment';
  readonly column: string;
  /** May be `Default`. */
  readonly value: Expr;
}

/** `ON CONFLICT [(cols)] DO NOTHING`. */
export interface OnConflictDoNothing extends Node {
  readonly kind: 'DoNothing';
  /** Conflict target columns; absent means any unique constraint. */
  readonly target?: readonly string[] | undefined;
}

/** `ON CONFLICT (cols) DO UPDATE SET … [WHERE …]`; `excluded.c` names the proposed row. */
export interface OnConflictDoUpdate extends Node {
  readonly kind: 'DoUpdate';
  /** PostgreSQL requires a target for DO UPDATE; so does CascaDB's parser. */
  readonly target: readonly string[];
  readonly set: readonly Assignment[];
  readonly where?: Expr | undefined;
}

/** What INSERT does on a unique conflict. */
export type OnConflict = OnConflictDoNothing | OnConflictDoUpdate;

/** `INSERT INTO t [AS alias] [(cols)] VALUES … | SELECT … [ON CONFLICT …] [RETURNING …]`. */
export interface InsertStatement extends Node {
  readonly kind: 'Insert';
  readonly table: string;
  readonly alias?: string | undefined;
  /** Absent means all columns in table order. */
  readonly columns?: readonly string[] | undefined;
  readonly source: ValuesClause | Query;
  readonly onConflict?: OnConflict | undefined;
  readonly returning?: readonly SelectItem[] | undefined;
}

/** `UPDATE t [[AS] alias] SET … [WHERE …] [RETURNING …]`. */
export interface UpdateStatement extends Node {
  readonly kind: 'Update';
  readonly table: string;
  readonly alias?: string | undefined;
  readonly set: readonly Assignment[];
  readonly where?: Expr | undefined;
  readonly returning?: readonly SelectItem[] | undefined;
}

/** `DELETE FROM t [[AS] alias] [WHERE …] [RETURNING …]`. */
export interface DeleteStatement extends Node {
  readonly kind: 'Delete';
  readonly table: string;
  readonly alias?: string | undefined;
  readonly where?: Expr | undefined;
  readonly returning?: readonly SelectItem[] | undefined;
}

// ---------------------------------------------------------------------------------------------
// DDL
// ---------------------------------------------------------------------------------------------

/** A column definition; column constraints are flattened into flags. */
export interface ColumnDef extends Node {
  readonly kind: 'ColumnDef';
  readonly name: string;
  readonly type: TypeName;
  /** `NOT NULL` (a PRIMARY KEY column is also not null; the flag records only what was written). */
  readonly notNull: boolean;
  readonly primaryKey: boolean;
  readonly unique: boolean;
  readonly default?: Expr | undefined;
}

/** A column of a key or index, with its sort direction. */
export interface IndexColumn extends Node {
  readonly kind: 'IndexColumn';
  readonly name: string;
  readonly direction: 'ASC' | 'DESC';
}

/** `[CONSTRAINT name] PRIMARY KEY (col [ASC|DESC], …)`. */
export interface PrimaryKeyConstraint extends Node {
  readonly kind: 'PrimaryKey';
  readonly name?: string | undefined;
  readonly columns: readonly IndexColumn[];
}

/** `[CONSTRAINT name] UNIQUE (col, …)`. */
export interface UniqueConstraint extends Node {
  readonly kind: 'Unique';
  readonly name?: string | undefined;
  readonly columns: readonly IndexColumn[];
}

/** A table-level constraint. */
export type TableConstraint = PrimaryKeyConstraint | UniqueConstraint;

/** `CREATE TABLE [IF NOT EXISTS] t (columns, constraints)`. */
export interface CreateTableStatement extends Node {
  readonly kind: 'CreateTable';
  readonly name: string;
  readonly ifNotExists: boolean;
  readonly columns: readonly ColumnDef[];
  readonly constraints: readonly TableConstraint[];
}

/** `DROP TABLE [IF EXISTS] t [, …] [CASCADE|RESTRICT]` (no dependent objects exist, so both mean the same). */
export interface DropTableStatement extends Node {
  readonly kind: 'DropTable';
  readonly names: readonly string[];
  readonly ifExists: boolean;
}

/** `CREATE [UNIQUE] INDEX [IF NOT EXISTS] [name] ON t (col [ASC|DESC], …)`. */
export interface CreateIndexStatement extends Node {
  readonly kind: 'CreateIndex';
  /** Absent when omitted (`CREATE INDEX ON t (a)`): the engine chooses one, PostgreSQL-style `t_a_idx`. */
  readonly name?: string | undefined;
  readonly table: string;
  readonly unique: boolean;
  readonly ifNotExists: boolean;
  readonly columns: readonly IndexColumn[];
}

/** `DROP INDEX [IF EXISTS] name [, …]`. */
export interface DropIndexStatement extends Node {
  readonly kind: 'DropIndex';
  readonly names: readonly string[];
  readonly ifExists: boolean;
}

// ---------------------------------------------------------------------------------------------
// Transactions, EXPLAIN, session
// ---------------------------------------------------------------------------------------------

/** Isolation levels as written; the engine documents which it provides. */
export type IsolationLevel = 'SERIALIZABLE' | 'REPEATABLE READ' | 'READ COMMITTED' | 'READ UNCOMMITTED';

/** `BEGIN [TRANSACTION|WORK]` or `START TRANSACTION`, with optional modes. */
export interface BeginStatement extends Node {
  readonly kind: 'Begin';
  readonly isolation?: IsolationLevel | undefined;
  /** `READ ONLY` true, `READ WRITE` false, absent when not written. */
  readonly readOnly?: boolean | undefined;
}

/** `COMMIT` or `END` [TRANSACTION|WORK]. */
export interface CommitStatement extends Node {
  readonly kind: 'Commit';
}

/** `ROLLBACK` or `ABORT` [TRANSACTION|WORK]. */
export interface RollbackStatement extends Node {
  readonly kind: 'Rollback';
}

/** `EXPLAIN [ANALYZE] statement`. */
export interface ExplainStatement extends Node {
  readonly kind: 'Explain';
  readonly analyze: boolean;
  readonly statement: Statement;
}

/** A value of a SET: `'UTF8'`, `on`, `3`, `DEFAULT`. */
export interface SetValue extends Node {
  readonly kind: 'SetValue';
  /** `identifier` also covers keywords like `on`, `true`, `local`, lower-cased. */
  readonly type: 'string' | 'identifier' | 'number' | 'default';
  readonly text: string;
}

/** `SET [SESSION|LOCAL] name {TO|=} value [, …]` and `SET TIME ZONE value` (name `timezone`). */
export interface SetStatement extends Node {
  readonly kind: 'Set';
  readonly name: string;
  readonly local: boolean;
  readonly values: readonly SetValue[];
}

/** `SHOW name` / `SHOW ALL` (name `all`), `SHOW TIME ZONE` (name `timezone`). */
export interface ShowStatement extends Node {
  readonly kind: 'Show';
  readonly name: string;
}

/** Any statement. */
export type Statement =
  | SelectStatement
  | SetOperation
  | InsertStatement
  | UpdateStatement
  | DeleteStatement
  | CreateTableStatement
  | DropTableStatement
  | CreateIndexStatement
  | DropIndexStatement
  | BeginStatement
  | CommitStatement
  | RollbackStatement
  | ExplainStatement
  | SetStatement
  | ShowStatement;

/** Every `kind` tag of an expression. */
export type ExprKind = Expr['kind'];

/** Every `kind` tag of a statement. */
export type StatementKind = Statement['kind'];
