import type { SourcePos } from './ast.ts';
import { SqlError, syntaxError, unsupported } from './errors.ts';
import { isReservedName } from './keywords.ts';
import type { Token } from './lexer.ts';

/** Default limit on nesting (parentheses, subqueries, prefix operators) and on the depth of the tree. */
export const DEFAULT_MAX_DEPTH = 200;

/** Budget of backtracks per SQL text (see {@link TokenCursor.countBacktrack}). */
const MAX_BACKTRACKS = 256;

/**
 * A cursor over the tokens of one SQL text, with the helpers every part of the parser uses:
 * look-ahead, expectations that raise positioned syntax errors, and the nesting guard.
 */
export class TokenCursor {
  protected readonly text: string;
  protected readonly tokens: readonly Token[];
  protected readonly maxDepth: number;
  protected index = 0;
  /** Current nesting depth (see {@link enter}). */
  protected depth = 0;
  /**
   * Nodes built by loops rather than recursion (operator chains, joins, set operations): each adds
   * a tree level the nesting guard does not see. Few links mean the tree depth needs no check.
   */
  protected chainLinks = 0;
  #backtracks = 0;

  constructor(text: string, tokens: readonly Token[], maxDepth: number) {
    this.text = text;
    this.tokens = tokens;
    this.maxDepth = maxDepth;
  }

  /** The token `k` positions ahead (the `eof` token past the end). */
  protected peek(k = 0): Token {
    const tokens = this.tokens;
    return tokens[this.index + k] ?? tokens[tokens.length - 1]!;
  }

  /** Consumes and returns the current token (never moves past `eof`). */
  protected next(): Token {
    const tok = this.peek();
    if (tok.type !== 'eof') this.index++;
    return tok;
  }

  /** True when the token `k` ahead is the keyword `word` (lower-case); quoted identifiers never are. */
  protected isWord(word: string, k = 0): boolean {
    const tok = this.peek(k);
    return tok.type === 'word' && tok.value === word;
  }

  protected isOp(op: string, k = 0): boolean {
    const tok = this.peek(k);
    return tok.type === 'op' && tok.value === op;
  }

  protected acceptWord(word: string): boolean {
    if (!this.isWord(word)) return false;
    this.index++;
    return true;
  }

  protected acceptOp(op: string): boolean {
    if (!this.isOp(op)) return false;
    this.index++;
    return true;
  }

  protected expectWord(word: string): Token {
    if (!this.isWord(word)) throw this.error(word.toUpperCase());
    return this.next();
  }

  protected expectOp(op: string): Token {
    if (!this.isOp(op)) throw this.error(`'${op}'`);
    return this.next();
  }

  /** Consumes a sequence of keywords, or none of them when the first does not match. */
  protected acceptWords(...words: string[]): boolean {
    for (let k = 0; k < words.length; k++) if (!this.isWord(words[k]!, k)) return false;
    this.index += words.length;
    return true;
  }

  /** A syntax error at the current (or given) token: "expected X but found Y". */
  protected error(expected: string, tok: Token = this.peek()): SqlError {
    return syntaxError(tok.pos, expected, this.describe(tok));
  }

  /** A 0A000 error naming an unsupported construct at a token. */
  protected unsupported(feature: string, tok: Token = this.peek(), hint?: string): SqlError {
    return unsupported(feature, tok.pos, hint);
  }

  /** How a token is shown in messages: its source text, quoted and shortened, or "end of input". */
  protected describe(tok: Token): string {
    if (tok.type === 'eof') return 'end of input';
    const raw = this.text.slice(tok.pos.offset - 1, tok.end);
    return `'${raw.length > 40 ? `${raw.slice(0, 40)}…` : raw}'`;
  }

  /** Enters one level of nesting; raises 54001 past the limit, long before the JS stack runs out. */
  protected enter(pos: SourcePos): void {
    if (++this.depth > this.maxDepth) {
      throw new SqlError(
        'ERR_SQL_TOO_COMPLEX',
        `statement too complex at line ${pos.line}, column ${pos.column}: nesting deeper than ${this.maxDepth} levels`,
        { position: pos, hint: 'simplify the expression or split the statement' },
      );
    }
  }

  protected leave(): void {
    this.depth--;
  }

  /**
   * Counts one backtrack (re-reading tokens after a failed attempt). Nested ambiguous parentheses
   * could make backtracking exponential, so a statement gets a small budget, then 54001.
   */
  protected countBacktrack(pos: SourcePos): void {
    if (++this.#backtracks > MAX_BACKTRACKS) {
      throw new SqlError(
        'ERR_SQL_TOO_COMPLEX',
        `statement too complex at line ${pos.line}, column ${pos.column}: too many ambiguous parentheses`,
        { position: pos, hint: 'remove redundant parentheses around subqueries' },
      );
    }
  }

  /** An identifier naming a table, column, index or alias: a quoted identifier or a non-reserved word. */
  protected identifier(what: string): string {
    const tok = this.peek();
    if (tok.type === 'qident' || (tok.type === 'word' && !isReservedName(tok.value))) {
      this.index++;
      return tok.value;
    }
    throw this.error(what);
  }

  /** True when the current token can be an identifier (see {@link identifier}). */
  protected atIdentifier(k = 0): boolean {
    const tok = this.peek(k);
    return tok.type === 'qident' || (tok.type === 'word' && !isReservedName(tok.value));
  }

  /** A label after AS: any word, keywords included (`SELECT 1 AS select`), or a quoted identifier. */
  protected label(what: string): string {
    const tok = this.peek();
    if (tok.type === 'qident' || tok.type === 'word') {
      this.index++;
      return tok.value;
    }
    throw this.error(what);
  }

  /** `(name, name, …)`: a parenthesised list of identifiers. */
  protected identifierList(what: string): string[] {
    this.expectOp('(');
    const names = [this.identifier(what)];
    while (this.acceptOp(',')) names.push(this.identifier(what));
    this.expectOp(')');
    return names;
  }

  /** A table name; `schema.table` is refused with 0A000. */
  protected tableName(): string {
    const name = this.identifier('a table name');
    if (this.isOp('.')) throw this.unsupported('schema-qualified names');
    return name;
  }
}
