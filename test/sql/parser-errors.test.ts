import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSqlError, SQL_ERROR_SQLSTATES, SqlError } from '../../src/sql/errors.ts';
import { parseSql } from '../../src/sql/parser.ts';
import { parseError } from './ast-shape.ts';

describe('unit: SQL parser, syntax errors', () => {
  it('says where, what was expected and what was found', () => {
    const err = parseError('SELECT (a + b\nFROM t');
    assert.equal(err.code, 'ERR_SQL_SYNTAX');
    assert.equal(err.sqlstate, '42601');
    assert.equal(err.message, "syntax error at line 2, column 1: expected ')' but found 'FROM'");
    assert.deepEqual(err.position, { line: 2, column: 1, offset: 15 });
  });

  const mistakes: readonly (readonly [string, string, number, number])[] = [
    ['SELECT a,\n  FROM t', "expected an expression but found 'FROM'", 2, 3],
    ['SELECT * FROM t WHERE (a = 1', "expected ')' but found end of input", 1, 29],
    ['INSERT INTO t VALUES (1, 2', "expected ')' but found end of input", 1, 27],
    ['INSERT INTO t VALUES 1, 2', "expected '(' but found '1'", 1, 22],
    ['CREATE TABLE t (a INTEGER,)', "expected a column name or a table constraint but found ')'", 1, 27],
    ['UPDATE t SET a = 1 WHERE', 'expected an expression but found end of input', 1, 25],
    ['DELETE t WHERE x', "expected FROM but found 't'", 1, 8],
    ['SELECT * FROM t ORDER a', "expected BY but found 'a'", 1, 23],
    ['SELECT a FROM t WHERE a = = 1', "expected an expression but found '='", 1, 27],
    ['SELECT CASE WHEN a THEN 1', 'expected END but found end of input', 1, 26],
    [
      'SELECT * FROM t WHERE a IS 5',
      "expected NULL, TRUE, FALSE, UNKNOWN or DISTINCT FROM after IS but found '5'",
      1,
      28,
    ],
    [
      'SELEC 1',
      "expected a statement (SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, BEGIN, COMMIT, …) but found 'SELEC'",
      1,
      1,
    ],
    ['SELECT 1 2', "expected ';' or end of input but found '2'", 1, 10],
    [
      'SELECT * FROM (SELECT 1)',
      'expected an alias for the subquery in FROM (PostgreSQL requires one) but found end of input',
      1,
      25,
    ],
    [
      'SELECT a FROM t LIMIT 1, 2',
      "expected end of LIMIT (LIMIT n, m is MySQL syntax; write LIMIT m OFFSET n) but found ','",
      1,
      24,
    ],
    ['SELECT * FROM a JOIN b', 'expected ON but found end of input', 1, 23],
    ["SELECT 'abc", "expected a closing quote (') for the string but found end of input", 1, 8],
    [
      'INSERT INTO t VALUES (1) ON CONFLICT DO UPDATE SET a = 1',
      "expected a conflict target such as ON CONFLICT (id) before DO UPDATE (PostgreSQL requires one) but found 'UPDATE'",
      1,
      41,
    ],
    [
      'CREATE TABLE t (a INTEGER NULL NOT NULL)',
      'expected NULL or NOT NULL for column "a", not both but found \'NOT\'',
      1,
      32,
    ],
    [
      'SELECT a FROM t ORDER BY a LIMIT 1 ORDER BY b',
      "expected ';' or end of input but found 'ORDER'",
      1,
      36,
    ],
    ['(SELECT a FROM t LIMIT 1) LIMIT 2', 'expected a single LIMIT clause but found end of input', 1, 34],
  ];
  for (const [sql, expected, line, column] of mistakes) {
    it(`reports ${JSON.stringify(sql)} at line ${line}, column ${column}`, () => {
      const err = parseError(sql);
      assert.equal(err.code, 'ERR_SQL_SYNTAX', err.message);
      assert.equal(err.message, `syntax error at line ${line}, column ${column}: ${expected}`);
      assert.equal(err.position?.line, line);
      assert.equal(err.position?.column, column);
    });
  }

  it('reports an unknown type as 42704 and bad type modifiers as 22023', () => {
    assert.equal(parseError('CREATE TABLE t (a FOO)').sqlstate, '42704');
    assert.equal(parseError('CREATE TABLE t (a VARCHAR(0))').sqlstate, '22023');
    assert.equal(parseError('CREATE TABLE t (a NUMERIC(3, 5))').sqlstate, '22023');
  });
});

