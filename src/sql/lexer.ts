import type { SourcePos } from './ast.ts';
import { SqlError, syntaxError, unsupported } from './errors.ts';

/**
 * Token kinds: `word` is an unquoted identifier or keyword (value lower-cased), `qident` a quoted
 * identifier (value as written, quotes removed), `string` a string literal (escapes resolved),
 * `integer`/`numeric` numbers (value as written), `param` a `$n` placeholder (value the digits),
 * `op` an operator or punctuation, `eof` the end of the input.
 */
export type TokenType = 'word' | 'qident' | 'string' | 'integer' | 'numeric' | 'param' | 'op' | 'eof';

/** One token with its position; `end` is the 0-based offset just past it in the source text. */
export interface Token {
  readonly type: TokenType;
  readonly value: string;
  readonly pos: SourcePos;
  readonly end: number;
}

/** Default limit on the length of SQL text, in UTF-16 code units. */
export const DEFAULT_MAX_SQL_LENGTH = 16 * 1024 * 1024;

/** Largest `$n` accepted: the PostgreSQL protocol carries at most 65,535 parameters. */
export const MAX_PARAMETER_INDEX = 65_535;

/** Operators of two characters, tried before single characters. */
const TWO_CHAR_OPS = new Set([
  '<=',
  '>=',
  '<>',
  '!=',
  '||',
  '::',
  '=>',
  '<<',
  '>>',
  '@>',
  '<@',
  '~~',
  '!~',
  '->',
]);

/** Single-character operators and punctuation. Anything else outside words and literals is an error. */
const ONE_CHAR_OPS = new Set([...'()[],;.:+-*/%^=<>~!@#&|?`']);

const CH_NEWLINE = 10;
const CH_QUOTE = 39;
const CH_DQUOTE = 34;
const CH_DOLLAR = 36;
const CH_DOT = 46;
const CH_DASH = 45;
const CH_SLASH = 47;
const CH_STAR = 42;
const CH_BACKSLASH = 92;

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isIdentStart(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c >= 128;
}

function isIdentPart(c: number): boolean {
  return isIdentStart(c) || isDigit(c) || c === CH_DOLLAR;
}

/** Lower-cases ASCII letters only, as PostgreSQL does for identifiers in UTF-8 databases. */
function foldIdentifier(text: string): string {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 65 && c <= 90) return text.replace(/[A-Z]+/g, (s) => s.toLowerCase());
  }
  return text;
}

/**
 * Splits SQL text into tokens, dropping whitespace and comments (`--` to end of line, nested
 * `/* … *\/`). Keywords are not distinguished from identifiers here: the parser decides by context.
 * Throws a {@link SqlError} (42601) with the line and column of an unterminated literal or comment,
 * or of a character that cannot start a token.
 *
 * @example
 * tokenize('SELECT a FROM t').map((t) => t.value) // ['select', 'a', 'from', 't', '']
 */
export function tokenize(text: string, maxLength = DEFAULT_MAX_SQL_LENGTH): Token[] {
  if (typeof text !== 'string') throw new TypeError('SQL text must be a string');
  if (text.length > maxLength) {
    throw new SqlError(
      'ERR_SQL_PROGRAM_LIMIT',
      `statement text is ${text.length} characters long; the limit is ${maxLength}`,
      { hint: 'split the statement, or use a prepared statement with parameters' },
    );
  }
  return new Lexer(text).run();
}

class Lexer {
  readonly #text: string;
  readonly #tokens: Token[] = [];
  #i = 0;
  #line = 1;
  #lineStart = 0;

  constructor(text: string) {
    this.#text = text;
  }

  run(): Token[] {
    const text = this.#text;
    for (;;) {
      this.#skipSpaceAndComments();
      if (this.#i >= text.length) break;
      this.#token();
    }
    this.#tokens.push({ type: 'eof', value: '', pos: this.#pos(text.length), end: text.length });
    return this.#tokens;
  }

  #pos(offset: number): SourcePos {
    return { line: this.#line, column: offset - this.#lineStart + 1, offset: offset + 1 };
  }

  /** Advances over `[from, to)`, counting the newlines inside (literals and comments may span lines). */
  #advance(from: number, to: number): void {
    const text = this.#text;
    for (let k = from; k < to; k++) {
      if (text.charCodeAt(k) === CH_NEWLINE) {
        this.#line++;
        this.#lineStart = k + 1;
      }
    }
    this.#i = to;
  }

