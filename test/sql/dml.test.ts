import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Session } from '../../src/sql/session.ts';
import { exec, openTestDatabase, rows, type TestDatabase } from './helpers.ts';

describe('DML', () => {
  let t: TestDatabase;
  let s: Session;
  beforeEach(async () => {
    t = await openTestDatabase();
    s = t.session;
    await exec(
      s,
      'CREATE TABLE item (id integer PRIMARY KEY, name varchar(8) NOT NULL, price numeric(6,2), qty integer DEFAULT 0, tag text UNIQUE)',
    );
  });
  afterEach(async () => t.close());

  it('inserts several rows, with a column list, defaults and DEFAULT', async () => {
    const r = await s.query("INSERT INTO item (id, name) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    assert.equal(r.command, 'INSERT 0 3');
    assert.equal(r.rowCount, 3);
    await s.query("INSERT INTO item VALUES (4, 'd', 1.005, DEFAULT, NULL)");
    assert.deepEqual(await rows(s, 'SELECT id, qty, price FROM item ORDER BY id'), [
      [1, 0, null],
      [2, 0, null],
      [3, 0, null],
      [4, 0, '1.01'],
    ]);
  });

  it('converts values to column types and enforces NOT NULL, VARCHAR(n) and NUMERIC(p,s)', async () => {
    await s.query("INSERT INTO item VALUES ('5', 'x', 12, 2.6, 't')");
    assert.deepEqual(await rows(s, 'SELECT id, price, qty FROM item'), [[5, '12.00', 3]]);
    await assert.rejects(s.query('INSERT INTO item (id) VALUES (6)'), {
      sqlstate: '23502',
      message: /column "name"/,
    });
    await assert.rejects(s.query("INSERT INTO item (id, name) VALUES (6, 'ninechars')"), {
      sqlstate: '22001',
    });
    await assert.rejects(s.query("INSERT INTO item (id, name, price) VALUES (6, 'n', 10000)"), {
      sqlstate: '22003',
    });
    await assert.rejects(s.query("INSERT INTO item (id, name) VALUES ('x', 'n')"), { sqlstate: '22P02' });
    await assert.rejects(s.query("INSERT INTO item (id, name) VALUES (true, 'n')"), { sqlstate: '42804' });
    await assert.rejects(s.query("INSERT INTO item (id, nope) VALUES (1, 'n')"), { sqlstate: '42703' });
    await assert.rejects(s.query("INSERT INTO item (id, name) VALUES (1, 'n', 3)"), { sqlstate: '42601' });
  });

  it('returns rows with RETURNING from INSERT, UPDATE and DELETE', async () => {
    const ins = await s.query(
      "INSERT INTO item (id, name, qty) VALUES (1, 'a', 5), (2, 'b', 6) RETURNING id, qty * 2 AS double_qty",
    );
    assert.deepEqual(ins.columns, [
      { name: 'id', type: 'integer' },
      { name: 'double_qty', type: 'integer' },
    ]);
    assert.deepEqual(ins.rows, [
      [1, 10],
      [2, 12],
    ]);
    const upd = await s.query('UPDATE item SET qty = qty + 1 WHERE id = 2 RETURNING *');
    assert.equal(upd.command, 'UPDATE 1');
    assert.deepEqual(upd.rows, [[2, 'b', null, 7, null]]);
    const del = await s.query('DELETE FROM item WHERE qty < 7 RETURNING name');
    assert.equal(del.command, 'DELETE 1');
    assert.deepEqual(del.rows, [['a']]);
  });

  it('skips conflicting rows with ON CONFLICT DO NOTHING', async () => {
    await s.query("INSERT INTO item (id, name, tag) VALUES (1, 'a', 'x')");
    const r = await s.query(
      "INSERT INTO item (id, name, tag) VALUES (1, 'dup', 'y'), (2, 'b', 'x'), (3, 'c', 'z') ON CONFLICT DO NOTHING",
    );
    assert.equal(r.command, 'INSERT 0 1');
    await s.query("INSERT INTO item (id, name) VALUES (1, 'again') ON CONFLICT (id) DO NOTHING");
    await assert.rejects(
      s.query("INSERT INTO item (id, name, tag) VALUES (9, 'a', 'x') ON CONFLICT (id) DO NOTHING"),
      { sqlstate: '23505' },
    );
    await assert.rejects(
      s.query("INSERT INTO item (id, name) VALUES (9, 'a') ON CONFLICT (qty) DO NOTHING"),
      { sqlstate: '42P10' },
    );
    assert.deepEqual(await rows(s, 'SELECT id, name FROM item ORDER BY id'), [
      [1, 'a'],
      [3, 'c'],
    ]);
  });

  it('updates the existing row with ON CONFLICT DO UPDATE, using excluded and WHERE', async () => {
    await s.query("INSERT INTO item (id, name, qty, tag) VALUES (1, 'a', 1, 'x')");
    const upsert =
      'INSERT INTO item (id, name, qty) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET qty = item.qty + excluded.qty, name = excluded.name WHERE item.qty < 10 RETURNING qty';
    assert.deepEqual((await s.query(upsert, [1, 'a2', 5])).rows, [[6]]);
    assert.deepEqual((await s.query(upsert, [2, 'b', 5])).rows, [[5]]);
    assert.deepEqual((await s.query(upsert, [1, 'a3', 5])).rows, [[11]]);
    const skipped = await s.query(upsert, [1, 'a4', 5]);
    assert.equal(skipped.rowCount, 0);
    await s.query(
      "INSERT INTO item (id, name, tag) VALUES (7, 'q', 'x') ON CONFLICT (tag) DO UPDATE SET name = 'via tag'",
    );
    assert.deepEqual(await rows(s, 'SELECT id, name, qty FROM item ORDER BY id'), [
      [1, 'via tag', 11],
      [2, 'b', 5],
    ]);
    await assert.rejects(
      s.query(
        "INSERT INTO item (id, name) VALUES (5, 'a'), (5, 'b') ON CONFLICT (id) DO UPDATE SET name = excluded.name",
      ),
      {
        sqlstate: '21000',
      },
    );
  });

  it('updates keys and indexed columns, checking uniqueness', async () => {
    await s.query("INSERT INTO item (id, name, tag) VALUES (1, 'a', 'x'), (2, 'b', 'y'), (3, 'c', NULL)");
    await s.query('UPDATE item SET id = id + 10 WHERE id >= 2');
    assert.deepEqual(await rows(s, 'SELECT id FROM item ORDER BY id'), [[1], [12], [13]]);
    await assert.rejects(s.query('UPDATE item SET id = 1 WHERE id = 12'), { sqlstate: '23505' });
    await assert.rejects(s.query("UPDATE item SET tag = 'x' WHERE id = 12"), { sqlstate: '23505' });
    await s.query("UPDATE item SET tag = 'w', name = upper(name) WHERE id = 1");
    assert.deepEqual(await rows(s, "SELECT id, name FROM item WHERE tag = 'w'"), [[1, 'A']]);
    assert.deepEqual(await rows(s, "SELECT id FROM item WHERE tag = 'x'"), []);
    await assert.rejects(s.query('UPDATE item SET name = NULL'), { sqlstate: '23502' });
    assert.equal((await s.query('UPDATE item SET qty = 3')).command, 'UPDATE 3');
  });

  it('deletes rows and their index entries', async () => {
    await s.query("INSERT INTO item (id, name, tag) VALUES (1, 'a', 'x'), (2, 'b', 'y')");
    assert.equal((await s.query("DELETE FROM item WHERE tag = 'x'")).command, 'DELETE 1');
    await s.query("INSERT INTO item (id, name, tag) VALUES (3, 'c', 'x')");
    assert.equal((await s.query('DELETE FROM item')).rowCount, 2);
    assert.deepEqual(await rows(s, 'SELECT count(*) FROM item'), [[0n]]);
  });

  it('inserts the rows of a query', async () => {
    await exec(
      s,
      "INSERT INTO item (id, name, qty) VALUES (1, 'a', 1), (2, 'b', 2)",
      'CREATE TABLE copy (id bigint, label text, n double precision)',
    );
    assert.equal(
      (await s.query('INSERT INTO copy SELECT id, name, qty * 1.5 FROM item')).command,
      'INSERT 0 2',
    );
    assert.deepEqual(await rows(s, 'SELECT id, label, n FROM copy ORDER BY id'), [
      [1n, 'a', 1.5],
      [2n, 'b', 3],
    ]);
    await s.query('INSERT INTO item (id, name) SELECT id + 10, label FROM copy');
    assert.deepEqual(await rows(s, 'SELECT count(*) FROM item'), [[4n]]);
  });
});