describe('unit: SQL parser, unsupported features', () => {
  const features: readonly (readonly [string, string])[] = [
    ['WITH x AS (SELECT 1) SELECT * FROM x', 'WITH (common table expressions)'],
    ['SELECT rank() OVER (ORDER BY a) FROM t', 'window functions (OVER)'],
    ['SELECT a FROM t WINDOW w AS (ORDER BY a)', 'window functions (WINDOW)'],
    ['SELECT count(*) FILTER (WHERE a) FROM t', 'aggregate FILTER clauses'],
    ['SELECT * FROM a RIGHT JOIN b ON a.x = b.x', 'RIGHT JOIN'],
    ['SELECT * FROM a FULL OUTER JOIN b ON a.x = b.x', 'FULL JOIN'],
    ['SELECT * FROM a NATURAL JOIN b', 'NATURAL JOIN'],
    ['SELECT * FROM a JOIN b USING (x)', 'JOIN … USING'],
    ['SELECT DISTINCT ON (a) a FROM t', 'DISTINCT ON'],
    ['SELECT * FROM t, LATERAL (SELECT 1) x', 'LATERAL'],
    ['SELECT * FROM s.t', 'schema-qualified names'],
    ['SELECT * FROM generate_series(1, 3)', 'table functions'],
    ['SELECT a FROM t FOR UPDATE', 'SELECT … FOR UPDATE/SHARE (row locks)'],
    ['SELECT a FROM t FETCH FIRST 1 ROWS ONLY', 'FETCH FIRST'],
    ['SELECT a FROM t GROUP BY ROLLUP (a)', 'ROLLUP, CUBE and GROUPING SETS'],
    ['VALUES (1), (2)', 'VALUES lists outside INSERT'],
    ["SELECT INTERVAL '1 day'", 'INTERVAL'],
    ['SELECT ARRAY[1, 2]', 'arrays'],
    ['SELECT (1, 2)', 'row constructors'],
    ["SELECT 'a' SIMILAR TO 'b'", 'SIMILAR TO'],
    ["SELECT 'a' ~ 'b'", 'operator ~'],
    ['SELECT a = ANY (SELECT b FROM u) FROM t', 'ANY (subquery or array comparison)'],
    ['SELECT a COLLATE "C" FROM t', 'COLLATE'],
    ["SELECT ts AT TIME ZONE 'UTC' FROM t", 'AT TIME ZONE'],
    ['CREATE TABLE t (a INTEGER CHECK (a > 0))', 'CHECK constraints'],
    ['CREATE TABLE t (a INTEGER REFERENCES u (id))', 'FOREIGN KEY constraints'],
    ['CREATE TABLE t (a INTEGER, FOREIGN KEY (a) REFERENCES u (id))', 'FOREIGN KEY constraints'],
    ['CREATE TABLE t (a DATE)', 'type DATE'],
    ['CREATE TABLE t (a TIMESTAMPTZ)', 'type TIMESTAMPTZ'],
    ['CREATE TABLE t (a TIMESTAMP WITH TIME ZONE)', 'TIMESTAMP WITH TIME ZONE'],
    ['CREATE TABLE t (a SERIAL)', 'type SERIAL'],
    ['CREATE TABLE t (a INTEGER[])', 'array types'],
    ['CREATE TABLE t (a CHAR(3))', 'CHAR(n) (blank-padded character type)'],
    ['CREATE TABLE t AS SELECT 1', 'CREATE TABLE … AS'],
    ['CREATE TEMPORARY TABLE t (a INTEGER)', 'CREATE TEMPORARY'],
    ['CREATE VIEW v AS SELECT 1', 'CREATE VIEW'],
    ['CREATE INDEX i ON t (lower(a))', 'indexes on expressions'],
    ['CREATE INDEX i ON t (a) WHERE a > 0', 'partial indexes (CREATE INDEX … WHERE)'],
    ['CREATE INDEX i ON t USING hash (a)', 'index methods other than btree'],
    ['DROP VIEW v', 'DROP VIEW'],
    ['ALTER TABLE t ADD COLUMN b INTEGER', 'ALTER'],
    ['TRUNCATE t', 'TRUNCATE'],
    ['SAVEPOINT s', 'SAVEPOINT'],
    ['ROLLBACK TO SAVEPOINT s', 'ROLLBACK TO SAVEPOINT'],
    ['UPDATE t SET a = u.a FROM u', 'UPDATE … FROM'],
    ['DELETE FROM t USING u', 'DELETE … USING'],
    ['INSERT INTO t DEFAULT VALUES', 'INSERT … DEFAULT VALUES'],
    ['INSERT INTO t VALUES (1) ON CONFLICT ON CONSTRAINT c DO NOTHING', 'ON CONFLICT ON CONSTRAINT'],
    ['UPDATE t SET (a, b) = (1, 2)', 'multi-column assignments (a, b) = (…)'],
    ['SELECT $$x$$', 'dollar-quoted strings'],
    ['EXPLAIN (FORMAT JSON) SELECT 1', 'EXPLAIN (options)'],
    ['SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'SET TRANSACTION'],
    ['COPY t FROM STDIN', 'COPY'],
  ];
  for (const [sql, feature] of features) {
    it(`refuses ${JSON.stringify(sql)} with 0A000 naming ${feature}`, () => {
      const err = parseError(sql);
      assert.equal(err.sqlstate, '0A000', err.message);
      assert.equal(err.code, 'ERR_SQL_FEATURE_NOT_SUPPORTED');
      assert.ok(err.message.startsWith(`${feature} is not supported`), err.message);
      assert.ok(err.position !== undefined);
    });
  }
});

describe('unit: SQL parser, hostile input', () => {
  it('refuses deeply nested parentheses with 54001, not a stack overflow', () => {
    const err = parseError(`SELECT ${'('.repeat(20_000)}1${')'.repeat(20_000)}`);
    assert.equal(err.sqlstate, '54001');
  });

  it('refuses deeply nested subqueries, NOT chains and minus chains with 54001', () => {
    assert.equal(parseError(`SELECT ${'(SELECT '.repeat(5000)}1${')'.repeat(5000)}`).sqlstate, '54001');
    assert.equal(parseError(`SELECT ${'NOT '.repeat(50_000)}TRUE`).sqlstate, '54001');
    assert.equal(parseError(`SELECT ${'- '.repeat(50_000)}1`).sqlstate, '54001');
  });

  it('refuses an expression tree deeper than the limit built by a long operator chain', () => {
    const chain = Array.from({ length: 5000 }, (_, i) => `a${i}`).join(' OR ');
    assert.equal(parseError(`SELECT ${chain}`).sqlstate, '54001');
    const ok = Array.from({ length: 300 }, (_, i) => `a${i}`).join(' + ');
    assert.equal(parseSql(`SELECT ${ok}`).length, 1);
  });

  it('bounds backtracking over ambiguous parentheses', () => {
    const bomb = `SELECT ${'((SELECT '.repeat(60)}1${') + 1)'.repeat(60)}`;
    assert.equal(parseError(bomb).sqlstate, '54001');
  });

  it('accepts nesting just under the limit and honours a custom limit', () => {
    assert.equal(parseSql(`SELECT ${'('.repeat(150)}1${')'.repeat(150)}`).length, 1);
    assert.throws(
      () => parseSql('SELECT ((1))', { maxDepth: 2 }),
      (e) => isSqlError(e, 'ERR_SQL_TOO_COMPLEX'),
    );
  });

  it('turns a stack overflow under a huge custom limit into 54001', () => {
    const deep = `SELECT ${'('.repeat(20_000)}1${')'.repeat(20_000)}`;
    assert.throws(
      () => parseSql(deep, { maxDepth: 1e9 }),
      (e) => isSqlError(e, 'ERR_SQL_TOO_COMPLEX'),
    );
  });

  it('refuses text over the length limit with 54000', () => {
    assert.throws(
      () => parseSql('SELECT 1', { maxLength: 3 }),
      (e) => isSqlError(e, 'ERR_SQL_PROGRAM_LIMIT'),
    );
  });

  it('maps every error code to a five-character SQLSTATE', () => {
    for (const [code, state] of Object.entries(SQL_ERROR_SQLSTATES)) {
      assert.match(state, /^[0-9A-Z]{5}$/, code);
      const err = new SqlError(code as keyof typeof SQL_ERROR_SQLSTATES, 'x');
      assert.equal(err.sqlstate, state);
      assert.equal(err.name, 'SqlError');
    }
    assert.equal(new Set(Object.values(SQL_ERROR_SQLSTATES)).size, Object.keys(SQL_ERROR_SQLSTATES).length);
  });
});
