import type {
  Assignment,
  Expr,
  OnConflict,
  OrderByItem,
  Query,
  SelectItem,
  SelectStatement,
  SetOperation,
  Statement,
  TableRef,
  TypeName,
} from './ast.ts';
import { PREC } from './expression-parser.ts';
import { quoteFunctionName, quoteIdentifier, VALUE_FUNCTIONS } from './keywords.ts';

const BINARY_PREC: Readonly<Record<string, number>> = {
  OR: PREC.OR,
  AND: PREC.AND,
  '=': PREC.COMPARE,
  '<>': PREC.COMPARE,
  '<': PREC.COMPARE,
  '<=': PREC.COMPARE,
  '>': PREC.COMPARE,
  '>=': PREC.COMPARE,
  '||': PREC.OTHER,
  '+': PREC.ADD,
  '-': PREC.ADD,
  '*': PREC.MUL,
  '/': PREC.MUL,
  '%': PREC.MUL,
  '^': PREC.EXP,
};

const SET_OP_PREC: Readonly<Record<string, number>> = { UNION: 1, EXCEPT: 1, INTERSECT: 2 };

/** How tightly an expression binds when printed: operands looser than their context get parentheses. */
function precedenceOf(expr: Expr): number {
  switch (expr.kind) {
    case 'Binary':
      return BINARY_PREC[expr.op]!;
    case 'Unary':
      return expr.op === 'NOT' ? PREC.NOT : PREC.UNARY;
    case 'IsNull':
    case 'IsBoolean':
    case 'IsDistinctFrom':
      return PREC.IS;
    case 'Between':
    case 'InList':
    case 'InSubquery':
    case 'Like':
      return PREC.LIKE;
    case 'IntegerLiteral':
      return expr.value < 0n ? PREC.UNARY : PREC.PRIMARY;
    case 'NumericLiteral':
      return expr.text.startsWith('-') ? PREC.UNARY : PREC.PRIMARY;
    default:
      return PREC.PRIMARY;
  }
}

/** Prints `expr`, in parentheses when it binds more loosely than `min`. */
function operand(expr: Expr, min: number): string {
  const text = formatExpr(expr);
  return precedenceOf(expr) < min ? `(${text})` : text;
}

/** SQL text of a type: `INTEGER`, `NUMERIC(10, 2)`, `VARCHAR(20)`, `DOUBLE PRECISION`. */
export function formatType(type: TypeName): string {
  switch (type.name) {
    case 'double':
      return 'DOUBLE PRECISION';
    case 'numeric':
      if (type.precision === undefined) return 'NUMERIC';
      return type.scale === undefined
        ? `NUMERIC(${type.precision})`
        : `NUMERIC(${type.precision}, ${type.scale})`;
    case 'varchar':
      return type.precision === undefined ? 'VARCHAR' : `VARCHAR(${type.precision})`;
    default:
      return type.name.toUpperCase();
  }
}

/** A string literal: `'it''s'`. */
export function quoteString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * Deterministic SQL text for an expression, with the fewest parentheses that keep its meaning:
 * parsing the result gives back the same tree (positions aside).
 *
 * @example
 * formatExpr(parseExpression('(a+b)*c')) // '(a + b) * c'
 */
export function formatExpr(expr: Expr): string {
  switch (expr.kind) {
    case 'IntegerLiteral':
      return String(expr.value);
    case 'NumericLiteral':
      return expr.text;
    case 'StringLiteral':
      return quoteString(expr.value);
    case 'BooleanLiteral':
      return expr.value ? 'TRUE' : 'FALSE';
    case 'NullLiteral':
      return 'NULL';
    case 'Default':
      return 'DEFAULT';
    case 'ColumnRef':
      return expr.table === undefined
        ? quoteIdentifier(expr.name)
        : `${quoteIdentifier(expr.table)}.${quoteIdentifier(expr.name)}`;
    case 'Parameter':
      return `$${expr.index}`;
    case 'Unary':
      if (expr.op === 'NOT') return `NOT ${operand(expr.operand, PREC.IS)}`;
      return `${expr.op}${operand(expr.operand, PREC.CAST)}`;
    case 'Binary': {
      const prec = BINARY_PREC[expr.op]!;
      return `${operand(expr.left, prec)} ${expr.op} ${operand(expr.right, prec + 1)}`;
    }
    default:
      return formatPredicate(expr);
  }
}

