import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { createPostgresEngine, dropPostgresTable, quoteTable } from '../../src/kvs/postgres-engine.ts';
import { redactUrl, toKvsError } from '../../src/kvs/postgres-errors.ts';
import { b, collect, hex, rejectsWithCode } from './kvs-test-helpers.ts';
import { POSTGRES_URL, postgresUnavailable, uniqueTable } from './postgres-test-db.ts';

/** A local TCP port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const unavailable = await postgresUnavailable();
const needsPostgres = (t: { skip(reason: string): void }): boolean => {
  if (unavailable === undefined || process.env.CI === 'true') return true;
  t.skip(unavailable);
  return false;
};

describe('postgres engine', () => {
  it('fails with ERR_KVS_CONNECTION and a clear message when the port is closed', async () => {
    const port = await closedPort();
    const url = `postgres://app:hunter2@127.0.0.1:${port}/test`;
    await assert.rejects(
      createPostgresEngine({ url, pool: { connectionTimeoutMs: 5000 } }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_KVS_CONNECTION');
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
        assert.match(err.message, /ECONNREFUSED/);
        assert.match(err.message, /check that it runs/);
        assert.doesNotMatch(err.message, /hunter2/);
        return true;
      },
    );
  });

  it('refuses table names that are not plain identifiers, and quotes the ones it takes', async () => {
    const bad = [
      'kvs"; DROP TABLE users; --',
      'a b',
      '1abc',
      '',
      'a.b.c',
      'x'.repeat(64),
      '"kvs"',
      'kvs;',
      'ä',
    ];
    for (const table of bad) {
      await assert.rejects(createPostgresEngine({ url: POSTGRES_URL, table }), TypeError, table);
    }
    assert.equal(quoteTable('My_Table'), '"My_Table"');
    assert.equal(quoteTable('public.kvs'), '"public"."kvs"');
  });

  it('maps driver failures to codes with a remedy', () => {
    const cases: [unknown, string][] = [
      [{ code: '40001', message: 'could not serialize access' }, 'ERR_KVS_TRANSACTION'],
      [{ code: '40P01', message: 'deadlock detected' }, 'ERR_KVS_TRANSACTION'],
      [{ code: '53300', message: 'too many connections' }, 'ERR_KVS_POOL'],
      [new Error('timeout exceeded when trying to connect'), 'ERR_KVS_POOL'],
      [new Error('Connection terminated unexpectedly'), 'ERR_KVS_CONNECTION'],
      [{ code: '28P01', message: 'password authentication failed' }, 'ERR_KVS_CONNECTION'],
      [
        { code: '57P01', message: 'terminating connection due to administrator command' },
        'ERR_KVS_CONNECTION',
      ],
      [
        Object.assign(new AggregateError([Object.assign(new Error('x'), { code: 'ECONNREFUSED' })]), {}),
        'ERR_KVS_CONNECTION',
      ],
      [{ code: '54000', message: 'index row size exceeds maximum' }, 'ERR_KVS_LIMIT'],
      [{ code: 'XX000', message: 'internal' }, 'ERR_KVS_IO'],
    ];
    for (const [cause, code] of cases) {
      const err = toKvsError(cause, 'batch', 'db');
      assert.equal(err.code, code, err.message);
      assert.ok(err.cause === cause);
    }
    assert.equal(redactUrl('postgres://u:secret@h:1/d?password=x'), 'postgres://u:***@h:1/d?password=***');
  });

  it('fails with ERR_KVS_CONNECTION when the database does not exist', async (t) => {
    if (!needsPostgres(t)) return;
    const url = new URL(POSTGRES_URL);
    url.pathname = '/no_such_database_kvs_test';
    await rejectsWithCode(createPostgresEngine({ url: url.toString() }), 'ERR_KVS_CONNECTION');
  });

  it('works in a schema-qualified table and keeps data across engines', async (t) => {
    if (!needsPostgres(t)) return;
    const table = `public.${uniqueTable()}`;
    try {
      const first = await createPostgresEngine({ url: POSTGRES_URL, table });
      await first.batch([
        { type: 'put', key: b(1), value: b(1) },
        { type: 'put', key: b(2), value: b(2) },
      ]);
      await first.close();
      const second = await createPostgresEngine({ url: POSTGRES_URL, table });
      assert.deepEqual(
        (await collect(second.scan({ reverse: true }))).map((e) => hex(e.key)),
        ['02', '01'],
      );
      await second.close();
    } finally {
      await dropPostgresTable({ url: POSTGRES_URL, table });
    }
  });

  it('pages through scans with small pages', async (t) => {
    if (!needsPostgres(t)) return;
    const table = uniqueTable();
    const engine = await createPostgresEngine({ url: POSTGRES_URL, table, pageSize: 3 });
    try {
      await engine.batch(
        Array.from({ length: 20 }, (_, i) => ({ type: 'put' as const, key: b(i), value: b(i) })),
      );
      assert.equal((await collect(engine.scan({}))).length, 20);
      assert.deepEqual(
        (await collect(engine.scan({ start: b(5), end: b(15), reverse: true, limit: 7 }))).map(
          (e) => e.key[0],
        ),
        [14, 13, 12, 11, 10, 9, 8],
      );
    } finally {
      await engine.close();
      await dropPostgresTable({ url: POSTGRES_URL, table });
    }
  });
});
