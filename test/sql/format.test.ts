import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatExpr, formatStatement } from '../../src/sql/format.ts';
import { parseSql, parseStatement } from '../../src/sql/parser.ts';
import { assertRoundTrip } from './ast-shape.ts';
import { VALID_SQL } from './corpus.ts';

function formatted(sql: string): string {
  return formatStatement(parseStatement(sql));
}

describe('unit: SQL formatter', () => {
  it('round-trips every statement of the corpus', () => {
    for (const sql of VALID_SQL) {
      for (const statement of parseSql(sql)) assertRoundTrip(statement, sql);
    }
  });

  it('prints the fewest parentheses that keep the meaning', () => {
    assert.equal(
      formatted('SELECT ((a + b)) * c, a - (b - c), (a - b) - c, -(a ^ 2), (-a) ^ 2, a - -1, NOT (a AND b)'),
      'SELECT (a + b) * c, a - (b - c), a - b - c, -(a ^ 2), -a ^ 2, a - -1, NOT (a AND b)',
    );
    assert.equal(
      formatted('SELECT (a = b) IS NULL, a = (b IS NULL)'),
      'SELECT a = b IS NULL, a = (b IS NULL)',
    );
    assert.equal(formatted('SELECT a BETWEEN (1 + 2) AND (b || c)'), 'SELECT a BETWEEN 1 + 2 AND b || c');
  });

  it('normalises spelling: keywords upper-case, canonical types, CAST for ::, quotes only where needed', () => {
    assert.equal(
      formatted('select x::int8, timestamp \'2024-01-01\', "Col", "select", "plain" from T where a != b'),
      'SELECT CAST(x AS BIGINT), CAST(\'2024-01-01\' AS TIMESTAMP), "Col", "select", plain FROM t WHERE a <> b',
    );
    assert.equal(formatted("insert into t values ('it''s')"), "INSERT INTO t VALUES ('it''s')");
  });

  it('formats DDL deterministically', () => {
    assert.equal(
      formatted(
        'create table if not exists t (id bigint primary key, v numeric(10,2) default 0 not null, primary key (id desc))',
      ),
      'CREATE TABLE IF NOT EXISTS t (id BIGINT PRIMARY KEY, v NUMERIC(10, 2) NOT NULL DEFAULT 0, PRIMARY KEY (id DESC))',
    );
    assert.equal(
      formatted('create unique index i on t (a desc, b)'),
      'CREATE UNIQUE INDEX i ON t (a DESC, b)',
    );
  });

  it('parenthesises set operations that need it', () => {
    assert.equal(
      formatted('SELECT 1 UNION (SELECT 2 UNION SELECT 3)'),
      'SELECT 1 UNION (SELECT 2 UNION SELECT 3)',
    );
    assert.equal(
      formatted('(SELECT 1 UNION SELECT 2) UNION SELECT 3'),
      'SELECT 1 UNION SELECT 2 UNION SELECT 3',
    );
    assert.equal(formatted('(SELECT 1 LIMIT 1) UNION SELECT 2'), '(SELECT 1 LIMIT 1) UNION SELECT 2');
  });

  it('formats a single expression', () => {
    const s = parseStatement('SELECT coalesce(a, 1) + count(*)');
    assert.ok(s.kind === 'Select' && s.columns[0]!.kind === 'SelectExpr');
    assert.equal(formatExpr(s.columns[0]!.expr), 'coalesce(a, 1) + count(*)');
  });
});
