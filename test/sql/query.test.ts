import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Session } from '../../src/sql/session.ts';
import { ENGINES, exec, openTestDatabase, rows, type TestDatabase } from './helpers.ts';

const SCHEMA = [
  'CREATE TABLE meter (id bigint PRIMARY KEY, name text NOT NULL, city text, capacity numeric(10,2))',
  'CREATE TABLE reading (meter_id bigint, ts timestamp, kwh double precision, quality integer, PRIMARY KEY (meter_id, ts))',
  'CREATE INDEX meter_city_idx ON meter (city)',
  'CREATE INDEX reading_kwh_idx ON reading (kwh)',
  "INSERT INTO meter VALUES (1, 'alpha', 'Paris', 10.5), (2, 'beta', 'Lyon', 20), (3, 'alphonse', 'Paris', NULL), (4, 'delta', NULL, 7.25)",
  `INSERT INTO reading VALUES
    (1, '2024-01-01 00:00', 1.0, 1), (1, '2024-01-01 00:15', 2.0, 1), (1, '2024-01-01 00:30', 3.0, NULL), (1, '2024-01-02 00:00', 4.0, 2),
    (2, '2024-01-01 00:00', 10.0, 1), (2, '2024-01-01 00:15', 20.0, NULL),
    (4, '2024-01-01 00:00', 0.5, 3)`,
];

