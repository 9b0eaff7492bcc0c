import type { BinaryOperator, CaseWhen, Expr, FunctionCall, Query, SourcePos } from './ast.ts';
import { isSqlError } from './errors.ts';
import { RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS, VALUE_FUNCTIONS } from './keywords.ts';
import type { Token } from './lexer.ts';
import { TYPE_START_WORDS, TypeParser } from './type-parser.ts';

/**
 * Binding strengths, loosest first, as in PostgreSQL 15: OR, AND, NOT, IS, comparison,
 * BETWEEN/IN/LIKE, other operators (`||`), `+ -`, `* / %`, `^`, unary `+ -`, `::`.
 */
export const PREC = {
  OR: 1,
  AND: 2,
  NOT: 3,
  IS: 4,
  COMPARE: 5,
  LIKE: 6,
  OTHER: 7,
  ADD: 8,
  MUL: 9,
  EXP: 10,
  UNARY: 11,
  CAST: 12,
  PRIMARY: 13,
} as const;

const BINARY_OPS: Readonly<Record<string, readonly [BinaryOperator, number]>> = {
  '=': ['=', PREC.COMPARE],
  '<>': ['<>', PREC.COMPARE],
  '!=': ['<>', PREC.COMPARE],
  '<': ['<', PREC.COMPARE],
  '<=': ['<=', PREC.COMPARE],
  '>': ['>', PREC.COMPARE],
  '>=': ['>=', PREC.COMPARE],
  '||': ['||', PREC.OTHER],
  '+': ['+', PREC.ADD],
  '-': ['-', PREC.ADD],
  '*': ['*', PREC.MUL],
  '/': ['/', PREC.MUL],
  '%': ['%', PREC.MUL],
  '^': ['^', PREC.EXP],
};

/** Operators PostgreSQL has (regex, JSON, bit, geometric…) that CascaDB refuses by name. */
const OTHER_OPS = new Set(['~', '!~', '~~', '@>', '<@', '&', '|', '#', '<<', '>>', '->', '?', '@', '!', '`']);

const MIN_INT64 = -(2n ** 63n);
const MAX_INT64 = 2n ** 63n - 1n;

/** Recursive-descent expression parser with precedence climbing. */
export abstract class ExpressionParser extends TypeParser {
  /** Parses a query (SELECT, set operation); implemented by the query parser. */
  protected abstract parseQuery(): Query;

  /** True when the tokens at `k` start a query: SELECT/WITH/VALUES, possibly after opening parentheses. */
  protected startsQuery(k = 0): boolean {
    let j = k;
    while (this.isOp('(', j)) j++;
    return this.isWord('select', j) || this.isWord('with', j) || this.isWord('values', j);
  }

  /** Parses an expression whose operators all bind at least as tightly as `minPrec`. */
  protected parseExpr(minPrec = 0): Expr {
    this.enter(this.peek().pos);
    let left = this.#prefix();
    for (;;) {
      const prec = this.#infixPrecedence();
      if (prec === 0 || prec < minPrec) break;
      left = this.#infix(left, prec);
      this.chainLinks++;
    }
    this.leave();
    return left;
  }

