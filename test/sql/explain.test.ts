import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Session } from '../../src/sql/session.ts';
import { exec, explain, openTestDatabase, rows, type TestDatabase } from './helpers.ts';

describe('EXPLAIN', () => {
  let t: TestDatabase;
  let s: Session;
  before(async () => {
    t = await openTestDatabase();
    s = t.session;
    await exec(
      s,
      'CREATE TABLE reading (meter_id bigint, ts timestamp, kwh double precision, PRIMARY KEY (meter_id, ts))',
      'CREATE TABLE meter (id bigint PRIMARY KEY, name text, code text UNIQUE)',
      'CREATE TABLE note (meter integer, body text)',
      'CREATE INDEX meter_name_idx ON meter (name)',
      "INSERT INTO meter VALUES (1, 'a', 'x1'), (2, 'b', 'x2')",
    );
  });
  after(async () => t.close());

  it('shows a point get with the key in the seed form', async () => {
    const plan = await explain(s, "SELECT * FROM reading WHERE meter_id = 42 AND ts = '2024-03-01 00:15'");
    assert.match(
      plan,
      /^Point Get on reading using reading_pkey\n {2}Key: reading\|42\|2024-03-01T00:15:00Z$/,
    );
  });

  it('shows one point per IN-list value, in key order', async () => {
    const plan = await explain(s, 'SELECT * FROM meter WHERE id IN (3, 1, 2)');
    assert.match(
      plan,
      /Point Get on meter using meter_pkey\n {2}Key: meter\|1\n {2}Key: meter\|2\n {2}Key: meter\|3/,
    );
  });

  it('shows a prefix scan for an equality on a key prefix', async () => {
    assert.match(
      await explain(s, 'SELECT * FROM reading WHERE meter_id = $1', [7n]),
      /Prefix Scan on reading using reading_pkey\n {2}Prefix: reading\|7/,
    );
  });

  it('shows a range scan with its bounds for comparisons and BETWEEN', async () => {
    const plan = await explain(
      s,
      "SELECT * FROM reading WHERE meter_id = 7 AND ts >= '2024-03-01' AND ts < '2024-04-01'",
    );
    assert.match(
      plan,
      /Range Scan on reading using reading_pkey\n {2}Range: \[reading\|7\|2024-03-01T00:00:00Z, reading\|7\|2024-04-01T00:00:00Z\)/,
    );
    assert.doesNotMatch(plan, /Filter/, 'the bounds are not re-checked');
    assert.match(
      await explain(s, 'SELECT * FROM meter WHERE id BETWEEN 2 AND 5'),
      /Range: \[meter\|2, meter\|6\)/,
    );
  });

  it('uses a secondary index, and a LIKE prefix as a range', async () => {
    assert.match(
      await explain(s, "SELECT * FROM meter WHERE name = 'a'"),
      /Index Prefix Scan on meter using meter_name_idx\n {2}Prefix: meter@meter_name_idx\|a/,
    );
    const like = await explain(s, "SELECT * FROM meter WHERE name LIKE 'ab%'");
    assert.match(
      like,
      /Index Range Scan on meter using meter_name_idx\n {2}Range: \[meter@meter_name_idx\|ab…, meter@meter_name_idx\|ac…\)/,
    );
    assert.match(
      await explain(s, "SELECT * FROM meter WHERE code = 'x1'"),
      /Index Prefix Scan on meter using meter_code_key/,
    );
  });

  it('falls back to a full scan with a filter', async () => {
    const plan = await explain(s, 'SELECT * FROM reading WHERE kwh > 3');
    assert.match(plan, /^Full Scan on reading\n {2}Prefix: reading\n {2}Filter: kwh > 3$/);
  });

  it('reads backwards instead of sorting when ORDER BY follows the key, and pushes LIMIT down', async () => {
    const plan = await explain(s, 'SELECT * FROM reading WHERE meter_id = 1 ORDER BY ts DESC LIMIT 5');
    assert.match(plan, /Prefix Scan on reading using reading_pkey \(reverse\)/);
    assert.match(plan, /Limit: 5/);
    assert.doesNotMatch(plan, /Sort/);
    assert.match(await explain(s, 'SELECT * FROM reading ORDER BY kwh'), /^Sort/);
  });

  it('chooses a merge join along primary keys and a hash join otherwise', async () => {
    assert.match(
      await explain(s, 'SELECT * FROM meter m JOIN reading r ON r.meter_id = m.id'),
      /^Merge Join \(INNER\)/m,
    );
    assert.match(
      await explain(s, 'SELECT * FROM meter m LEFT JOIN reading r ON r.meter_id = m.id'),
      /^Merge Join \(LEFT\)/m,
    );
    assert.match(
      await explain(s, 'SELECT * FROM meter m JOIN note n ON n.meter = m.id'),
      /Hash Join \(INNER\)/,
    );
    assert.match(
      await explain(s, 'SELECT * FROM meter m JOIN note n ON n.meter < m.id'),
      /Nested Loop \(INNER\)/,
    );
  });

  it('describes aggregation, DML and ANALYZE row counts', async () => {
    assert.match(
      await explain(s, 'SELECT name, count(*) FROM meter GROUP BY name'),
      /HashAggregate\n {5}Group Key: name\n {5}Aggregates: count\(\*\)/,
    );
    assert.match(
      await explain(s, 'DELETE FROM meter WHERE id = 9'),
      /^Delete on meter\n-> Point Get on meter using meter_pkey/,
    );
    const analyzed = (await rows(s, 'EXPLAIN ANALYZE SELECT * FROM meter')).map((r) => r[0]).join('\n');
    assert.match(analyzed, /Full Scan on meter \(actual rows=2\)/);
    assert.match(await explain(s, 'SELECT * FROM meter WHERE id = $1'), /computed from the parameters/);
  });
});