function formatPredicate(expr: Expr): string {
  const not = (negated: boolean): string => (negated ? 'NOT ' : '');
  switch (expr.kind) {
    case 'IsNull':
      return `${operand(expr.expr, PREC.IS)} IS ${not(expr.negated)}NULL`;
    case 'IsBoolean':
      return `${operand(expr.expr, PREC.IS)} IS ${not(expr.negated)}${expr.value}`;
    case 'IsDistinctFrom':
      return `${operand(expr.left, PREC.IS)} IS ${not(expr.negated)}DISTINCT FROM ${operand(expr.right, PREC.COMPARE)}`;
    case 'Between':
      return `${operand(expr.expr, PREC.LIKE)} ${not(expr.negated)}BETWEEN ${operand(expr.low, PREC.OTHER)} AND ${operand(expr.high, PREC.OTHER)}`;
    case 'InList':
      return `${operand(expr.expr, PREC.LIKE)} ${not(expr.negated)}IN (${expr.list.map(formatExpr).join(', ')})`;
    case 'InSubquery':
      return `${operand(expr.expr, PREC.LIKE)} ${not(expr.negated)}IN (${formatQuery(expr.query)})`;
    case 'Like': {
      const op = expr.caseInsensitive ? 'ILIKE' : 'LIKE';
      const escapeClause = expr.escape === undefined ? '' : ` ESCAPE ${operand(expr.escape, PREC.OTHER)}`;
      return `${operand(expr.expr, PREC.LIKE)} ${not(expr.negated)}${op} ${operand(expr.pattern, PREC.OTHER)}${escapeClause}`;
    }
    default:
      return formatCompound(expr);
  }
}

function formatCompound(expr: Expr): string {
  switch (expr.kind) {
    case 'Case': {
      const parts = ['CASE'];
      if (expr.operand !== undefined) parts.push(formatExpr(expr.operand));
      for (const w of expr.whens) parts.push(`WHEN ${formatExpr(w.when)} THEN ${formatExpr(w.then)}`);
      if (expr.else !== undefined) parts.push(`ELSE ${formatExpr(expr.else)}`);
      parts.push('END');
      return parts.join(' ');
    }
    case 'FunctionCall': {
      if (VALUE_FUNCTIONS.has(expr.name) && expr.args.length === 0 && !expr.star)
        return expr.name.toUpperCase();
      const args = expr.star
        ? '*'
        : `${expr.distinct ? 'DISTINCT ' : ''}${expr.args.map(formatExpr).join(', ')}`;
      return `${quoteFunctionName(expr.name)}(${args})`;
    }
    case 'Cast':
      return `CAST(${formatExpr(expr.expr)} AS ${formatType(expr.type)})`;
    case 'Subquery':
      return `(${formatQuery(expr.query)})`;
    case 'Exists':
      return `EXISTS (${formatQuery(expr.query)})`;
    default:
      throw new TypeError(`formatExpr: unknown expression kind ${(expr as { kind: string }).kind}`);
  }
}

function formatItems(items: readonly SelectItem[]): string {
  return items
    .map((item) => {
      if (item.kind === 'SelectStar')
        return item.table === undefined ? '*' : `${quoteIdentifier(item.table)}.*`;
      return item.alias === undefined
        ? formatExpr(item.expr)
        : `${formatExpr(item.expr)} AS ${quoteIdentifier(item.alias)}`;
    })
    .join(', ');
}

function formatOrderBy(items: readonly OrderByItem[]): string {
  return items
    .map((o) => {
      const nulls = o.nulls === undefined ? '' : ` NULLS ${o.nulls}`;
      return `${formatExpr(o.expr)}${o.direction === 'DESC' ? ' DESC' : ''}${nulls}`;
    })
    .join(', ');
}

function formatTail(q: Query): string {
  let text = '';
  if (q.orderBy.length > 0) text += ` ORDER BY ${formatOrderBy(q.orderBy)}`;
  if (q.limit !== undefined) text += ` LIMIT ${formatExpr(q.limit)}`;
  if (q.offset !== undefined) text += ` OFFSET ${formatExpr(q.offset)}`;
  return text;
}

