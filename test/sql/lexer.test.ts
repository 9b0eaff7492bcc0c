import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSqlError } from '../../src/sql/errors.ts';
import { tokenize } from '../../src/sql/lexer.ts';

function kinds(text: string): string[] {
  return tokenize(text).map((t) => `${t.type}:${t.value}`);
}

function lexError(text: string): { code: string; sqlstate: string; line: number; column: number } {
  try {
    tokenize(text);
  } catch (err) {
    assert.ok(isSqlError(err), `expected a SqlError, got ${String(err)}`);
    return {
      code: err.code,
      sqlstate: err.sqlstate,
      line: err.position?.line ?? 0,
      column: err.position?.column ?? 0,
    };
  }
  assert.fail(`expected ${JSON.stringify(text)} to fail`);
}

describe('unit: SQL lexer', () => {
  it('folds unquoted identifiers and keywords to lower case and keeps quoted ones', () => {
    assert.deepEqual(kinds('SELECT Foo, "Bar", "a""b" FROM T'), [
      'word:select',
      'word:foo',
      'op:,',
      'qident:Bar',
      'op:,',
      'qident:a"b',
      'word:from',
      'word:t',
      'eof:',
    ]);
  });

  it('reads integers, decimals, exponents and parameters', () => {
    assert.deepEqual(kinds('1 1.5 .5 1. 2e3 2E-3 $1 $32'), [
      'integer:1',
      'numeric:1.5',
      'numeric:.5',
      'numeric:1.',
      'numeric:2e3',
      'numeric:2E-3',
      'param:1',
      'param:32',
      'eof:',
    ]);
  });

  it("resolves '' in strings, E'' escapes, and joins literals split across lines", () => {
    const toks = tokenize("'it''s' E'a\\nb\\x41\\u00e9\\'' 'x'\n  'y'");
    assert.deepEqual(
      toks.filter((t) => t.type === 'string').map((t) => t.value),
      ["it's", "a\nbAé'", 'xy'],
    );
  });

  it('keeps standard strings literal: a backslash is just a backslash', () => {
    assert.equal(tokenize("'\\x00ff'")[0]!.value, '\\x00ff');
  });

  it('skips -- and nested /* */ comments and tracks line and column', () => {
    const toks = tokenize('-- first\nSELECT /* a /* nested */ b */ x\n  FROM t');
    assert.deepEqual(
      toks.map((t) => [t.value, t.pos.line, t.pos.column]),
      [
        ['select', 2, 1],
        ['x', 2, 31],
        ['from', 3, 3],
        ['t', 3, 8],
        ['', 3, 9],
      ],
    );
  });

  it('gives 1-based offsets, the PostgreSQL error position convention', () => {
    const toks = tokenize('SELECT\n  abc');
    assert.deepEqual(toks[1]!.pos, { line: 2, column: 3, offset: 10 });
  });

  it('reads two-character operators and keeps a minus before a number separate', () => {
    assert.deepEqual(kinds('a<=b<>c!=d||e::f<-1'), [
      'word:a',
      'op:<=',
      'word:b',
      'op:<>',
      'word:c',
      'op:!=',
      'word:d',
      'op:||',
      'word:e',
      'op:::',
      'word:f',
      'op:<',
      'op:-',
      'integer:1',
      'eof:',
    ]);
  });

  it('refuses an unterminated string with the line and column where it starts', () => {
    assert.deepEqual(lexError("SELECT\n  'abc"), {
      code: 'ERR_SQL_SYNTAX',
      sqlstate: '42601',
      line: 2,
      column: 3,
    });
  });

  it('refuses an unterminated comment and an unterminated quoted identifier', () => {
    assert.equal(lexError('SELECT /* x').code, 'ERR_SQL_SYNTAX');
    assert.equal(lexError('SELECT "x').code, 'ERR_SQL_SYNTAX');
    assert.equal(lexError('SELECT ""').code, 'ERR_SQL_SYNTAX');
  });

  it('refuses dollar quoting and bit strings as unsupported features', () => {
    assert.equal(lexError('SELECT $$x$$').sqlstate, '0A000');
    assert.equal(lexError("SELECT B'101'").sqlstate, '0A000');
  });

  it('refuses parameter numbers outside $1…$65535 and stray characters', () => {
    assert.equal(lexError('SELECT $0').code, 'ERR_SQL_SYNTAX');
    assert.equal(lexError('SELECT $65536').code, 'ERR_SQL_SYNTAX');
    assert.deepEqual(lexError('SELECT a\n\\'), {
      code: 'ERR_SQL_SYNTAX',
      sqlstate: '42601',
      line: 2,
      column: 1,
    });
  });

  it('refuses text longer than the limit with 54000', () => {
    assert.equal(lexError('SELECT 1'.padEnd(17 * 1024 * 1024, ' ')).sqlstate, '54000');
    assert.throws(
      () => tokenize('SELECT 1', 4),
      (e) => isSqlError(e, 'ERR_SQL_PROGRAM_LIMIT'),
    );
  });

  it('rejects invalid Unicode escapes in E strings with 22025', () => {
    assert.equal(lexError("SELECT E'\\uD800'").sqlstate, '22025');
  });
});