  /** Precedence of the operator at the cursor, or 0 when the expression ends here. */
  #infixPrecedence(): number {
    const tok = this.peek();
    if (tok.type === 'op') {
      const bin = BINARY_OPS[tok.value];
      if (bin !== undefined) return bin[1];
      if (tok.value === '::') return PREC.CAST;
      if (tok.value === '[' || OTHER_OPS.has(tok.value)) return PREC.OTHER;
      return 0;
    }
    if (tok.type !== 'word') return 0;
    switch (tok.value) {
      case 'or':
        return PREC.OR;
      case 'and':
        return PREC.AND;
      case 'is':
      case 'isnull':
      case 'notnull':
        return PREC.IS;
      case 'between':
      case 'in':
      case 'like':
      case 'ilike':
      case 'similar':
        return PREC.LIKE;
      case 'not': {
        const next = this.peek(1);
        const negatable = ['between', 'in', 'like', 'ilike', 'similar'];
        return next.type === 'word' && negatable.includes(next.value) ? PREC.LIKE : 0;
      }
      case 'collate':
        return PREC.CAST;
      case 'at':
        return this.isWord('time', 1) ? PREC.CAST : 0;
      default:
        return 0;
    }
  }

  #infix(left: Expr, prec: number): Expr {
    const tok = this.next();
    const pos = tok.pos;
    if (tok.type === 'op') {
      const bin = BINARY_OPS[tok.value];
      if (bin !== undefined) {
        if (prec === PREC.COMPARE && (this.isWord('any') || this.isWord('all') || this.isWord('some'))) {
          throw this.unsupported(`${this.peek().value.toUpperCase()} (subquery or array comparison)`);
        }
        const right = this.parseExpr(prec + 1);
        return { kind: 'Binary', pos, op: bin[0], left, right };
      }
      if (tok.value === '::') return { kind: 'Cast', pos, expr: left, type: this.parseType() };
      if (tok.value === '[') throw this.unsupported('array subscripts', tok);
      throw this.unsupported(`operator ${tok.value}`, tok);
    }
    switch (tok.value) {
      case 'or':
        return { kind: 'Binary', pos, op: 'OR', left, right: this.parseExpr(PREC.AND) };
      case 'and':
        return { kind: 'Binary', pos, op: 'AND', left, right: this.parseExpr(PREC.NOT) };
      case 'isnull':
        return { kind: 'IsNull', pos, expr: left, negated: false };
      case 'notnull':
        return { kind: 'IsNull', pos, expr: left, negated: true };
      case 'is':
        return this.#is(left, pos);
      case 'collate':
        throw this.unsupported('COLLATE', tok);
      case 'at':
        throw this.unsupported('AT TIME ZONE', tok);
      case 'not':
        return this.#negatable(left, pos, true);
      default:
        this.index--;
        return this.#negatable(left, pos, false);
    }
  }

  #is(left: Expr, pos: SourcePos): Expr {
    const negated = this.acceptWord('not');
    if (this.acceptWord('null')) return { kind: 'IsNull', pos, expr: left, negated };
    if (this.acceptWord('true')) return { kind: 'IsBoolean', pos, expr: left, value: 'TRUE', negated };
    if (this.acceptWord('false')) return { kind: 'IsBoolean', pos, expr: left, value: 'FALSE', negated };
    if (this.acceptWord('unknown')) return { kind: 'IsBoolean', pos, expr: left, value: 'UNKNOWN', negated };
    if (this.acceptWord('distinct')) {
      this.expectWord('from');
      const right = this.parseExpr(PREC.COMPARE);
      return { kind: 'IsDistinctFrom', pos, left, right, negated };
    }
    throw this.error('NULL, TRUE, FALSE, UNKNOWN or DISTINCT FROM after IS');
  }

  /** `[NOT] BETWEEN | IN | LIKE | ILIKE`, the `NOT` already consumed when `negated`. */
  #negatable(left: Expr, pos: SourcePos, negated: boolean): Expr {
    const tok = this.next();
    switch (tok.value) {
      case 'between': {
        if (this.isWord('symmetric') || this.isWord('asymmetric'))
          throw this.unsupported('BETWEEN SYMMETRIC');
        const low = this.parseExpr(PREC.OTHER);
        this.expectWord('and');
        const high = this.parseExpr(PREC.OTHER);
        return { kind: 'Between', pos, expr: left, low, high, negated };
      }
      case 'in':
        return this.#in(left, pos, negated);
      case 'like':
      case 'ilike': {
        const pattern = this.parseExpr(PREC.OTHER);
        const escapeChar = this.acceptWord('escape') ? this.parseExpr(PREC.OTHER) : undefined;
        return {
          kind: 'Like',
          pos,
          expr: left,
          pattern,
          escape: escapeChar,
          caseInsensitive: tok.value === 'ilike',
          negated,
        };
      }
      default:
        throw this.unsupported('SIMILAR TO', tok, 'use LIKE');
    }
  }

  #in(left: Expr, pos: SourcePos, negated: boolean): Expr {
    this.expectOp('(');
    const query = this.parenthesisedQuery();
    if (query !== undefined) return { kind: 'InSubquery', pos, expr: left, query, negated };
    const list = [this.parseExpr()];
    while (this.acceptOp(',')) list.push(this.parseExpr());
    this.expectOp(')');
    return { kind: 'InList', pos, expr: left, list, negated };
  }

  /** Prefix operators (NOT, unary + and -), then a primary with its `::` casts. */
  #prefix(): Expr {
    const tok = this.peek();
    if (tok.type === 'word' && tok.value === 'not') {
      this.index++;
      return { kind: 'Unary', pos: tok.pos, op: 'NOT', operand: this.parseExpr(PREC.IS) };
    }
    if (tok.type === 'op' && (tok.value === '-' || tok.value === '+')) {
      this.index++;
      const operand = this.parseExpr(PREC.CAST);
      if (tok.value === '+') return { kind: 'Unary', pos: tok.pos, op: '+', operand };
      return negate(operand, tok.pos);
    }
    return this.#primary();
  }

  #primary(): Expr {
    const tok = this.peek();
    const pos = tok.pos;
    switch (tok.type) {
      case 'integer':
        this.index++;
        return integerLiteral(tok.value, pos);
      case 'numeric':
        this.index++;
        return { kind: 'NumericLiteral', pos, text: tok.value };
      case 'string':
        this.index++;
        return { kind: 'StringLiteral', pos, value: tok.value };
      case 'param':
        this.index++;
        return { kind: 'Parameter', pos, index: Number(tok.value) };
      case 'qident':
        this.index++;
        return this.#nameExpr(tok);
      case 'word':
        return this.#wordExpr(tok);
      case 'op':
        if (tok.value === '(') return this.#parenthesised(tok);
        throw this.error('an expression');
      default:
        throw this.error('an expression');
    }
  }

  /**
   * After a consumed '(': a query closed by ')' when the tokens are one, else undefined with the
   * cursor where it was. `((SELECT 1) + 1)` starts like a query but is an expression: that case
   * backtracks, within the statement's budget.
   */
  protected parenthesisedQuery(): Query | undefined {
    if (this.isWord('select') || this.isWord('with') || this.isWord('values')) {
      const query = this.parseQuery();
      this.expectOp(')');
      return query;
    }
    if (!this.startsQuery()) return undefined;
    const start = this.index;
    const depth = this.depth;
    try {
      const query = this.parseQuery();
      if (this.acceptOp(')')) return query;
    } catch (err) {
      if (!isSqlError(err, 'ERR_SQL_SYNTAX')) throw err;
    }
    this.countBacktrack(this.tokens[start]!.pos);
    this.index = start;
    this.depth = depth;
    return undefined;
  }

  #parenthesised(open: Token): Expr {
    this.index++;
    const query = this.parenthesisedQuery();
    if (query !== undefined) return { kind: 'Subquery', pos: open.pos, query };
    const inner = this.parseExpr();
    if (this.isOp(',')) throw this.unsupported('row constructors', open);
    this.expectOp(')');
    return inner;
  }

  #wordExpr(tok: Token): Expr {
    const pos = tok.pos;
    const word = tok.value;
    switch (word) {
      case 'null':
        this.index++;
        return { kind: 'NullLiteral', pos };
      case 'true':
      case 'false':
        this.index++;
        return { kind: 'BooleanLiteral', pos, value: word === 'true' };
      case 'case':
        return this.#case(tok);
      case 'cast':
        return this.#cast(tok);
      case 'exists':
        if (!this.isOp('(', 1)) break;
        this.index += 2;
        return this.#exists(tok);
      case 'default':
        throw this.error('an expression (DEFAULT is allowed only as a whole value in VALUES or SET)');
      case 'interval':
        if (this.peek(1).type === 'string') throw this.unsupported('INTERVAL', tok);
        break;
      case 'array':
      case 'row':
        if (this.isOp('(', 1) || this.isOp('[', 1))
          throw this.unsupported(word === 'row' ? 'row constructors' : 'arrays', tok);
        break;
    }
    if (VALUE_FUNCTIONS.has(word)) {
      this.index++;
      return { kind: 'FunctionCall', pos, name: word, args: [], distinct: false, star: false };
    }
    if (TYPE_START_WORDS.has(word) && this.#atTypedLiteral()) {
      const type = this.parseType();
      const lit = this.next();
      return { kind: 'Cast', pos, expr: { kind: 'StringLiteral', pos: lit.pos, value: lit.value }, type };
    }
    const isFunction = this.isOp('(', 1);
    if (RESERVED_KEYWORDS.has(word) || (TYPE_FUNC_NAME_KEYWORDS.has(word) && !isFunction)) {
      throw this.error('an expression');
    }
    this.index++;
    return this.#nameExpr(tok);
  }

  /** At a type name followed by a string (`TIMESTAMP '…'`, `DOUBLE PRECISION '1'`). */
  #atTypedLiteral(): boolean {
    if (this.peek(1).type === 'string') return true;
    if (this.isWord('double') && this.isWord('precision', 1)) return this.peek(2).type === 'string';
    if (this.isWord('timestamp') && this.isWord('without', 1)) return this.peek(4).type === 'string';
    return this.isWord('timestamp') && this.isWord('with', 1);
  }

  /** An identifier already consumed: a function call, a column, or `table.column`. */
  #nameExpr(tok: Token): Expr {
    if (this.isOp('(')) return this.#functionCall(tok);
    if (!this.acceptOp('.')) return { kind: 'ColumnRef', pos: tok.pos, table: undefined, name: tok.value };
    const col = this.peek();
    if (col.type !== 'word' && col.type !== 'qident') {
      if (col.type === 'op' && col.value === '*')
        throw this.unsupported('table.* outside a select list', col);
      throw this.error('a column name after "."');
    }
    this.index++;
    if (this.isOp('.') || this.isOp('(')) throw this.unsupported('schema-qualified names', this.peek());
    return { kind: 'ColumnRef', pos: tok.pos, table: tok.value, name: col.value };
  }

  #functionCall(nameTok: Token): FunctionCall {
    const pos = nameTok.pos;
    const name = nameTok.value;
    this.enter(pos);
    this.expectOp('(');
    const special = nameTok.type === 'word' ? this.#specialCall(name, pos) : undefined;
    if (special !== undefined) {
      this.leave();
      return special;
    }
    let star = false;
    let distinct = false;
    const args: Expr[] = [];
    if (this.acceptOp('*')) {
      star = true;
    } else if (!this.isOp(')')) {
      distinct = this.acceptWord('distinct');
      if (!distinct) this.acceptWord('all');
      args.push(this.parseExpr());
      while (this.acceptOp(',')) args.push(this.parseExpr());
      if (this.isWord('order')) throw this.unsupported('ORDER BY inside an aggregate call');
    }
    this.expectOp(')');
    this.#refuseWindowSyntax();
    this.leave();
    return { kind: 'FunctionCall', pos, name, args, distinct, star };
  }

  #refuseWindowSyntax(): void {
    if (this.isWord('over')) throw this.unsupported('window functions (OVER)');
    if (this.isWord('filter') && this.isOp('(', 1)) throw this.unsupported('aggregate FILTER clauses');
    if (this.isWord('within') && this.isWord('group', 1)) throw this.unsupported('WITHIN GROUP');
  }

  /** `EXTRACT(field FROM x)`, `SUBSTRING(x FROM a [FOR b])`, `POSITION(a IN b)`, after the '('; undefined for the plain call form. */
  #specialCall(name: string, pos: SourcePos): FunctionCall | undefined {
    const call = (args: Expr[]): FunctionCall => {
      this.expectOp(')');
      return { kind: 'FunctionCall', pos, name, args, distinct: false, star: false };
    };
    if (
      name === 'extract' &&
      (this.peek().type === 'word' || this.peek().type === 'string') &&
      this.isWord('from', 1)
    ) {
      const field = this.next();
      this.index++;
      const fieldLit: Expr = { kind: 'StringLiteral', pos: field.pos, value: field.value.toLowerCase() };
      return call([fieldLit, this.parseExpr()]);
    }
    if (name === 'substring' && !this.isOp(')')) {
      const start = this.index;
      const str = this.parseExpr();
      if (this.acceptWord('from')) {
        const from = this.parseExpr();
        return call(this.acceptWord('for') ? [str, from, this.parseExpr()] : [str, from]);
      }
      if (this.acceptWord('for'))
        return call([str, { kind: 'IntegerLiteral', pos, value: 1n }, this.parseExpr()]);
      this.index = start;
      return undefined;
    }
    if (name === 'position' && !this.isOp(')')) {
      const start = this.index;
      const needle = this.parseExpr(PREC.OTHER);
      if (this.acceptWord('in')) return call([needle, this.parseExpr(PREC.OTHER)]);
      this.index = start;
    }
    return undefined;
  }

  #case(tok: Token): Expr {
    this.index++;
    this.enter(tok.pos);
    const operand = this.isWord('when') ? undefined : this.parseExpr();
    const whens: CaseWhen[] = [];
    while (this.isWord('when')) {
      const whenTok = this.next();
      const when = this.parseExpr();
      this.expectWord('then');
      // biome-ignore lint/suspicious/noThenProperty: CaseWhen.then mirrors SQL's THEN; AST nodes are plain data, never awaited.
      whens.push({ kind: 'CaseWhen', pos: whenTok.pos, when, then: this.parseExpr() });
    }
    if (whens.length === 0) throw this.error('WHEN');
    const otherwise = this.acceptWord('else') ? this.parseExpr() : undefined;
    this.expectWord('end');
    this.leave();
    return { kind: 'Case', pos: tok.pos, operand, whens, else: otherwise };
  }

  #cast(tok: Token): Expr {
    this.index++;
    this.expectOp('(');
    const expr = this.parseExpr();
    this.expectWord('as');
    const type = this.parseType();
    this.expectOp(')');
    return { kind: 'Cast', pos: tok.pos, expr, type };
  }

  #exists(tok: Token): Expr {
    if (!this.startsQuery()) throw this.error('SELECT');
    const query = this.parseQuery();
    this.expectOp(')');
    return { kind: 'Exists', pos: tok.pos, query };
  }
}

/** An integer token as a literal: `IntegerLiteral` within 64 bits, `NumericLiteral` beyond. */
function integerLiteral(text: string, pos: SourcePos): Expr {
  const value = BigInt(text);
  if (value > MAX_INT64) return { kind: 'NumericLiteral', pos, text };
  return { kind: 'IntegerLiteral', pos, value };
}

/** Unary minus, folded into a numeric literal operand (so that `-9223372036854775808` is a BIGINT). */
function negate(operand: Expr, pos: SourcePos): Expr {
  if (operand.kind === 'IntegerLiteral') {
    const value = -operand.value;
    if (value > MAX_INT64) return { kind: 'NumericLiteral', pos, text: String(value) };
    return { kind: 'IntegerLiteral', pos, value };
  }
  if (operand.kind === 'NumericLiteral') {
    const text = operand.text.startsWith('-') ? operand.text.slice(1) : `-${operand.text}`;
    if (/^-?\d+$/.test(text)) {
      const value = BigInt(text);
      if (value >= MIN_INT64 && value <= MAX_INT64) return { kind: 'IntegerLiteral', pos, value };
    }
    return { kind: 'NumericLiteral', pos, text };
  }
  return { kind: 'Unary', pos, op: '-', operand };
}