function formatTableRef(ref: TableRef): string {
  switch (ref.kind) {
    case 'TableName':
      return ref.alias === undefined
        ? quoteIdentifier(ref.name)
        : `${quoteIdentifier(ref.name)} AS ${quoteIdentifier(ref.alias)}`;
    case 'DerivedTable': {
      const cols =
        ref.columnAliases === undefined ? '' : `(${ref.columnAliases.map(quoteIdentifier).join(', ')})`;
      return `(${formatQuery(ref.query)}) AS ${quoteIdentifier(ref.alias)}${cols}`;
    }
    case 'Join': {
      const right = ref.right.kind === 'Join' ? `(${formatTableRef(ref.right)})` : formatTableRef(ref.right);
      const join = ref.type === 'INNER' ? 'JOIN' : `${ref.type} JOIN`;
      const on = ref.on === undefined ? '' : ` ON ${formatExpr(ref.on)}`;
      return `${formatTableRef(ref.left)} ${join} ${right}${on}`;
    }
  }
}

function formatSelect(s: SelectStatement): string {
  let text = `SELECT ${s.distinct ? 'DISTINCT ' : ''}${formatItems(s.columns)}`;
  if (s.from.length > 0) text += ` FROM ${s.from.map(formatTableRef).join(', ')}`;
  if (s.where !== undefined) text += ` WHERE ${formatExpr(s.where)}`;
  if (s.groupBy.length > 0) text += ` GROUP BY ${s.groupBy.map(formatExpr).join(', ')}`;
  if (s.having !== undefined) text += ` HAVING ${formatExpr(s.having)}`;
  return text + formatTail(s);
}

function hasTail(q: Query): boolean {
  return q.orderBy.length > 0 || q.limit !== undefined || q.offset !== undefined;
}

/** An operand of a set operation, parenthesised when it has its own tail or binds too loosely. */
function setOperand(q: Query, parent: SetOperation, right: boolean): string {
  const text = formatQuery(q);
  if (hasTail(q)) return `(${text})`;
  if (q.kind !== 'SetOperation') return text;
  const inner = SET_OP_PREC[q.op]!;
  const outer = SET_OP_PREC[parent.op]!;
  return inner < outer || (right && inner === outer) ? `(${text})` : text;
}

/** SQL text of a query (SELECT or set operation). */
export function formatQuery(q: Query): string {
  if (q.kind === 'Select') return formatSelect(q);
  const op = `${q.op}${q.all ? ' ALL' : ''}`;
  return `${setOperand(q.left, q, false)} ${op} ${setOperand(q.right, q, true)}${formatTail(q)}`;
}

function formatAssignments(set: readonly Assignment[]): string {
  return set.map((a) => `${quoteIdentifier(a.column)} = ${formatExpr(a.value)}`).join(', ');
}

function formatOnConflict(c: OnConflict): string {
  const target = c.target === undefined ? '' : ` (${c.target.map(quoteIdentifier).join(', ')})`;
  if (c.kind === 'DoNothing') return ` ON CONFLICT${target} DO NOTHING`;
  const where = c.where === undefined ? '' : ` WHERE ${formatExpr(c.where)}`;
  return ` ON CONFLICT${target} DO UPDATE SET ${formatAssignments(c.set)}${where}`;
}

function returning(items: readonly SelectItem[] | undefined): string {
  return items === undefined ? '' : ` RETURNING ${formatItems(items)}`;
}

function alias(name: string | undefined): string {
  return name === undefined ? '' : ` AS ${quoteIdentifier(name)}`;
}

function where(expr: Expr | undefined): string {
  return expr === undefined ? '' : ` WHERE ${formatExpr(expr)}`;
}

function formatDml(s: Statement): string | undefined {
  switch (s.kind) {
    case 'Insert': {
      const cols = s.columns === undefined ? '' : ` (${s.columns.map(quoteIdentifier).join(', ')})`;
      const source =
        s.source.kind === 'Values'
          ? `VALUES ${s.source.rows.map((r) => `(${r.map(formatExpr).join(', ')})`).join(', ')}`
          : formatQuery(s.source);
      const conflict = s.onConflict === undefined ? '' : formatOnConflict(s.onConflict);
      return `INSERT INTO ${quoteIdentifier(s.table)}${alias(s.alias)}${cols} ${source}${conflict}${returning(s.returning)}`;
    }
    case 'Update':
      return `UPDATE ${quoteIdentifier(s.table)}${alias(s.alias)} SET ${formatAssignments(s.set)}${where(s.where)}${returning(s.returning)}`;
    case 'Delete':
      return `DELETE FROM ${quoteIdentifier(s.table)}${alias(s.alias)}${where(s.where)}${returning(s.returning)}`;
    default:
      return undefined;
  }
}

