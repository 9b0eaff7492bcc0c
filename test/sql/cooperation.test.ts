import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMemoryEngine } from '../../src/kvs/index.ts';
import { isSqlError, openDatabase } from '../../src/sql/index.ts';

describe('a CPU-bound statement', () => {
  it('lets other sessions run while it works, and stops when cancelled', async () => {
    const db = await openDatabase({ engine: createMemoryEngine() });
    const s = db.session();
    await s.query('CREATE TABLE a (x integer PRIMARY KEY)');
    const insert = await s.prepare('INSERT INTO a VALUES ($1)');
    await s.query('BEGIN');
    for (let i = 0; i < 2000; i++) await insert.query([i]);
    await s.query('COMMIT');

    const order: string[] = [];
    const controller = new AbortController();
    // 4 million joined rows over an in-memory engine: no I/O wait would ever yield by itself.
    const big = db
      .session()
      .query('SELECT count(*) FROM a a1, a a2', [], { signal: controller.signal })
      .then(
        () => order.push('big finished'),
        (err: unknown) => {
          order.push(
            isSqlError(err) && err.sqlstate === '57014' ? 'big cancelled' : `big failed: ${String(err)}`,
          );
        },
      );
    // Sockets (other connections, a cancel request) are served by macrotasks: wait for a timer.
    await new Promise((resolve) => setTimeout(resolve, 1));
    const small = await db.session().query('SELECT count(*) FROM a');
    order.push('small answered');
    assert.deepEqual(small.rows, [[2000n]]);
    controller.abort();
    await big;
    assert.deepEqual(order, ['small answered', 'big cancelled']);
    await db.close();
  });
});
