import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Session } from '../../src/sql/session.ts';
import { ENGINES, exec, openTestDatabase, rows, type TestDatabase } from './helpers.ts';

describe('prepared statements', () => {
  let t: TestDatabase;
  let s: Session;
  beforeEach(async () => {
    t = await openTestDatabase();
    s = t.session;
    await exec(
      s,
      'CREATE TABLE reading (meter_id bigint, ts timestamp, kwh double precision, PRIMARY KEY (meter_id, ts))',
    );
  });
  afterEach(async () => t.close());

  it('parses and plans once, however many times it runs', async () => {
    const insert = await s.prepare('INSERT INTO reading VALUES ($1, $2, $3)');
    assert.deepEqual(insert.paramTypes, ['bigint', 'timestamp', 'double']);
    const before = t.db.stats();
    for (let i = 0; i < 50; i++) await insert.query([1n, new Date(Date.UTC(2024, 0, 1, 0, 15 * i)), i / 2]);
    const select = await s.prepare('SELECT kwh FROM reading WHERE meter_id = $1 AND ts = $2');
    for (let i = 0; i < 4; i++) {
      const ts = `2024-01-01 00:${String(15 * i).padStart(2, '0')}`;
      assert.deepEqual((await select.query([1, ts])).rows, [[i / 2]]);
    }
    const after = t.db.stats();
    assert.equal(after.parses - before.parses, 1, 'only prepare() parsed');
    assert.equal(after.plans - before.plans, 1, 'only prepare() planned');
    assert.deepEqual(await rows(s, 'SELECT count(*) FROM reading'), [[50n]]);
  });

  it('caches the plans of query() by SQL text', async () => {
    await s.query('SELECT count(*) FROM reading WHERE meter_id = $1', [1n]);
    const before = t.db.stats();
    for (let i = 0; i < 10; i++)
      await s.query('SELECT count(*) FROM reading WHERE meter_id = $1', [BigInt(i)]);
    assert.deepEqual(t.db.stats(), before);
  });

  it('re-plans after DDL changes the table', async () => {
    const select = await s.prepare('SELECT * FROM reading WHERE meter_id = $1');
    await s.query("INSERT INTO reading VALUES (1, '2024-01-01', 1)");
    assert.equal(select.columns.length, 3);
    await exec(
      s,
      'DROP TABLE reading',
      'CREATE TABLE reading (meter_id bigint PRIMARY KEY, note text)',
      "INSERT INTO reading VALUES (1, 'n')",
    );
    assert.deepEqual((await select.query([1n])).rows, [[1n, 'n']]);
    assert.equal(select.columns.length, 2);
  });

  it('binds JavaScript values to the inferred types and checks their number', async () => {
    const p = await s.prepare("SELECT $1::integer + 1, $2 || '!', $3 = 1.5");
    assert.deepEqual((await p.query(['41', 'hi', 1.5])).rows, [[42, 'hi!', true]]);
    await assert.rejects(p.query([1]), { sqlstate: '08P01' });
    const typed = await s.prepare('SELECT $1::bigint = 5, $2::timestamp, $3::integer');
    assert.deepEqual((await typed.query([5, 1_700_000_000_000, 7n])).rows, [
      [true, '2023-11-14 22:13:20', 7],
    ]);
    await assert.rejects(typed.query([1.5, 0, 0]), { sqlstate: '22P02' });
    await assert.rejects(p.query(['x', 'a', 1]), { sqlstate: '22P02' });
    const ins = await s.prepare('INSERT INTO reading VALUES ($1, $2, $3) RETURNING ts');
    assert.deepEqual((await ins.query([2, new Date('2024-05-06T07:08:09.123Z'), null])).rows, [
      ['2024-05-06 07:08:09.123'],
    ]);
  });

  it('runs inside transactions like any statement', async () => {
    const ins = await s.prepare('INSERT INTO reading VALUES ($1, $2, 0)');
    await s.query('BEGIN');
    await ins.query([1n, '2024-01-01']);
    await ins.query([1n, '2024-01-02']);
    await s.query('ROLLBACK');
    assert.deepEqual(await rows(s, 'SELECT count(*) FROM reading'), [[0n]]);
  });
});

