/**
 * The tokenizer of the filter language. Every token records where it starts, so that parser errors
 * point at the column. Keywords are case-insensitive.
 */
import { type FilterPosition, ScbrError } from './errors.ts';
import { FILTER_LIMITS, RESERVED_WORDS } from './filter-types.ts';
import { parseTimestamp } from './filter-values.ts';

/** Token kinds. `word` is an attribute name or a keyword (`keyword` holds the upper-case form). */
export type TokenKind = 'word' | 'number' | 'string' | 'timestamp' | 'punct' | 'end';

/** One token. */
export interface Token {
  readonly kind: TokenKind;
  /** The source text of the token. */
  readonly text: string;
  /** For words: the upper-case keyword when the word is reserved. */
  readonly keyword: string | undefined;
  /** Numbers, timestamps (epoch ms) and strings (unescaped). */
  readonly value: number | string | undefined;
  readonly position: FilterPosition;
}

const PUNCTUATION = ['<=', '>=', '!=', '<>', '^=', '(', ')', '[', ']', '{', '}', ',', '=', '<', '>'];
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const WORD = /[A-Za-z_][A-Za-z0-9_.]*/y;
const TIMESTAMP_TEXT = /@[0-9][0-9T:.+\-Z]*/y;
const ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

/** Splits filter text into tokens; the last one is `end`. Throws `ERR_SCBR_FILTER_SYNTAX` with a position. */
export function tokenize(text: string): Token[] {
  const lexer = new Lexer(text);
  const tokens: Token[] = [];
  for (;;) {
    const token = lexer.next();
    tokens.push(token);
    if (token.kind === 'end') return tokens;
  }
}

/** The position of `offset` in `text`. */
export function positionAt(text: string, offset: number): FilterPosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1, offset };
}

/** A syntax or type error at `offset`, with the line and column in the message. */
export function filterError(
  code: 'ERR_SCBR_FILTER_SYNTAX' | 'ERR_SCBR_FILTER_TYPE' | 'ERR_SCBR_FILTER_LIMIT',
  text: string,
  offset: number,
  message: string,
): ScbrError {
  const position = positionAt(text, offset);
  const where =
    position.line === 1 ? `column ${position.column}` : `line ${position.line}, column ${position.column}`;
  return new ScbrError(
    code,
    `filter ${code === 'ERR_SCBR_FILTER_TYPE' ? 'type' : 'syntax'} error at ${where}: ${message}`,
    {
      position,
    },
  );
}

class Lexer {
  readonly #text: string;
  #offset = 0;
  #line = 1;
  #lineStart = 0;

  constructor(text: string) {
    this.#text = text;
  }

  next(): Token {
    this.#skipSpace();
    const start = this.#offset;
    if (start >= this.#text.length) return this.#token('end', start, '', undefined);
    const c = this.#text[start] as string;
    if (c === '"') return this.#string(start);
    if (c === '@') return this.#timestamp(start);
    if (c === '-' || (c >= '0' && c <= '9')) return this.#number(start);
    const word = this.#match(WORD, start);
    if (word !== null) return this.#word(start, word);
    const punct = PUNCTUATION.find((p) => this.#text.startsWith(p, start));
    if (punct !== undefined) {
      this.#offset += punct.length;
      return this.#token('punct', start, punct === '<>' ? '!=' : punct, undefined);
    }
    throw filterError(
      'ERR_SCBR_FILTER_SYNTAX',
      this.#text,
      start,
      `unexpected character ${JSON.stringify(c)}`,
    );
  }

  #skipSpace(): void {
    while (this.#offset < this.#text.length && /\s/.test(this.#text[this.#offset] as string)) {
      if (this.#text.charCodeAt(this.#offset) === 10) {
        this.#line++;
        this.#lineStart = this.#offset + 1;
      }
      this.#offset++;
    }
  }

  #match(re: RegExp, start: number): string | null {
    re.lastIndex = start;
    const m = re.exec(this.#text);
    if (m === null) return null;
    this.#offset = start + m[0].length;
    return m[0];
  }

  #token(kind: TokenKind, start: number, text: string, value: number | string | undefined): Token {
    const position = { line: this.#line, column: start - this.#lineStart + 1, offset: start };
    return { kind, text, keyword: undefined, value, position };
  }

  #word(start: number, word: string): Token {
    if (word.length > FILTER_LIMITS.maxNameLength) {
      throw filterError(
        'ERR_SCBR_FILTER_LIMIT',
        this.#text,
        start,
        `attribute names have at most ${FILTER_LIMITS.maxNameLength} characters`,
      );
    }
    const upper = word.toUpperCase();
    const token = this.#token('word', start, word, undefined);
    return RESERVED_WORDS.has(upper) ? { ...token, keyword: upper } : token;
  }

