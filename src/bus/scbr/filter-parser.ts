/**
 * The recursive-descent parser of the filter language (grammar: docs/bus.md, "The filter language").
 * It type-checks as it goes: each attribute is compared as one type throughout a filter (and as the
 * schema's type when one is given), booleans only with `=`/`!=`, prefixes only on strings, ranges
 * must not be empty. Every error names the line and column of the token at fault.
 */
import { ScbrError } from './errors.ts';
import { toDnf } from './filter-dnf.ts';
import { filterError, type Token, tokenize } from './filter-lexer.ts';
import {
  type AttributeType,
  type ComparisonOp,
  FILTER_LIMITS,
  type Filter,
  type FilterNode,
  type Predicate,
  type TypedValue,
} from './filter-types.ts';
import { compareValues, formatValue } from './filter-values.ts';

/** Options of {@link parseFilter}. */
export interface ParseFilterOptions {
  /**
   * Declared attribute types. When given, a filter may test only these attributes, each as its
   * declared type.
   */
  readonly schema?: Readonly<Record<string, AttributeType>>;
}

const COMPARISONS: ReadonlySet<string> = new Set(['=', '!=', '<', '<=', '>', '>=']);

/**
 * Parses and type-checks a subscription filter. Throws `ERR_SCBR_FILTER_SYNTAX`,
 * `ERR_SCBR_FILTER_TYPE` or `ERR_SCBR_FILTER_LIMIT` with the position of the offending token.
 *
 * @example
 * const f = parseFilter('region = "north" AND demand > 5 AND at >= @2025-06-01');
 * f.attributes; // Map { region → 'string', demand → 'number', at → 'timestamp' }
 */
export function parseFilter(text: string, options: ParseFilterOptions = {}): Filter {
  if (typeof text !== 'string') throw new TypeError('a filter is a string');
  if (text.length > FILTER_LIMITS.maxTextLength) {
    throw new ScbrError(
      'ERR_SCBR_FILTER_LIMIT',
      `a filter has at most ${FILTER_LIMITS.maxTextLength} characters, found ${text.length}`,
      { detail: { limit: FILTER_LIMITS.maxTextLength } },
    );
  }
  const parser = new Parser(text, tokenize(text), options.schema);
  const root = parser.parseFilter();
  return Object.freeze({ text, root, dnf: toDnf(root), attributes: parser.attributes });
}

class Parser {
  readonly attributes = new Map<string, AttributeType>();
  readonly #text: string;
  readonly #tokens: Token[];
  readonly #schema: Readonly<Record<string, AttributeType>> | undefined;
  readonly #firstUse = new Map<string, number>();
  #at = 0;
  #predicates = 0;

  constructor(text: string, tokens: Token[], schema: Readonly<Record<string, AttributeType>> | undefined) {
    this.#text = text;
    this.#tokens = tokens;
    this.#schema = schema;
  }