  #push(type: TokenType, value: string, pos: SourcePos): void {
    this.#tokens.push({ type, value, pos, end: this.#i });
  }

  #skipSpaceAndComments(): void {
    const text = this.#text;
    const n = text.length;
    while (this.#i < n) {
      const c = text.charCodeAt(this.#i);
      if (isSpace(c)) {
        if (c === CH_NEWLINE) {
          this.#line++;
          this.#lineStart = this.#i + 1;
        }
        this.#i++;
      } else if (c === CH_DASH && text.charCodeAt(this.#i + 1) === CH_DASH) {
        const eol = text.indexOf('\n', this.#i);
        this.#i = eol === -1 ? n : eol;
      } else if (c === CH_SLASH && text.charCodeAt(this.#i + 1) === CH_STAR) {
        this.#blockComment();
      } else {
        return;
      }
    }
  }

  #blockComment(): void {
    const text = this.#text;
    const start = this.#i;
    const pos = this.#pos(start);
    let depth = 0;
    let k = start;
    while (k < text.length) {
      if (text.startsWith('/*', k)) {
        depth++;
        k += 2;
      } else if (text.startsWith('*/', k)) {
        depth--;
        k += 2;
        if (depth === 0) {
          this.#advance(start, k);
          return;
        }
      } else {
        k++;
      }
    }
    throw syntaxError(pos, "'*/' to close the comment", 'end of input');
  }

  #token(): void {
    const text = this.#text;
    const start = this.#i;
    const c = text.charCodeAt(start);
    const pos = this.#pos(start);
    if (isIdentStart(c)) {
      this.#wordOrPrefixedString(start, pos);
    } else if (isDigit(c) || (c === CH_DOT && isDigit(text.charCodeAt(start + 1)))) {
      this.#number(start, pos);
    } else if (c === CH_QUOTE) {
      this.#push('string', this.#string(start, pos, false), pos);
    } else if (c === CH_DQUOTE) {
      this.#quotedIdentifier(start, pos);
    } else if (c === CH_DOLLAR) {
      this.#parameter(start, pos);
    } else {
      this.#operator(start, pos);
    }
  }

  #wordOrPrefixedString(start: number, pos: SourcePos): void {
    const text = this.#text;
    let k = start + 1;
    while (k < text.length && isIdentPart(text.charCodeAt(k))) k++;
    const word = text.slice(start, k);
    if (k - start === 1 && text.charCodeAt(k) === CH_QUOTE) {
      const prefix = word.toLowerCase();
      if (prefix === 'e') {
        this.#i = k;
        this.#push('string', this.#string(k, pos, true), pos);
        return;
      }
      if (prefix === 'b' || prefix === 'x') throw unsupported('bit-string literals', pos);
      if (prefix === 'n') {
        this.#i = k;
        this.#push('string', this.#string(k, pos, false), pos);
        return;
      }
    }
    if (word.length === 1 && (word === 'u' || word === 'U') && text.startsWith("&'", k)) {
      throw unsupported("Unicode escape strings (U&'…')", pos);
    }
    this.#i = k;
    this.#push('word', foldIdentifier(word), pos);
  }

  #number(start: number, pos: SourcePos): void {
    const text = this.#text;
    let k = start;
    let integer = true;
    while (isDigit(text.charCodeAt(k))) k++;
    if (text.charCodeAt(k) === CH_DOT && text.charCodeAt(k + 1) !== CH_DOT) {
      integer = false;
      k++;
      while (isDigit(text.charCodeAt(k))) k++;
    }
    const e = text.charCodeAt(k);
    if (e === 101 || e === 69) {
      let m = k + 1;
      const sign = text.charCodeAt(m);
      if (sign === 43 || sign === CH_DASH) m++;
      if (isDigit(text.charCodeAt(m))) {
        while (isDigit(text.charCodeAt(m))) m++;
        k = m;
        integer = false;
      }
    }
    this.#i = k;
    this.#push(integer ? 'integer' : 'numeric', text.slice(start, k), pos);
  }

  /** Reads a '…' literal starting at the quote `q`; consecutive literals separated by a newline are joined. */
  #string(q: number, pos: SourcePos, escapes: boolean): string {
    const text = this.#text;
    let out = '';
    let k = q + 1;
    for (;;) {
      if (k >= text.length) throw syntaxError(pos, "a closing quote (') for the string", 'end of input');
      const c = text.charCodeAt(k);
      if (c === CH_QUOTE) {
        if (text.charCodeAt(k + 1) === CH_QUOTE) {
          out += "'";
          k += 2;
          continue;
        }
        const next = this.#continuation(k + 1);
        if (next === -1) break;
        k = next + 1;
        continue;
      }
      if (escapes && c === CH_BACKSLASH) {
        const [chars, len] = this.#escape(k, pos);
        out += chars;
        k += len;
        continue;
      }
      const stop = text.indexOf("'", k);
      const chunkEnd = escapes ? nextOf(text, k, stop) : stop;
      if (chunkEnd === -1) throw syntaxError(pos, "a closing quote (') for the string", 'end of input');
      out += text.slice(k, chunkEnd);
      k = chunkEnd;
    }
    this.#advance(this.#i, k + 1);
    return out;
  }

  /** After a closing quote at `from - 1`: the offset of the next literal's quote when only whitespace with a newline separates them, else -1. */
  #continuation(from: number): number {
    const text = this.#text;
    let k = from;
    let newline = false;
    while (k < text.length && isSpace(text.charCodeAt(k))) {
      if (text.charCodeAt(k) === CH_NEWLINE) newline = true;
      k++;
    }
    return newline && text.charCodeAt(k) === CH_QUOTE ? k : -1;
  }

  /** Resolves one backslash escape of an E'' literal at `k`: the characters and the length consumed. */
  #escape(k: number, pos: SourcePos): [string, number] {
    const text = this.#text;
    const e = text[k + 1];
    const simple: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
    if (e === undefined) throw syntaxError(pos, "a closing quote (') for the string", 'end of input');
    if (simple[e] !== undefined) return [simple[e], 2];
    const hex = /^x([0-9a-fA-F]{1,2})/.exec(text.slice(k + 1, k + 4));
    if (hex) return [String.fromCharCode(Number.parseInt(hex[1]!, 16)), 1 + hex[0].length];
    const oct = /^[0-7]{1,3}/.exec(text.slice(k + 1, k + 4));
    if (oct) return [String.fromCharCode(Number.parseInt(oct[0], 8) & 0xff), 1 + oct[0].length];
    const uni = e === 'u' ? /^u([0-9a-fA-F]{4})/ : e === 'U' ? /^U([0-9a-fA-F]{8})/ : undefined;
    if (uni) {
      const m = uni.exec(text.slice(k + 1, k + 10));
      const cp = m ? Number.parseInt(m[1]!, 16) : -1;
      if (!m || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp === 0) {
        throw new SqlError('ERR_SQL_INVALID_ESCAPE', `invalid Unicode escape in string at line ${pos.line}`, {
          position: pos,
          hint: 'Unicode escapes must be \\uXXXX or \\UXXXXXXXX',
        });
      }
      return [String.fromCodePoint(cp), 1 + m[0].length];
    }
    return [e, 2];
  }

  #quotedIdentifier(start: number, pos: SourcePos): void {
    const text = this.#text;
    let out = '';
    let k = start + 1;
    for (;;) {
      const stop = text.indexOf('"', k);
      if (stop === -1)
        throw syntaxError(pos, 'a closing double quote (") for the identifier', 'end of input');
      out += text.slice(k, stop);
      if (text.charCodeAt(stop + 1) === CH_DQUOTE) {
        out += '"';
        k = stop + 2;
        continue;
      }
      k = stop + 1;
      break;
    }
    if (out.length === 0) throw syntaxError(pos, 'a non-empty quoted identifier', '""');
    this.#advance(start, k);
    this.#push('qident', out, pos);
  }

  #parameter(start: number, pos: SourcePos): void {
    const text = this.#text;
    let k = start + 1;
    while (isDigit(text.charCodeAt(k))) k++;
    if (k === start + 1) throw unsupported('dollar-quoted strings', pos, "use '…' string literals");
    const digits = text.slice(start + 1, k);
    const index = Number(digits);
    if (index < 1 || index > MAX_PARAMETER_INDEX) {
      throw syntaxError(pos, `a parameter number between $1 and $${MAX_PARAMETER_INDEX}`, `'$${digits}'`);
    }
    this.#i = k;
    this.#push('param', String(index), pos);
  }

  #operator(start: number, pos: SourcePos): void {
    const text = this.#text;
    const two = text.slice(start, start + 2);
    if (TWO_CHAR_OPS.has(two)) {
      this.#i = start + 2;
      this.#push('op', two, pos);
      return;
    }
    const one = text[start]!;
    if (!ONE_CHAR_OPS.has(one)) {
      const cp = text.codePointAt(start) ?? 0;
      throw syntaxError(pos, 'a token', `character U+${cp.toString(16).toUpperCase().padStart(4, '0')}`);
    }
    this.#i = start + 1;
    this.#push('op', one, pos);
  }
}

/** The smaller of `stop` and the next backslash from `k` (or `stop` when there is none). */
function nextOf(text: string, k: number, stop: number): number {
  const bs = text.indexOf('\\', k);
  if (bs === -1) return stop;
  if (stop === -1) return bs;
  return Math.min(bs, stop);
}