  #number(start: number): Token {
    const text = this.#match(NUMBER, start);
    if (text === null)
      throw filterError('ERR_SCBR_FILTER_SYNTAX', this.#text, start, 'expected a number after "-"');
    const next = this.#text[this.#offset];
    if (next !== undefined && /[A-Za-z0-9_.]/.test(next)) {
      throw filterError(
        'ERR_SCBR_FILTER_SYNTAX',
        this.#text,
        start,
        `malformed number starting ${JSON.stringify(text)}`,
      );
    }
    const value = Number(text);
    if (!Number.isFinite(value)) {
      throw filterError('ERR_SCBR_FILTER_SYNTAX', this.#text, start, `number ${text} is out of range`);
    }
    return this.#token('number', start, text, value === 0 ? 0 : value);
  }

  #timestamp(start: number): Token {
    const text = this.#match(TIMESTAMP_TEXT, start) ?? '@';
    const value = parseTimestamp(text.slice(1));
    if (value === null) {
      throw filterError(
        'ERR_SCBR_FILTER_SYNTAX',
        this.#text,
        start,
        `${JSON.stringify(text)} is not a timestamp; write @2025-06-01, @2025-06-01T12:00:00Z or @2025-06-01T12:00:00.250+02:00 (years 0000-9999)`,
      );
    }
    return this.#token('timestamp', start, text, value);
  }

  #string(start: number): Token {
    let out = '';
    let i = start + 1;
    for (;;) {
      const c = this.#text[i];
      if (c === undefined || c === '\n') {
        throw filterError(
          'ERR_SCBR_FILTER_SYNTAX',
          this.#text,
          start,
          'unterminated string (a string ends with ")',
        );
      }
      if (c === '"') break;
      if (c === '\\') {
        const [ch, length] = this.#escape(i);
        out += ch;
        i += length;
      } else {
        out += c;
        i++;
      }
      if (out.length > FILTER_LIMITS.maxStringLength) {
        throw filterError(
          'ERR_SCBR_FILTER_LIMIT',
          this.#text,
          start,
          `strings have at most ${FILTER_LIMITS.maxStringLength} characters`,
        );
      }
    }
    this.#offset = i + 1;
    return this.#token('string', start, this.#text.slice(start, i + 1), out);
  }

  /** The character an escape at `at` stands for, and the escape's length. */
  #escape(at: number): [string, number] {
    const e = this.#text[at + 1];
    if (e !== undefined && ESCAPES[e] !== undefined) return [ESCAPES[e], 2];
    const hex = this.#text.slice(at + 2, at + 6);
    if (e === 'u' && /^[0-9A-Fa-f]{4}$/.test(hex)) return [String.fromCharCode(Number.parseInt(hex, 16)), 6];
    throw filterError(
      'ERR_SCBR_FILTER_SYNTAX',
      this.#text,
      at,
      'unknown escape; use \\", \\\\, \\/, \\b, \\f, \\n, \\r, \\t or \\uXXXX',
    );
  }
}