for (const engine of ENGINES) {
  describe(`queries on ${engine}`, () => {
    let t: TestDatabase;
    let s: Session;
    before(async () => {
      t = await openTestDatabase(engine);
      s = t.session;
      await exec(s, ...SCHEMA);
    });
    after(async () => t.close());

    it('reads one row by its whole primary key', async () => {
      assert.deepEqual(
        await rows(s, 'SELECT kwh, quality FROM reading WHERE meter_id = $1 AND ts = $2', [
          1n,
          '2024-01-01 00:15',
        ]),
        [[2, 1]],
      );
      assert.deepEqual(await rows(s, 'SELECT name FROM meter WHERE id = 3'), [['alphonse']]);
      assert.deepEqual(await rows(s, 'SELECT name FROM meter WHERE id = 99'), []);
    });

    it('reads a primary-key prefix in key order', async () => {
      const r = await rows(s, 'SELECT ts FROM reading WHERE meter_id = 1');
      assert.deepEqual(r, [
        ['2024-01-01 00:00:00'],
        ['2024-01-01 00:15:00'],
        ['2024-01-01 00:30:00'],
        ['2024-01-02 00:00:00'],
      ]);
    });

    it('reads ranges: comparisons, BETWEEN, and combined bounds', async () => {
      const sql =
        "SELECT kwh FROM reading WHERE meter_id = 1 AND ts >= '2024-01-01 00:15' AND ts < '2024-01-02'";
      assert.deepEqual(await rows(s, sql), [[2], [3]]);
      assert.deepEqual(
        await rows(
          s,
          "SELECT kwh FROM reading WHERE meter_id = 1 AND ts BETWEEN '2024-01-01 00:15' AND '2024-01-01 00:30'",
        ),
        [[2], [3]],
      );
      assert.deepEqual(await rows(s, 'SELECT id FROM meter WHERE id > 2'), [[3n], [4n]]);
      assert.deepEqual(await rows(s, 'SELECT id FROM meter WHERE id > 1 AND id > 2 AND id <= 3'), [[3n]]);
      assert.deepEqual(await rows(s, 'SELECT id FROM meter WHERE id NOT BETWEEN 2 AND 3 ORDER BY id'), [
        [1n],
        [4n],
      ]);
    });

    it('reads IN lists as several points', async () => {
      assert.deepEqual(await rows(s, 'SELECT name FROM meter WHERE id IN (4, 2, 99, 2)'), [
        ['beta'],
        ['delta'],
      ]);
      assert.deepEqual(await rows(s, 'SELECT name FROM meter WHERE id NOT IN (1, 2, 3) ORDER BY id'), [
        ['delta'],
      ]);
      assert.deepEqual(await rows(s, 'SELECT name FROM meter WHERE id NOT IN (1, NULL)'), []);
    });

    it('matches LIKE patterns, a prefix one through a range', async () => {
      assert.deepEqual(await rows(s, "SELECT name FROM meter WHERE name LIKE 'alph%' ORDER BY name"), [
        ['alpha'],
        ['alphonse'],
      ]);
      assert.deepEqual(await rows(s, "SELECT name FROM meter WHERE name LIKE '%ta' ORDER BY name"), [
        ['beta'],
        ['delta'],
      ]);
      assert.deepEqual(await rows(s, "SELECT name FROM meter WHERE name LIKE '_eta'"), [['beta']]);
      assert.deepEqual(await rows(s, "SELECT name FROM meter WHERE name ILIKE 'BETA'"), [['beta']]);
      assert.deepEqual(await rows(s, "SELECT count(*) FROM meter WHERE name NOT LIKE 'a%'"), [[2n]]);
      assert.deepEqual(await rows(s, "SELECT 'a_c' LIKE 'a\\_c', 'abc' LIKE 'a\\_c'"), [[true, false]]);
    });

    it('uses secondary indexes for equality and ranges', async () => {
      assert.deepEqual(await rows(s, "SELECT id FROM meter WHERE city = 'Paris' ORDER BY id"), [[1n], [3n]]);
      assert.deepEqual(await rows(s, 'SELECT meter_id, kwh FROM reading WHERE kwh >= 4 ORDER BY kwh'), [
        [1n, 4],
        [2n, 10],
        [2n, 20],
      ]);
      assert.deepEqual(await rows(s, 'SELECT id FROM meter WHERE city IS NULL'), [[4n]]);
    });

    it('filters full scans with IS NULL, IS NOT NULL and three-valued logic', async () => {
      assert.deepEqual(await rows(s, 'SELECT count(*) FROM reading WHERE quality IS NULL'), [[2n]]);
      assert.deepEqual(await rows(s, 'SELECT count(*) FROM reading WHERE quality IS NOT NULL'), [[5n]]);
      assert.deepEqual(await rows(s, 'SELECT count(*) FROM reading WHERE quality = 1 OR quality <> 1'), [
        [5n],
      ]);
      assert.deepEqual(await rows(s, 'SELECT NULL AND FALSE, NULL OR TRUE, NULL AND TRUE, NOT (NULL = 1)'), [
        [false, true, null, null],
      ]);
      assert.deepEqual(
        await rows(s, 'SELECT NULL IS DISTINCT FROM NULL, 1 IS DISTINCT FROM NULL, (1 = 1) IS TRUE'),
        [[false, true, true]],
      );
    });

    it('orders by columns, expressions, aliases and ordinals, with NULLS FIRST/LAST', async () => {
      assert.deepEqual(await rows(s, 'SELECT city FROM meter ORDER BY city'), [
        ['Lyon'],
        ['Paris'],
        ['Paris'],
        [null],
      ]);
      assert.deepEqual(await rows(s, 'SELECT city FROM meter ORDER BY city DESC'), [
        [null],
        ['Paris'],
        ['Paris'],
        ['Lyon'],
      ]);
      assert.deepEqual(await rows(s, 'SELECT city FROM meter ORDER BY city NULLS FIRST'), [
        [null],
        ['Lyon'],
        ['Paris'],
        ['Paris'],
      ]);
      assert.deepEqual(
        await rows(s, 'SELECT id, capacity * 2 AS c FROM meter ORDER BY c DESC NULLS LAST, 1'),
        [
          [2n, '40.00'],
          [1n, '21.00'],
          [4n, '14.50'],
          [3n, null],
        ],
      );
      assert.deepEqual(await rows(s, 'SELECT name FROM meter ORDER BY length(name), name'), [
        ['beta'],
        ['alpha'],
        ['delta'],
        ['alphonse'],
      ]);
      assert.deepEqual(
        await rows(s, 'SELECT ts, kwh FROM reading WHERE meter_id = 1 ORDER BY ts DESC LIMIT 2'),
        [
          ['2024-01-02 00:00:00', 4],
          ['2024-01-01 00:30:00', 3],
        ],
      );
    });

    it('applies LIMIT and OFFSET, also from parameters', async () => {
      assert.deepEqual(await rows(s, 'SELECT id FROM meter ORDER BY id LIMIT 2 OFFSET 1'), [[2n], [3n]]);
      assert.deepEqual(await rows(s, 'SELECT id FROM meter ORDER BY id LIMIT $1 OFFSET $2', [1, 3]), [[4n]]);
      assert.deepEqual(await rows(s, 'SELECT id FROM meter LIMIT 0'), []);
      assert.deepEqual(await rows(s, 'SELECT id FROM meter ORDER BY id OFFSET 3'), [[4n]]);
    });

    it('removes duplicates with DISTINCT', async () => {
      assert.deepEqual(await rows(s, 'SELECT DISTINCT city FROM meter ORDER BY city'), [
        ['Lyon'],
        ['Paris'],
        [null],
      ]);
      assert.deepEqual(
        await rows(s, 'SELECT DISTINCT meter_id, quality FROM reading WHERE meter_id = 1 ORDER BY 2'),
        [
          [1n, 1],
          [1n, 2],
          [1n, null],
        ],
      );
    });

    it('aggregates with GROUP BY, HAVING and COUNT(DISTINCT)', async () => {
      const r = await rows(
        s,
        'SELECT meter_id, count(*), count(quality), sum(kwh), avg(kwh), min(ts), max(kwh) FROM reading GROUP BY meter_id ORDER BY meter_id',
      );
      assert.deepEqual(r, [
        [1n, 4n, 3n, 10, 2.5, '2024-01-01 00:00:00', 4],
        [2n, 2n, 1n, 30, 15, '2024-01-01 00:00:00', 20],
        [4n, 1n, 1n, 0.5, 0.5, '2024-01-01 00:00:00', 0.5],
      ]);
      assert.deepEqual(
        await rows(s, 'SELECT meter_id FROM reading GROUP BY meter_id HAVING count(*) > 1 ORDER BY 1'),
        [[1n], [2n]],
      );
      assert.deepEqual(
        await rows(s, 'SELECT count(DISTINCT quality), count(DISTINCT meter_id) FROM reading'),
        [[3n, 3n]],
      );
      assert.deepEqual(await rows(s, 'SELECT sum(quality), avg(quality) FROM reading WHERE meter_id = 1'), [
        [4n, '1.3333333333333333'],
      ]);
      assert.deepEqual(await rows(s, 'SELECT sum(capacity), max(capacity), avg(capacity) FROM meter'), [
        ['37.75', '20.00', '12.5833333333333333'],
      ]);
      assert.deepEqual(
        await rows(s, 'SELECT count(*), sum(kwh), max(kwh) FROM reading WHERE meter_id = 99'),
        [[0n, null, null]],
      );
      assert.deepEqual(
        await rows(
          s,
          'SELECT quality % 2 AS odd, count(*) FROM reading WHERE quality IS NOT NULL GROUP BY quality % 2 ORDER BY odd',
        ),
        [
          [0, 1n],
          [1, 4n],
        ],
      );
      assert.deepEqual(
        await rows(s, "SELECT date_trunc('day', ts) AS d, count(*) FROM reading GROUP BY 1 ORDER BY 1"),
        [
          ['2024-01-01 00:00:00', 6n],
          ['2024-01-02 00:00:00', 1n],
        ],
      );
    });

    it('joins: INNER and LEFT, merge, hash and nested loop', async () => {
      const inner = await rows(
        s,
        'SELECT m.name, r.kwh FROM meter m JOIN reading r ON r.meter_id = m.id WHERE r.kwh > 2 ORDER BY r.kwh',
      );
      assert.deepEqual(inner, [
        ['alpha', 3],
        ['alpha', 4],
        ['beta', 10],
        ['beta', 20],
      ]);
      const left = await rows(
        s,
        'SELECT m.id, count(r.kwh) FROM meter m LEFT JOIN reading r ON r.meter_id = m.id GROUP BY m.id ORDER BY m.id',
      );
      assert.deepEqual(left, [
        [1n, 4n],
        [2n, 2n],
        [3n, 0n],
        [4n, 1n],
      ]);
      const onFilter = await rows(
        s,
        'SELECT m.id, r.kwh FROM meter m LEFT JOIN reading r ON r.meter_id = m.id AND r.kwh > 5 ORDER BY m.id',
      );
      assert.deepEqual(onFilter, [
        [1n, null],
        [2n, 10],
        [2n, 20],
        [3n, null],
        [4n, null],
      ]);
      const nonEqui = await rows(
        s,
        'SELECT a.id, b.id FROM meter a JOIN meter b ON a.capacity < b.capacity ORDER BY 1, 2',
      );
      assert.deepEqual(nonEqui, [
        [1n, 2n],
        [4n, 1n],
        [4n, 2n],
      ]);
      const comma = await rows(s, 'SELECT count(*) FROM meter a, meter b WHERE a.id = b.id');
      assert.deepEqual(comma, [[4n]]);
      const three = await rows(
        s,
        'SELECT a.name, c.name FROM meter a JOIN meter b ON a.id = b.id JOIN meter c ON c.id = b.id + 1 ORDER BY 1',
      );
      assert.deepEqual(three, [
        ['alpha', 'beta'],
        ['alphonse', 'delta'],
        ['beta', 'alphonse'],
      ]);
      assert.deepEqual(await rows(s, 'SELECT count(*) FROM meter CROSS JOIN reading'), [[28n]]);
      const reordered = await rows(
        s,
        "SELECT * FROM meter a, reading r, meter c WHERE c.id = r.meter_id AND r.ts = '2024-01-02' AND a.id = c.id + 1",
      );
      assert.deepEqual(reordered, [
        [2n, 'beta', 'Lyon', '20.00', 1n, '2024-01-02 00:00:00', 4, 2, 1n, 'alpha', 'Paris', '10.50'],
      ]);
    });

    it('evaluates scalar, IN and EXISTS subqueries, correlated or not', async () => {
      assert.deepEqual(
        await rows(s, 'SELECT name FROM meter WHERE id = (SELECT max(meter_id) FROM reading)'),
        [['delta']],
      );
      assert.deepEqual(
        await rows(s, 'SELECT name FROM meter WHERE id IN (SELECT meter_id FROM reading WHERE kwh > 5)'),
        [['beta']],
      );
      assert.deepEqual(
        await rows(s, 'SELECT name FROM meter WHERE id NOT IN (SELECT meter_id FROM reading) ORDER BY 1'),
        [['alphonse']],
      );
      assert.deepEqual(
        await rows(s, 'SELECT count(*) FROM meter WHERE id NOT IN (SELECT quality FROM reading)'),
        [[0n]],
      );
      const exists = await rows(
        s,
        'SELECT id FROM meter m WHERE EXISTS (SELECT 1 FROM reading r WHERE r.meter_id = m.id AND r.kwh > 3) ORDER BY id',
      );
      assert.deepEqual(exists, [[1n], [2n]]);
      const notExists = await rows(
        s,
        'SELECT id FROM meter m WHERE NOT EXISTS (SELECT 1 FROM reading r WHERE r.meter_id = m.id)',
      );
      assert.deepEqual(notExists, [[3n]]);
      const scalar = await rows(
        s,
        'SELECT id, (SELECT sum(kwh) FROM reading r WHERE r.meter_id = m.id) FROM meter m ORDER BY id',
      );
      assert.deepEqual(scalar, [
        [1n, 10],
        [2n, 30],
        [3n, null],
        [4n, 0.5],
      ]);
      const derived = await rows(
        s,
        'SELECT d.m, d.n FROM (SELECT meter_id AS m, count(*) AS n FROM reading GROUP BY meter_id) d WHERE d.n > 1 ORDER BY d.m',
      );
      assert.deepEqual(derived, [
        [1n, 4n],
        [2n, 2n],
      ]);
      await assert.rejects(s.query('SELECT (SELECT id FROM meter)'), { sqlstate: '21000' });
    });

    it('computes CASE, COALESCE, NULLIF, GREATEST and arithmetic by type', async () => {
      const r = await rows(
        s,
        "SELECT id, CASE WHEN capacity > 10 THEN 'big' WHEN capacity IS NULL THEN 'none' ELSE 'small' END FROM meter ORDER BY id",
      );
      assert.deepEqual(r, [
        [1n, 'big'],
        [2n, 'big'],
        [3n, 'none'],
        [4n, 'small'],
      ]);
      assert.deepEqual(
        await rows(s, "SELECT CASE city WHEN 'Paris' THEN 1 ELSE 0 END FROM meter ORDER BY id"),
        [[1], [0], [1], [0]],
      );
      assert.deepEqual(await rows(s, "SELECT coalesce(city, 'none') FROM meter WHERE id = 4"), [['none']]);
      assert.deepEqual(await rows(s, 'SELECT nullif(1, 1), nullif(1, 2), greatest(1, 5, 3), least(2.5, 1)'), [
        [null, 1, 5, '1'],
      ]);
      assert.deepEqual(
        await rows(s, 'SELECT 7 / 2, -7 / 2, 7 % 3, 7.0 / 2, 7 / 2.0::double precision, 2 ^ 10'),
        [[3, -3, 1, '3.5000000000000000', 3.5, 1024]],
      );
      assert.deepEqual(
        await rows(s, 'SELECT 0.1 + 0.2 = 0.3, 0.1::double precision + 0.2 = 0.3::double precision'),
        [[true, false]],
      );
      assert.deepEqual(await rows(s, 'SELECT 9223372036854775807 - 1, 2147483647::bigint + 1'), [
        [9223372036854775806n, 2147483648n],
      ]);
      await assert.rejects(s.query('SELECT 2147483647 + 1'), { sqlstate: '22003' });
      await assert.rejects(s.query('SELECT 1 / 0'), { sqlstate: '22012' });
      assert.deepEqual(
        await rows(
          s,
          "SELECT upper(name) || '-' || length(name), substr(name, 2, 3) FROM meter WHERE id = 1",
        ),
        [['ALPHA-5', 'lph']],
      );
      assert.deepEqual(
        await rows(s, "SELECT abs(-3), round(2.567, 2), floor(2.5::double precision), '42'::integer + 1"),
        [[3, '2.57', 2, 43]],
      );
    });

    it('combines queries with UNION, INTERSECT and EXCEPT', async () => {
      assert.deepEqual(await rows(s, 'SELECT id FROM meter UNION SELECT meter_id FROM reading ORDER BY 1'), [
        [1n],
        [2n],
        [3n],
        [4n],
      ]);
      assert.deepEqual(
        await rows(s, 'SELECT meter_id FROM reading WHERE meter_id < 2 UNION ALL SELECT 1 ORDER BY 1'),
        [[1n], [1n], [1n], [1n], [1n]],
      );
      assert.deepEqual(
        await rows(s, 'SELECT id FROM meter INTERSECT SELECT meter_id FROM reading ORDER BY 1'),
        [[1n], [2n], [4n]],
      );
      assert.deepEqual(await rows(s, 'SELECT id FROM meter EXCEPT SELECT meter_id FROM reading'), [[3n]]);
    });

    it('streams the rows of a query as the scan reads them', async () => {
      const seen: unknown[] = [];
      for await (const row of s.stream('SELECT ts FROM reading WHERE meter_id = $1', [1n])) {
        seen.push(row[0]);
        if (seen.length === 3) break;
      }
      assert.deepEqual(seen, ['2024-01-01 00:00:00', '2024-01-01 00:15:00', '2024-01-01 00:30:00']);
      assert.deepEqual(await rows(s, 'SELECT count(*) FROM reading'), [[7n]], 'the session is free again');
      await assert.rejects(async () => {
        for await (const _ of s.stream('DELETE FROM reading'));
      }, TypeError);
    });

    it('compares and orders timestamps and numerics exactly', async () => {
      assert.deepEqual(
        await rows(s, "SELECT count(*) FROM reading WHERE ts > TIMESTAMP '2024-01-01 00:15'"),
        [[2n]],
      );
      assert.deepEqual(await rows(s, 'SELECT capacity FROM meter WHERE capacity = 20.000'), [['20.00']]);
      assert.deepEqual(await rows(s, "SELECT '2024-01-01 00:00:00.5'::timestamp, 1.50::numeric(5,1)"), [
        ['2024-01-01 00:00:00.5', '1.5'],
      ]);
      assert.deepEqual(
        await rows(s, 'SELECT 1 WHERE $1::timestamp < now()', [new Date('2020-01-01T00:00:00Z')]),
        [[1]],
      );
    });
  });
}
