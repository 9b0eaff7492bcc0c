import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { type BatchOp, createMemoryEngine, type StorageEngine } from '../../src/kvs/index.ts';
import { type Database, openDatabase } from '../../src/sql/database.ts';
import type { Session } from '../../src/sql/session.ts';
import { exec, rows } from './helpers.ts';

/** A memory engine that records the size of every batch. */
function recordingEngine(batches: number[]): StorageEngine {
  const inner = createMemoryEngine();
  return {
    name: 'recording',
    get: (k, o) => inner.get(k, o),
    put: (k, v, o) => inner.put(k, v, o),
    delete: (k, o) => inner.delete(k, o),
    batch: (ops: readonly BatchOp[], o) => {
      batches.push(ops.length);
      return inner.batch(ops, o);
    },
    scan: (r, o) => inner.scan(r, o),
    close: () => inner.close(),
  };
}

describe('transactions', () => {
  let db: Database;
  let a: Session;
  let b: Session;
  let batches: number[];
  beforeEach(async () => {
    batches = [];
    db = await openDatabase({ engine: recordingEngine(batches) });
    a = db.session();
    b = db.session();
    await exec(
      a,
      'CREATE TABLE acct (id integer PRIMARY KEY, balance integer NOT NULL)',
      'INSERT INTO acct VALUES (1, 100), (2, 100)',
    );
    batches.length = 0;
  });
  afterEach(async () => db.close());

  it('commits all writes with one atomic batch, visible to others only after COMMIT', async () => {
    await a.query('BEGIN');
    await a.query('UPDATE acct SET balance = balance - 30 WHERE id = 1');
    await a.query('UPDATE acct SET balance = balance + 30 WHERE id = 2');
    await a.query('INSERT INTO acct VALUES (3, 0)');
    assert.deepEqual(await rows(b, 'SELECT balance FROM acct ORDER BY id'), [[100], [100]]);
    assert.equal((await a.query('COMMIT')).command, 'COMMIT');
    assert.deepEqual(batches, [3]);
    assert.deepEqual(await rows(b, 'SELECT balance FROM acct ORDER BY id'), [[70], [130], [0]]);
  });

  it('reads its own writes, also through scans merged with the write buffer', async () => {
    await a.query('BEGIN');
    await a.query('INSERT INTO acct VALUES (0, 5), (9, 9)');
    await a.query('DELETE FROM acct WHERE id = 2');
    await a.query('UPDATE acct SET balance = 1 WHERE id = 1');
    assert.deepEqual(await rows(a, 'SELECT id, balance FROM acct'), [
      [0, 5],
      [1, 1],
      [9, 9],
    ]);
    assert.deepEqual(await rows(a, 'SELECT id FROM acct ORDER BY id DESC LIMIT 2'), [[9], [1]]);
    assert.deepEqual(await rows(a, 'SELECT balance FROM acct WHERE id = 2'), []);
    await a.query('ROLLBACK');
    assert.deepEqual(await rows(a, 'SELECT id, balance FROM acct'), [
      [1, 100],
      [2, 100],
    ]);
    assert.deepEqual(batches, []);
  });

  it('undoes a failed statement entirely, outside and inside a transaction', async () => {
    await assert.rejects(a.query('INSERT INTO acct VALUES (5, 1), (6, 1), (1, 1)'), { sqlstate: '23505' });
    assert.deepEqual(await rows(a, 'SELECT count(*) FROM acct'), [[2n]]);
    await a.query('BEGIN');
    await a.query('INSERT INTO acct VALUES (7, 1)');
    await assert.rejects(a.query('INSERT INTO acct VALUES (8, 1), (2, 1)'), { sqlstate: '23505' });
    assert.ok(a.inFailedTransaction);
    await assert.rejects(a.query('SELECT 1'), { sqlstate: '25P02' });
    assert.equal((await a.query('COMMIT')).command, 'ROLLBACK');
    assert.deepEqual(await rows(a, 'SELECT count(*) FROM acct'), [[2n]]);
  });

  it('fails a commit with 40001 when another transaction changed what it read', async () => {
    await a.query('BEGIN');
    const [[bal]] = (await rows(a, 'SELECT balance FROM acct WHERE id = 1')) as [[number]];
    await b.query('UPDATE acct SET balance = 0 WHERE id = 1');
    await a.query('UPDATE acct SET balance = $1 WHERE id = 2', [bal + 100]);
    await assert.rejects(a.query('COMMIT'), { sqlstate: '40001' });
    assert.ok(!a.inTransaction);
    assert.deepEqual(await rows(a, 'SELECT balance FROM acct ORDER BY id'), [[0], [100]]);
  });

  it('prevents write skew between two transactions reading the same rows', async () => {
    await a.query('BEGIN');
    await b.query('BEGIN');
    await a.query('SELECT sum(balance) FROM acct');
    await b.query('SELECT sum(balance) FROM acct');
    await a.query('UPDATE acct SET balance = balance - 150 WHERE id = 1');
    await b.query('UPDATE acct SET balance = balance - 150 WHERE id = 2');
    await a.query('COMMIT');
    await assert.rejects(b.query('COMMIT'), { sqlstate: '40001' });
  });

  it('loses no update when autocommit statements race (they retry on conflicts)', async () => {
    const sessions = Array.from({ length: 8 }, () => db.session());
    await Promise.all(
      sessions.flatMap((s) =>
        Array.from({ length: 5 }, () => s.query('UPDATE acct SET balance = balance + 1 WHERE id = 1')),
      ),
    );
    assert.deepEqual(await rows(a, 'SELECT balance FROM acct WHERE id = 1'), [[140]]);
  });

  it('makes DDL transactional', async () => {
    await a.query('BEGIN');
    await a.query('CREATE TABLE tmp (k text PRIMARY KEY)');
    await a.query("INSERT INTO tmp VALUES ('x')");
    assert.deepEqual(await rows(a, 'SELECT k FROM tmp'), [['x']]);
    await assert.rejects(b.query('SELECT k FROM tmp'), { sqlstate: '42P01' });
    await a.query('ROLLBACK');
    await assert.rejects(a.query('SELECT k FROM tmp'), { sqlstate: '42P01' });
    await a.query('BEGIN; CREATE TABLE tmp (k text PRIMARY KEY); COMMIT');
    assert.deepEqual(await rows(b, 'SELECT count(*) FROM tmp'), [[0n]]);
  });

  it('refuses writes in a READ ONLY transaction, and tolerates stray COMMIT/ROLLBACK', async () => {
    await a.query('BEGIN READ ONLY');
    await assert.rejects(a.query('DELETE FROM acct'), { sqlstate: '25006' });
    await a.query('ROLLBACK');
    assert.equal((await a.query('COMMIT')).command, 'COMMIT');
    assert.equal((await a.query('ROLLBACK')).command, 'ROLLBACK');
  });
});
