import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryEngine } from '../../src/kvs/index.ts';
import { TxnManager } from '../../src/sql/txn.ts';

const key = (i: number) => Buffer.from(`k${String(i).padStart(6, '0')}`);
const val = (s: string) => Buffer.from(s);

/** The transaction's writes as [key, value or null], in key order. */
function writes(txn: ReturnType<TxnManager['begin']>): [string, string | null][] {
  const keys = txn.sortedKeys();
  const values = txn.valuesOf(keys);
  return keys.map((k, i) => [k, values[i] === null ? null : Buffer.from(values[i]!).toString()]);
}

// A statement's undo log is reused from one statement to the next: rolling back a statement must
// restore exactly what the transaction held before it, whatever ran before.
describe("a transaction's statement undo", () => {
  it('restores the writes before the statement, after many small statements and after a large one', () => {
    const txn = new TxnManager(createMemoryEngine()).begin();
    for (let i = 0; i < 3000; i++) {
      txn.beginStatement();
      txn.put(key(i), val(`a${i}`));
      txn.endStatement();
    }
    const before = writes(txn);
    // Larger than the log kept between statements: overwrites, deletes and new keys, undone.
    txn.beginStatement();
    for (let i = 0; i < 2500; i++) txn.put(key(i * 2), val(`b${i}`));
    for (let i = 1; i < 100; i += 2) txn.delete(key(i));
    txn.put(key(4), val('twice'));
    txn.rollbackStatement();
    assert.deepEqual(writes(txn), before);
    // A small statement after it: its log starts empty.
    txn.beginStatement();
    txn.put(key(1), val('c1'));
    txn.put(key(9000), val('new'));
    txn.rollbackStatement();
    assert.deepEqual(writes(txn), before);
    // A statement that ended is not undone by a later rollback of another.
    txn.beginStatement();
    txn.put(key(2), val('kept'));
    txn.put(key(5), val('kept'));
    txn.put(key(7), val('kept'));
    txn.endStatement();
    txn.beginStatement();
    txn.put(key(3), val('dropped'));
    txn.rollbackStatement();
    const after = new Map(writes(txn));
    for (const i of [2, 5, 7]) assert.equal(after.get(key(i).toString('latin1')), 'kept');
    assert.equal(after.get(key(3).toString('latin1')), 'a3');
    assert.equal(after.size, before.length);
  });
});