  parseFilter(): FilterNode {
    if (this.#peek().kind === 'end')
      throw this.#syntax(this.#peek(), 'the filter is empty; write TRUE to match everything');
    const node = this.#or(0);
    const next = this.#peek();
    if (next.kind !== 'end') {
      const hint =
        next.text === ')' ? 'a ")" without its "("' : `expected AND, OR or the end, found ${describe(next)}`;
      throw this.#syntax(next, hint);
    }
    return node;
  }

  #or(depth: number): FilterNode {
    const children = [this.#and(depth)];
    while (this.#peek().keyword === 'OR') {
      this.#at++;
      children.push(this.#and(depth));
    }
    return children.length === 1 ? (children[0] as FilterNode) : { kind: 'or', children };
  }

  #and(depth: number): FilterNode {
    const children = [this.#not(depth)];
    while (this.#peek().keyword === 'AND') {
      this.#at++;
      children.push(this.#not(depth));
    }
    return children.length === 1 ? (children[0] as FilterNode) : { kind: 'and', children };
  }

  #not(depth: number): FilterNode {
    const token = this.#peek();
    if (token.keyword !== 'NOT') return this.#primary(depth);
    this.#checkDepth(token, depth + 1);
    this.#at++;
    return { kind: 'not', child: this.#not(depth + 1) };
  }

  #primary(depth: number): FilterNode {
    const token = this.#next();
    if (token.text === '(') {
      this.#checkDepth(token, depth + 1);
      const node = this.#or(depth + 1);
      const close = this.#next();
      if (close.text !== ')') {
        throw this.#syntax(
          close,
          `expected ")" to close the "(" at column ${token.position.column}, found ${describe(close)}`,
        );
      }
      return node;
    }
    if (token.keyword === 'TRUE' || token.keyword === 'FALSE')
      return { kind: 'constant', value: token.keyword === 'TRUE' };
    if (token.kind === 'word' && token.keyword === undefined) return this.#predicate(token);
    if (token.kind === 'word') {
      throw this.#syntax(
        token,
        `${token.keyword} is a reserved word, not an attribute name; expected an attribute, NOT, TRUE, FALSE or "("`,
      );
    }
    throw this.#syntax(
      token,
      `expected an attribute name, NOT, TRUE, FALSE or "(", found ${describe(token)}`,
    );
  }

  #predicate(attr: Token): FilterNode {
    if (++this.#predicates > FILTER_LIMITS.maxPredicates) {
      throw filterError(
        'ERR_SCBR_FILTER_LIMIT',
        this.#text,
        attr.position.offset,
        `a filter has at most ${FILTER_LIMITS.maxPredicates} predicates`,
      );
    }
    const op = this.#next();
    if (op.kind === 'punct' && COMPARISONS.has(op.text)) return this.#comparison(attr, op);
    if (op.text === '^=') return this.#prefix(attr);
    if (op.keyword === 'STARTS') {
      const w = this.#next();
      if (w.keyword !== 'WITH') throw this.#syntax(w, `expected WITH after STARTS, found ${describe(w)}`);
      return this.#prefix(attr);
    }
    if (op.keyword === 'NOT') {
      const next = this.#next();
      if (next.keyword !== 'BETWEEN' && next.keyword !== 'IN') {
        throw this.#syntax(next, `expected BETWEEN or IN after ${attr.text} NOT, found ${describe(next)}`);
      }
      return { kind: 'not', child: this.#rangeOrSet(attr, next) };
    }
    if (op.keyword === 'BETWEEN' || op.keyword === 'IN') return this.#rangeOrSet(attr, op);
    throw this.#syntax(
      op,
      `expected an operator after attribute ${attr.text} (=, !=, <, <=, >, >=, ^=, STARTS WITH, BETWEEN, IN), found ${describe(op)}`,
    );
  }

  #comparison(attr: Token, op: Token): FilterNode {
    const [value, at] = this.#value();
    if (value.type === 'boolean' && op.text !== '=' && op.text !== '!=') {
      throw filterError(
        'ERR_SCBR_FILTER_TYPE',
        this.#text,
        op.position.offset,
        `booleans are compared with = and != only, not ${op.text}`,
      );
    }
    this.#use(attr, value.type, at);
    return this.#leaf({
      kind: 'compare',
      attribute: attr.text,
      type: value.type,
      op: op.text as ComparisonOp,
      value,
    });
  }

  #prefix(attr: Token): FilterNode {
    const [value, at] = this.#value();
    if (value.type !== 'string') {
      throw filterError(
        'ERR_SCBR_FILTER_TYPE',
        this.#text,
        at.position.offset,
        `a prefix is a "string", found a ${value.type}`,
      );
    }
    this.#use(attr, 'string', at);
    return this.#leaf({ kind: 'prefix', attribute: attr.text, type: 'string', prefix: value.value });
  }

  #rangeOrSet(attr: Token, keyword: Token): FilterNode {
    if (keyword.keyword === 'BETWEEN') {
      const [low, lowAt] = this.#value();
      const and = this.#next();
      if (and.keyword !== 'AND')
        throw this.#syntax(and, `expected AND between the bounds of BETWEEN, found ${describe(and)}`);
      const [high, highAt] = this.#value();
      return this.#range(attr, [low, lowAt, true], [high, highAt, true]);
    }
    const open = this.#next();
    if (open.text === '{') return this.#set(attr, open);
    if (open.text !== '[' && open.text !== '(') {
      throw this.#syntax(
        open,
        `expected "{" (a set) or "[" / "(" (an interval) after IN, found ${describe(open)}`,
      );
    }
    const [low, lowAt] = this.#value();
    const comma = this.#next();
    if (comma.text !== ',')
      throw this.#syntax(comma, `expected "," between the bounds of the interval, found ${describe(comma)}`);
    const [high, highAt] = this.#value();
    const close = this.#next();
    if (close.text !== ']' && close.text !== ')') {
      throw this.#syntax(
        close,
        `expected "]" (bound included) or ")" (bound excluded), found ${describe(close)}`,
      );
    }
    return this.#range(attr, [low, lowAt, open.text === '['], [high, highAt, close.text === ']']);
  }

  #range(attr: Token, [low, lowAt, lowIn]: Bound, [high, highAt, highIn]: Bound): FilterNode {
    if (low.type === 'boolean') {
      throw filterError(
        'ERR_SCBR_FILTER_TYPE',
        this.#text,
        lowAt.position.offset,
        'booleans have no ranges; use = or !=',
      );
    }
    if (high.type !== low.type) {
      throw filterError(
        'ERR_SCBR_FILTER_TYPE',
        this.#text,
        highAt.position.offset,
        `both bounds must be of one type: ${low.type} and ${high.type}`,
      );
    }
    const order = compareValues(low, high);
    if (order > 0 || (order === 0 && !(lowIn && highIn))) {
      throw filterError(
        'ERR_SCBR_FILTER_TYPE',
        this.#text,
        lowAt.position.offset,
        `the range from ${formatValue(low)} to ${formatValue(high)} is empty; the lower bound comes first`,
      );
    }
    this.#use(attr, low.type, lowAt);
    return this.#leaf({
      kind: 'range',
      attribute: attr.text,
      type: low.type,
      low,
      high,
      lowInclusive: lowIn,
      highInclusive: highIn,
    });
  }

  #set(attr: Token, open: Token): FilterNode {
    const values = new Map<number | string | boolean, TypedValue>();
    let first: [TypedValue, Token] | undefined;
    for (;;) {
      const [value, at] = this.#value();
      first ??= [value, at];
      if (value.type !== first[0].type) {
        throw filterError(
          'ERR_SCBR_FILTER_TYPE',
          this.#text,
          at.position.offset,
          `a set holds values of one type: ${first[0].type} and ${value.type}`,
        );
      }
      values.set(value.value, value);
      if (values.size > FILTER_LIMITS.maxSetSize) {
        throw filterError(
          'ERR_SCBR_FILTER_LIMIT',
          this.#text,
          open.position.offset,
          `a set has at most ${FILTER_LIMITS.maxSetSize} values`,
        );
      }
      const sep = this.#next();
      if (sep.text === '}') break;
      if (sep.text !== ',') throw this.#syntax(sep, `expected "," or "}" in the set, found ${describe(sep)}`);
    }
    this.#use(attr, first[0].type, first[1]);
    const sorted = [...values.values()].sort(compareValues);
    return this.#leaf({ kind: 'in', attribute: attr.text, type: first[0].type, values: sorted });
  }

  #leaf(predicate: Predicate): FilterNode {
    return { kind: 'predicate', predicate };
  }

  #value(): [TypedValue, Token] {
    const t = this.#next();
    switch (t.kind) {
      case 'number':
        return [{ type: 'number', value: t.value as number }, t];
      case 'string':
        return [{ type: 'string', value: t.value as string }, t];
      case 'timestamp':
        return [{ type: 'timestamp', value: t.value as number }, t];
      default:
        if (t.keyword === 'TRUE' || t.keyword === 'FALSE')
          return [{ type: 'boolean', value: t.keyword === 'TRUE' }, t];
        throw this.#syntax(
          t,
          `expected a value (a number, a "string", true, false or an @timestamp), found ${describe(t)}`,
        );
    }
  }

  /** Records that `attr` is compared as `type`; refuses a second type or one the schema does not declare. */
  #use(attr: Token, type: AttributeType, valueToken: Token): void {
    const name = attr.text;
    const declared =
      this.#schema === undefined ? undefined : Object.hasOwn(this.#schema, name) ? this.#schema[name] : null;
    if (declared === null) {
      throw filterError(
        'ERR_SCBR_FILTER_TYPE',
        this.#text,
        attr.position.offset,
        `unknown attribute ${name}; the schema declares ${Object.keys(this.#schema ?? {}).join(', ') || '(none)'}`,
      );
    }
    const known = declared ?? this.attributes.get(name);
    if (known !== undefined && known !== type) {
      const where =
        declared !== undefined
          ? `declared as a ${declared} in the schema`
          : `compared as a ${known} at column ${this.#firstUse.get(name)}`;
      throw filterError(
        'ERR_SCBR_FILTER_TYPE',
        this.#text,
        valueToken.position.offset,
        `attribute ${name} is ${where}, but this value is a ${type}`,
      );
    }
    if (!this.attributes.has(name)) this.#firstUse.set(name, attr.position.column);
    this.attributes.set(name, type);
  }

  #checkDepth(token: Token, depth: number): void {
    if (depth > FILTER_LIMITS.maxDepth) {
      throw filterError(
        'ERR_SCBR_FILTER_LIMIT',
        this.#text,
        token.position.offset,
        `parentheses and NOT nest at most ${FILTER_LIMITS.maxDepth} deep`,
      );
    }
  }

  #peek(): Token {
    return this.#tokens[this.#at] as Token;
  }

  #next(): Token {
    const t = this.#peek();
    if (t.kind !== 'end') this.#at++;
    return t;
  }

  #syntax(token: Token, message: string): ScbrError {
    return filterError('ERR_SCBR_FILTER_SYNTAX', this.#text, token.position.offset, message);
  }
}

type Bound = [TypedValue, Token, boolean];

function describe(t: Token): string {
  if (t.kind === 'end') return 'the end of the filter';
  const text = t.text.length > 40 ? `${t.text.slice(0, 40)}…` : t.text;
  return t.kind === 'string' ? `the string ${text}` : `"${text}"`;
}
