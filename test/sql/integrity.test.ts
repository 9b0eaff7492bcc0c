import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import {
  createKeyring,
  createMemoryEngine,
  createSecureStore,
  isKvsError,
  keySuccessor,
  type SecureStoreOptions,
  type StorageEngine,
} from '../../src/kvs/index.ts';
import { type Database, openDatabase } from '../../src/sql/database.ts';
import { isSqlError } from '../../src/sql/errors.ts';
import type { Session } from '../../src/sql/session.ts';
import { exec } from './helpers.ts';

/**
 * The raw key of the engine entry that holds the entry whose logical form is `name` (e.g.
 * `acct|2`): that key itself in the `values` layout, the lower bound of its block in `blocks`.
 */
async function rawKey(raw: StorageEngine, db: Database, name: string): Promise<Uint8Array> {
  for await (const kv of db.engine.scan({})) {
    if (db.formatKey(kv.key) !== name) continue;
    for await (const block of raw.scan({ end: keySuccessor(kv.key), reverse: true, limit: 1 }))
      return block.key;
  }
  throw new Error(`no key ${name}`);
}

function expectCorrupted(err: unknown): true {
  assert.ok(isSqlError(err, 'ERR_SQL_DATA_CORRUPTED'), `expected XX001, got ${String(err)}`);
  assert.equal(err.sqlstate, 'XX001');
  assert.ok(isKvsError(err.cause), 'the storage error is the cause');
  assert.match(err.cause.code, /^ERR_KVS_(INTEGRITY|KEY_UNKNOWN)$/);
  return true;
}

// Blocks of 64 bytes hold one `acct` row each (the note makes each row larger than half a block),
// so that a damaged row leaves the other rows readable, as in the values layout.
const LAYOUTS: [string, Omit<SecureStoreOptions, 'namespace'>][] = [
  ['blocks', { layout: 'blocks', blockBytes: 64 }],
  ['values', { layout: 'values' }],
];

for (const [layoutName, layout] of LAYOUTS)
  describe(`integrity through the secure store (${layoutName} layout)`, () => {
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
        ...layout,
      });
      db = await openDatabase({ engine: store });
      s = db.session();
      const note = 'n'.repeat(40);
      await exec(
        s,
        'CREATE TABLE acct (id integer PRIMARY KEY, owner text, balance bigint, note text)',
        'CREATE INDEX acct_owner ON acct (owner)',
        `INSERT INTO acct VALUES (1, 'ann', 100, '${note}'), (2, 'bob', 5, '${note}')`,
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
      assert.notEqual(Buffer.compare(k1, k2), 0, 'the rows are stored in different engine entries');
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
        ...layout,
      });
      await assert.rejects(openDatabase({ engine: wrong }), expectCorrupted);
      const other = createSecureStore(raw, createKeyring({ keys: [{ id: 1, key }] }), {
        namespace: 'another-db',
        closeEngine: false,
        ...layout,
      });
      await assert.rejects(openDatabase({ engine: other }), expectCorrupted);
      const k = await rawKey(raw, db, '__catalog|acct');
      const v = Uint8Array.from((await raw.get(k))!);
      v[v.length - 5]! ^= 4;
      await raw.put(k, v);
      const right = createSecureStore(raw, createKeyring({ keys: [{ id: 1, key }] }), {
        namespace: 'cascadb-test',
        closeEngine: false,
        ...layout,
      });
      await assert.rejects(openDatabase({ engine: right }), expectCorrupted);
    });
  });
