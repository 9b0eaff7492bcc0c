import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createKeyring,
  createMemoryEngine,
  createSecureStore,
  isKvsError,
  type StorageEngine,
} from '../../src/kvs/index.ts';
import { type Database, openDatabase } from '../../src/sql/database.ts';
import { isSqlError } from '../../src/sql/errors.ts';
import type { Session } from '../../src/sql/session.ts';
import { exec } from './helpers.ts';

/** The raw key whose logical form is `name` (e.g. `acct|2`). */
async function rawKey(raw: StorageEngine, db: Database, name: string): Promise<Uint8Array> {
  for await (const kv of raw.scan({})) if (db.formatKey(kv.key) === name) return kv.key;
  throw new Error(`no key ${name}`);
}

function expectCorrupted(err: unknown): true {
  assert.ok(isSqlError(err, 'ERR_SQL_DATA_CORRUPTED'), `expected XX001, got ${String(err)}`);
  assert.equal(err.sqlstate, 'XX001');
  assert.ok(isKvsError(err.cause), 'the storage error is the cause');
  assert.match(err.cause.code, /^ERR_KVS_(INTEGRITY|KEY_UNKNOWN)$/);
  return true;
}

describe('integrity through the secure store', () => {
  let raw: StorageEngine;
  let key: Uint8Array;
  let db: Database;
  let s: Session;
  beforeEach(async () => {
    raw = createMemoryEngine();
    key = randomBytes(32);
    const store = createSecureStore(raw, createKeyring({ keys: [{ id: 1, key }] }), {
      namespace: 'cascadb-test',
      closeEngine: false,
    });
    db = await openDatabase({ engine: store });
    s = db.session();
    await exec(
      s,
      'CREATE TABLE acct (id integer PRIMARY KEY, owner text, balance bigint)',
      'CREATE INDEX acct_owner ON acct (owner)',
      "INSERT INTO acct VALUES (1, 'ann', 100), (2, 'bob', 5)",
    );
  });
  afterEach(async () => {
    await db.close();
    await raw.close();
  });

  it('stores no plaintext values', async () => {
    for await (const kv of raw.scan({}))
      assert.ok(!Buffer.from(kv.value).includes('ann'), db.formatKey(kv.key));
  });

  it('raises XX001 from a SELECT when a stored row was altered', async () => {
    const k = await rawKey(raw, db, 'acct|2');
    const v = Uint8Array.from((await raw.get(k))!);
    v[v.length - 1]! ^= 1;
    await raw.put(k, v);
    await assert.rejects(s.query('SELECT * FROM acct'), expectCorrupted);
    await assert.rejects(s.query('SELECT balance FROM acct WHERE id = 2'), expectCorrupted);
    assert.deepEqual((await s.query('SELECT balance FROM acct WHERE id = 1')).rows, [[100n]]);
  });

  it('raises XX001 when a value was moved to another key', async () => {
    const k1 = await rawKey(raw, db, 'acct|1');
    const k2 = await rawKey(raw, db, 'acct|2');
    await raw.put(k2, (await raw.get(k1))!);
    await assert.rejects(s.query('SELECT owner FROM acct WHERE id = 2'), expectCorrupted);
  });

  it('raises XX001 when an index entry was altered', async () => {
    const k = await rawKey(raw, db, 'acct@acct_owner|bob|2');
    const v = Uint8Array.from((await raw.get(k))!);
    v[0]! ^= 0xff;
    await raw.put(k, v);
    await assert.rejects(s.query("SELECT id FROM acct WHERE owner = 'bob'"), expectCorrupted);
  });

  it('refuses to open a database with the wrong key or a tampered catalog', async () => {
    const wrong = createSecureStore(raw, createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] }), {
      namespace: 'cascadb-test',
      closeEngine: false,
    });
    await assert.rejects(openDatabase({ engine: wrong }), expectCorrupted);
    const other = createSecureStore(raw, createKeyring({ keys: [{ id: 1, key }] }), {
      namespace: 'another-db',
      closeEngine: false,
    });
    await assert.rejects(openDatabase({ engine: other }), expectCorrupted);
    const k = await rawKey(raw, db, '__catalog|acct');
    const v = Uint8Array.from((await raw.get(k))!);
    v[v.length - 5]! ^= 4;
    await raw.put(k, v);
    const right = createSecureStore(raw, createKeyring({ keys: [{ id: 1, key }] }), {
      namespace: 'cascadb-test',
      closeEngine: false,
    });
    await assert.rejects(openDatabase({ engine: right }), expectCorrupted);
  });
});