/**
 * Deterministic SQL text for a statement: keywords upper-case, identifiers quoted only when needed.
 * `parseStatement(formatStatement(s))` gives back `s` (positions aside).
 */
export function formatStatement(s: Statement): string {
  switch (s.kind) {
    case 'Select':
    case 'SetOperation':
      return formatQuery(s);
    case 'Begin': {
      const modes: string[] = [];
      if (s.isolation !== undefined) modes.push(`ISOLATION LEVEL ${s.isolation}`);
      if (s.readOnly !== undefined) modes.push(s.readOnly ? 'READ ONLY' : 'READ WRITE');
      return modes.length === 0 ? 'BEGIN' : `BEGIN ${modes.join(', ')}`;
    }
    case 'Commit':
      return 'COMMIT';
    case 'Rollback':
      return 'ROLLBACK';
    case 'Explain':
      return `EXPLAIN ${s.analyze ? 'ANALYZE ' : ''}${formatStatement(s.statement)}`;
    default:
      return formatDml(s) ?? formatDdl(s);
  }
}

function formatDdl(s: Statement): string {
  switch (s.kind) {
    case 'CreateTable':
      return formatCreateTable(s);
    case 'DropTable':
      return `DROP TABLE ${s.ifExists ? 'IF EXISTS ' : ''}${s.names.map(quoteIdentifier).join(', ')}`;
    case 'CreateIndex': {
      const name =
        s.name === undefined ? '' : `${s.ifNotExists ? 'IF NOT EXISTS ' : ''}${quoteIdentifier(s.name)} `;
      return `CREATE ${s.unique ? 'UNIQUE ' : ''}INDEX ${name}ON ${quoteIdentifier(s.table)} ${formatIndexColumns(s.columns)}`;
    }
    case 'DropIndex':
      return `DROP INDEX ${s.ifExists ? 'IF EXISTS ' : ''}${s.names.map(quoteIdentifier).join(', ')}`;
    case 'Set': {
      const values = s.values.map((v) => {
        if (v.type === 'string') return quoteString(v.text);
        if (v.type === 'default') return 'DEFAULT';
        return v.type === 'number' ? v.text : quoteIdentifier(v.text);
      });
      const name = s.name.split('.').map(quoteIdentifier).join('.');
      return `SET ${s.local ? 'LOCAL ' : ''}${name} TO ${values.join(', ')}`;
    }
    case 'Show':
      return s.name === 'all' ? 'SHOW ALL' : `SHOW ${s.name.split('.').map(quoteIdentifier).join('.')}`;
    default:
      throw new TypeError(`formatStatement: unknown statement kind ${s.kind}`);
  }
}

function formatIndexColumns(columns: readonly { name: string; direction: 'ASC' | 'DESC' }[]): string {
  return `(${columns.map((c) => `${quoteIdentifier(c.name)}${c.direction === 'DESC' ? ' DESC' : ''}`).join(', ')})`;
}

function formatCreateTable(s: Extract<Statement, { kind: 'CreateTable' }>): string {
  const parts = s.columns.map((c) => {
    let text = `${quoteIdentifier(c.name)} ${formatType(c.type)}`;
    if (c.primaryKey) text += ' PRIMARY KEY';
    if (c.notNull) text += ' NOT NULL';
    if (c.unique) text += ' UNIQUE';
    if (c.default !== undefined) text += ` DEFAULT ${operand(c.default, PREC.COMPARE + 1)}`;
    return text;
  });
  for (const k of s.constraints) {
    const name = k.name === undefined ? '' : `CONSTRAINT ${quoteIdentifier(k.name)} `;
    parts.push(
      `${name}${k.kind === 'PrimaryKey' ? 'PRIMARY KEY' : 'UNIQUE'} ${formatIndexColumns(k.columns)}`,
    );
  }
  return `CREATE TABLE ${s.ifNotExists ? 'IF NOT EXISTS ' : ''}${quoteIdentifier(s.name)} (${parts.join(', ')})`;
}
