import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createMemoryEngine, type StorageEngine } from '../../src/kvs/index.ts';
import { openDatabase } from '../../src/sql/database.ts';
import { formatKey } from '../../src/sql/key-format.ts';
import type { Session } from '../../src/sql/session.ts';
import { exec, rows } from './helpers.ts';

async function allKeys(engine: StorageEngine): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const kv of engine.scan({})) out.push(kv.key);
  return out;
}

describe('DDL', () => {
  let engine: StorageEngine;
  let s: Session;
  beforeEach(async () => {
    engine = createMemoryEngine();
    s = (await openDatabase({ engine })).session();
  });
  afterEach(async () => engine.close());

  it('creates tables with every column type, composite keys, NOT NULL and DEFAULT', async () => {
    await s.query(`CREATE TABLE t (
      i integer, b bigint, r real, d double precision, n numeric(8,3), tx text, v varchar(4),
      ok boolean DEFAULT true, ts timestamp DEFAULT '2024-01-01', raw bytea, note text NOT NULL DEFAULT 'none',
      PRIMARY KEY (b, i DESC))`);
    await s.query(
      "INSERT INTO t (i, b, r, d, n, tx, v, raw) VALUES (1, 2, 1.5, 2.25, 3.14159, 'x', 'abcd', '\\x00ff')",
    );
    const r = await s.query('SELECT * FROM t');
    assert.deepEqual(r.rows, [
      [1, 2n, 1.5, 2.25, '3.142', 'x', 'abcd', true, '2024-01-01 00:00:00', Uint8Array.of(0, 255), 'none'],
    ]);
    assert.deepEqual(
      r.columns.map((c) => c.type),
      [
        'integer',
        'bigint',
        'real',
        'double precision',
        'numeric',
        'text',
        'character varying',
        'boolean',
        'timestamp',
        'bytea',
        'text',
      ],
    );
  });

  it('stores the catalog in the key-value store, so that a reopened database sees it', async () => {
    await exec(
      s,
      'CREATE TABLE kv (k text PRIMARY KEY, v bigint)',
      'CREATE UNIQUE INDEX kv_v ON kv (v)',
      "INSERT INTO kv VALUES ('a', 1)",
    );
    const again = (await openDatabase({ engine })).session();
    assert.deepEqual(await rows(again, "SELECT v FROM kv WHERE k = 'a'"), [[1n]]);
    await assert.rejects(again.query("INSERT INTO kv VALUES ('b', 1)"), { sqlstate: '23505' });
    const names = (await allKeys(engine)).map((k) => formatKey(k));
    assert.ok(names.includes('__catalog|kv'), names.join(', '));
  });

  it('drops a table with all its rows and index entries', async () => {
    await exec(
      s,
      'CREATE TABLE gone (id integer PRIMARY KEY, v text UNIQUE)',
      "INSERT INTO gone VALUES (1, 'a'), (2, 'b')",
    );
    const before = (await allKeys(engine)).length;
    await s.query('DROP TABLE gone');
    assert.equal(
      (await allKeys(engine)).length,
      before - 5,
      'two rows, two index entries and the descriptor',
    );
    await assert.rejects(s.query('SELECT * FROM gone'), { sqlstate: '42P01' });
    await s.query('DROP TABLE IF EXISTS gone');
    await assert.rejects(s.query('DROP TABLE gone'), { sqlstate: '42P01' });
  });

  it('creates indexes over existing rows, refusing duplicates for UNIQUE ones', async () => {
    await exec(
      s,
      'CREATE TABLE p (id integer PRIMARY KEY, email text, city text)',
      "INSERT INTO p VALUES (1, 'a@x', 'P'), (2, 'b@x', 'P'), (3, NULL, 'L'), (4, NULL, NULL)",
    );
    await s.query('CREATE UNIQUE INDEX p_email ON p (email)');
    await assert.rejects(s.query('CREATE UNIQUE INDEX p_city ON p (city)'), {
      sqlstate: '23505',
      detail: 'Key (city)=(P) is duplicated.',
    });
    await s.query('CREATE INDEX ON p (city DESC)');
    assert.deepEqual(await rows(s, "SELECT id FROM p WHERE city = 'P' ORDER BY id"), [[1], [2]]);
    await assert.rejects(s.query("INSERT INTO p VALUES (5, 'a@x', 'Q')"), { sqlstate: '23505' });
    await s.query("INSERT INTO p VALUES (5, NULL, 'Q')");
    await s.query('DROP INDEX p_email');
    await s.query("INSERT INTO p VALUES (6, 'a@x', 'Q')");
    await s.query('DROP INDEX p_city_idx');
    await assert.rejects(s.query('DROP INDEX p_city_idx'), { sqlstate: '42704' });
    await s.query('DROP INDEX IF EXISTS p_city_idx');
  });

  it('gives a table without a primary key a hidden row id', async () => {
    await exec(s, 'CREATE TABLE log (msg text)', "INSERT INTO log VALUES ('a'), ('a'), ('b')");
    const r = await s.query('SELECT * FROM log');
    assert.deepEqual(r.columns, [{ name: 'msg', type: 'text' }]);
    assert.deepEqual(r.rows, [['a'], ['a'], ['b']]);
  });

  it('refuses bad definitions with their SQLSTATE', async () => {
    await s.query('CREATE TABLE x (a integer PRIMARY KEY)');
    await assert.rejects(s.query('CREATE TABLE x (a integer)'), { sqlstate: '42P07' });
    await s.query('CREATE TABLE IF NOT EXISTS x (a integer)');
    await assert.rejects(s.query('CREATE TABLE y (a integer, a text)'), { sqlstate: '42701' });
    await assert.rejects(s.query('CREATE TABLE y (a integer PRIMARY KEY, b integer PRIMARY KEY)'), {
      sqlstate: '42P16',
    });
    await assert.rejects(s.query('CREATE TABLE y (a integer, PRIMARY KEY (b))'), { sqlstate: '42703' });
    await assert.rejects(s.query("CREATE TABLE y (a integer DEFAULT 'abc')"), { sqlstate: '22P02' });
    await assert.rejects(s.query('CREATE INDEX ON nope (a)'), { sqlstate: '42P01' });
    await assert.rejects(s.query('CREATE INDEX x ON x (a)'), { sqlstate: '42P07' });
  });
});