// A single-row prepared INSERT in a transaction runs without awaiting where the engine answers the
// key check at once (memory, lmdb; the secure store once its directory knows the blocks): the
// same results and errors as the general path, on every engine.
for (const engine of ENGINES) {
  describe(`prepared single-row INSERT in a transaction (${engine})`, () => {
    let t: TestDatabase;
    let s: Session;
    beforeEach(async () => {
      t = await openTestDatabase(engine);
      s = t.session;
      await exec(s, 'CREATE TABLE r (m bigint, ts bigint, v double precision NOT NULL, PRIMARY KEY (m, ts))');
    });
    afterEach(async () => t.close());

    it('inserts in order, refuses a duplicate key with 23505 and then only takes ROLLBACK', async () => {
      const ins = await s.prepare('INSERT INTO r VALUES ($1, $2, $3)');
      for (let round = 0; round < 2; round++) {
        await s.query('BEGIN');
        const results = [];
        for (let i = 0; i < 300; i++) results.push(ins.query([round + 1, i, i / 2]));
        assert.deepEqual(
          (await Promise.all(results)).map((r) => r.command),
          results.map(() => 'INSERT 0 1'),
        );
        await s.query('COMMIT');
      }
      await s.query('BEGIN');
      await ins.query([3, 0, 1]);
      await assert.rejects(ins.query([1, 5, 0]), { code: 'ERR_SQL_UNIQUE_VIOLATION', sqlstate: '23505' });
      await assert.rejects(ins.query([3, 1, 1]), { sqlstate: '25P02' });
      await s.query('ROLLBACK');
      await assert.rejects(ins.query([4, 0, null]), { sqlstate: '23502' });
      assert.deepEqual(await rows(s, 'SELECT count(*), sum(v) FROM r WHERE m <= 3'), [[600n, 2 * 22425]]);
      assert.deepEqual(await rows(s, 'SELECT v FROM r WHERE m = 2 AND ts = 299'), [[149.5]]);
    });

    it('takes parameters in any order, with defaults, casts and type modifiers, as the general path does', async () => {
      await exec(
        s,
        "CREATE TABLE w (a integer, b varchar(3), c numeric(5,1), d text DEFAULT 'dflt', e bigint, PRIMARY KEY (a))",
      );
      const reordered = await s.prepare('INSERT INTO w (e, c, b, a) VALUES ($1, $2, $3, $4)');

      const cast = await s.prepare('INSERT INTO w VALUES ($1, $2::text, $3, $4, $5)');
      const whole = await s.prepare('INSERT INTO w VALUES ($1, $2, $3, $4, $5)');
      const returning = await s.prepare('INSERT INTO w VALUES ($1, $2, $3, $4, $5) RETURNING a, d');
      await s.query('BEGIN');
      await reordered.query([10n, 2.26, 'ab', 1]);
      await cast.query([2, 'xyz', 3.14, 'q', 7n]);
      const params: unknown[] = [3, 'abc', 1.05, 'r', 8n];
      await whole.query(params);
      params[0] = 4;
      await whole.query(params);
      assert.deepEqual((await returning.query([5, null, null, null, null])).rows, [[5, null]]);
      await assert.rejects(whole.query([6, 'abcd', 0, 'x', 1n]), { sqlstate: '22001' }); // varchar(3)
      await s.query('ROLLBACK');
      await s.query('BEGIN');
      await reordered.query([10n, 2.26, 'ab', 1]);
      await cast.query([2, 'xyz', 3.14, 'q', 7n]);
      await whole.query(params);
      await s.query('COMMIT');
      assert.deepEqual(await rows(s, 'SELECT a, b, c::text, d, e FROM w ORDER BY a'), [
        [1, 'ab', '2.3', 'dflt', 10n],
        [2, 'xyz', '3.1', 'q', 7n],
        [4, 'abc', '1.1', 'r', 8n],
      ]);
      // Bare parameters for every column (no type modifiers): the bound parameters become the row
      // only when they are the columns in order.
      await exec(s, 'CREATE TABLE p (a integer, b text, c double precision, d bigint, PRIMARY KEY (a))');
      const inOrder = await s.prepare('INSERT INTO p VALUES ($1, $2, $3, $4)');
      const named = await s.prepare('INSERT INTO p (d, c, b, a) VALUES ($1, $2, $3, $4)');
      const swapped = await s.prepare('INSERT INTO p VALUES ($4, $3, $2, $1)');
      await s.query('BEGIN');
      const row: unknown[] = [1, 'x', 0.5, 10n];
      await inOrder.query(row);
      row[0] = 2; // the caller's array stays the caller's
      await inOrder.query(row);
      await named.query([30n, 3.5, 'y', 3]);
      await swapped.query([40n, 4.5, 'z', 4]);
      await s.query('COMMIT');
      assert.deepEqual(await rows(s, 'SELECT * FROM p ORDER BY a'), [
        [1, 'x', 0.5, 10n],
        [2, 'x', 0.5, 10n],
        [3, 'y', 3.5, 30n],
        [4, 'z', 4.5, 40n],
      ]);
    });
  });
}
