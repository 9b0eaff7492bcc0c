import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isSqlError } from '../../src/sql/errors.ts';
import type { Session } from '../../src/sql/session.ts';
import { exec, openTestDatabase, type TestDatabase } from './helpers.ts';

describe('errors', () => {
  let t: TestDatabase;
  let s: Session;
  before(async () => {
    t = await openTestDatabase();
    s = t.session;
    await exec(
      s,
      'CREATE TABLE a (id integer PRIMARY KEY, v text, n integer)',
      'CREATE TABLE b (id integer PRIMARY KEY, v text)',
      "INSERT INTO a VALUES (1, 'x', 1), (2, 'y', 1)",
    );
  });
  after(async () => t.close());

  it('reports syntax errors with SQLSTATE 42601, line and column', async () => {
    const err = await s.query('SELECT id,\n  v FROM a WHERE id = = 1').catch((e: unknown) => e);
    assert.ok(isSqlError(err, 'ERR_SQL_SYNTAX'));
    assert.equal(err.sqlstate, '42601');
    assert.deepEqual([err.position?.line, err.position?.column], [2, 23]);
    assert.match(err.message, /line 2, column 23/);
  });

  const cases: [string, string, string][] = [
    ['SELECT * FROM missing', '42P01', 'undefined table'],
    ['SELECT nope FROM a', '42703', 'undefined column'],
    ['SELECT id FROM a, b', '42702', 'ambiguous column'],
    ["INSERT INTO a VALUES (1, 'z', 0)", '23505', 'unique violation'],
    ['INSERT INTO a (v) VALUES (NULL)', '23502', 'not-null violation'],
    ['SELECT 1 / 0', '22012', 'division by zero'],
    ["SELECT 'abc'::integer", '22P02', 'invalid text representation'],
    ['SELECT 2147483647 + 1', '22003', 'numeric out of range'],
    ["SELECT '2024-13-01'::timestamp", '22008', 'datetime out of range'],
    ["SELECT 'yesterday'::timestamp", '22007', 'invalid datetime'],
    ['SELECT (SELECT id FROM a)', '21000', 'cardinality'],
    ['SELECT v, count(*) FROM a', '42803', 'grouping'],
    ['SELECT id FROM a WHERE count(*) > 1', '42803', 'aggregate in WHERE'],
    ['SELECT id FROM a WHERE v', '42804', 'datatype mismatch'],
    ["SELECT 'a'::text + 1", '42883', 'undefined operator'],
    ['SELECT nofunc(1)', '42883', 'undefined function'],
    ['SELECT id FROM a ORDER BY 5', '42P10', 'invalid ORDER BY position'],
    ['SELECT * FROM a x, b x', '42712', 'duplicate alias'],
    ['ALTER TABLE a ADD COLUMN z integer', '0A000', 'unsupported statement'],
    ['DROP INDEX nope', '42704', 'undefined object'],
    ['SHOW nope', '42704', 'unknown setting'],
  ];
  for (const [sql, sqlstate, what] of cases) {
    it(`raises ${sqlstate} (${what}) for ${sql}`, async () => {
      await assert.rejects(s.query(sql), (err: unknown) => {
        assert.ok(isSqlError(err), `a SqlError, got ${String(err)}`);
        assert.equal(err.sqlstate, sqlstate, err.message);
        return true;
      });
    });
  }

  it('raises 08P01 for a wrong number of parameters, and 42601 for parameters with several statements', async () => {
    await assert.rejects(s.query('SELECT $1::integer', []), { sqlstate: '08P01' });
    await assert.rejects(s.query('SELECT 1; SELECT 2', [1]), { sqlstate: '42601' });
  });

  it('raises 57014 when the statement is cancelled', async () => {
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(s.query('SELECT * FROM a', [], { signal: ac.signal }), { sqlstate: '57014' });
  });

  it('points at the offending token of a semantic error', async () => {
    const err = await s.query('SELECT id,\n  nope FROM a').catch((e: unknown) => e);
    assert.ok(isSqlError(err, 'ERR_SQL_UNDEFINED_COLUMN'));
    assert.deepEqual([err.position?.line, err.position?.column], [2, 3]);
  });
});
