import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { createMemoryEngine } from '../../src/kvs/index.ts';
import { openDatabase, type Session } from '../../src/sql/index.ts';

const PG_URL = process.env.KVS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Each script runs top to bottom on a fresh CascaDB and in a fresh PostgreSQL schema. */
const SCRIPTS: Record<string, readonly string[]> = {
  'keys, types and point lookups': [
    `CREATE TABLE reading (meter_id bigint, ts timestamp, kwh double precision, price numeric(10,4), ok boolean,
       note text, raw bytea, PRIMARY KEY (meter_id, ts))`,
    `INSERT INTO reading VALUES (1, '2024-03-01 00:00:00', 0.25, 0.1234, true, 'a', '\\x00ff'),
       (1, '2024-03-01 00:15:00', 1.5, 2.5, false, NULL, NULL), (2, '2024-03-01 00:00:00', NULL, -3, NULL, 'β', '\\x')`,
    'SELECT * FROM reading WHERE meter_id = 1 ORDER BY ts',
    "SELECT meter_id, kwh FROM reading WHERE ts >= '2024-03-01 00:10:00'",
    'SELECT count(*), sum(kwh), avg(price), min(note), max(ts) FROM reading',
    'SELECT meter_id, count(*) AS n, sum(price) FROM reading GROUP BY meter_id HAVING count(*) > 1',
    'SELECT note IS NULL, coalesce(note, $$-$$), length(note), upper(note) FROM reading ORDER BY meter_id, ts',
    'SELECT * FROM reading ORDER BY kwh NULLS FIRST, meter_id LIMIT 2 OFFSET 1',
    'SELECT DISTINCT ok FROM reading',
  ],
  'DML with RETURNING, upserts and transactions': [
    'CREATE TABLE kv (k text PRIMARY KEY, v integer NOT NULL DEFAULT 0)',
    "INSERT INTO kv VALUES ('a', 1), ('b', 2) RETURNING k, v",
    "INSERT INTO kv VALUES ('a', 10) ON CONFLICT (k) DO UPDATE SET v = kv.v + excluded.v RETURNING v",
    "INSERT INTO kv VALUES ('b', 5) ON CONFLICT DO NOTHING",
    "UPDATE kv SET v = v * 2 WHERE k >= 'a' RETURNING k, v",
    'BEGIN',
    "DELETE FROM kv WHERE k = 'a'",
    'ROLLBACK',
    'SELECT * FROM kv ORDER BY k',
    "INSERT INTO kv VALUES ('a', 1)",
    'INSERT INTO kv (k) VALUES (NULL)',
    "INSERT INTO kv (k) VALUES ('c') RETURNING v",
    'DELETE FROM kv WHERE v > 3 RETURNING k',
  ],
  'expressions, joins, subqueries and set operations': [
    'CREATE TABLE a (id integer PRIMARY KEY, g integer, s text)',
    'CREATE TABLE b (id integer PRIMARY KEY, a_id integer, w double precision)',
    "INSERT INTO a VALUES (1, 1, 'x'), (2, 1, 'y'), (3, 2, NULL), (4, NULL, 'zz')",
    'INSERT INTO b VALUES (10, 1, 0.5), (11, 1, 1.5), (12, 3, 2), (13, 9, 4)',
    'SELECT a.id, b.id, b.w FROM a JOIN b ON b.a_id = a.id',
    'SELECT a.id, b.w FROM a LEFT JOIN b ON b.a_id = a.id ORDER BY a.id, b.w',
    'SELECT id FROM a WHERE id IN (SELECT a_id FROM b)',
    'SELECT id FROM a WHERE NOT EXISTS (SELECT 1 FROM b WHERE b.a_id = a.id)',
    'SELECT id, (SELECT max(w) FROM b WHERE b.a_id = a.id) FROM a',
    'SELECT g FROM a UNION SELECT a_id FROM b',
    'SELECT g FROM a INTERSECT SELECT a_id FROM b',
    'SELECT a_id FROM b EXCEPT ALL SELECT g FROM a',
    "SELECT id, CASE WHEN g = 1 THEN 'one' WHEN g IS NULL THEN 'none' ELSE 'other' END FROM a",
    "SELECT s LIKE 'z%', s ILIKE 'X', nullif(g, 1), greatest(id, g), least(id, 3) FROM a ORDER BY id",
    'SELECT 7 / 2, -7 / 2, 7 % 3, 2 ^ 10, abs(-3), round(2.5), floor(-1.5), ceil(1.2), 1.5::integer, 10 / 4.0',
    'SELECT 1 / 0',
    'SELECT 2147483647 + 1',
    'SELECT * FROM missing',
    'SELECT nope FROM a',
    'SELECT FROM WHERE',
    "SELECT substr('hello', 2, 3), replace('aXbX', 'X', '-'), strpos('abc', 'c'), left('abc', 2), repeat('ab', 2), reverse('abc'), trim('  t  ')",
    'SELECT count(DISTINCT g), sum(DISTINCT g) FROM a',
    'SELECT g, count(*) FROM a GROUP BY g ORDER BY g NULLS FIRST',
  ],
};

interface Outcome {
  readonly error?: string;
  readonly columns?: number;
  readonly rows?: string[][];
}

function text(v: unknown): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'boolean') return v ? 't' : 'f';
  if (v instanceof Uint8Array) return `\\x${Buffer.from(v).toString('hex')}`;
  return String(v);
}

function sameCell(a: string, b: string): boolean {
  if (a === b) return true;
  const x = Number(a);
  const y = Number(b);
  return (
    a !== '' &&
    b !== '' &&
    Number.isFinite(x) &&
    Number.isFinite(y) &&
    Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(x))
  );
}

function normalize(sql: string, o: Outcome): Outcome {
  if (o.rows === undefined || /\bORDER\s+BY\b/i.test(sql)) return o;
  return { ...o, rows: [...o.rows].sort((p, q) => (JSON.stringify(p) < JSON.stringify(q) ? -1 : 1)) };
}

async function onCascadb(s: Session, sql: string): Promise<Outcome> {
  try {
    const r = await s.query(sql.replace(/\$\$-\$\$/g, "'-'"));
    return { columns: r.columns.length, rows: r.rows.map((row) => row.map(text)) };
  } catch (err) {
    return { error: (err as { sqlstate?: string }).sqlstate ?? String(err) };
  }
}

async function onPostgres(c: pg.Client, sql: string): Promise<Outcome> {
  try {
    const r = await c.query({ text: sql.replace(/\$\$-\$\$/g, "'-'"), rowMode: 'array' });
    return { columns: r.fields.length, rows: (r.rows as unknown[][]).map((row) => row.map(text)) };
  } catch (err) {
    return { error: (err as { code?: string }).code ?? String(err) };
  }
}

async function connectPostgres(t: { skip(reason: string): void }): Promise<pg.Client | undefined> {
  // Text output for every type: the comparison is on PostgreSQL's text form.
  const client = new pg.Client({
    connectionString: PG_URL,
    types: { getTypeParser: () => (v: string) => v },
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return client;
  } catch (err) {
    if (process.env.CI === 'true') throw err;
    t.skip(`PostgreSQL not reachable at ${PG_URL}: ${(err as Error).message}`);
    return undefined;
  }
}

describe('integration: differential tests, CascaDB against PostgreSQL 15', () => {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    it(`gives the same results as PostgreSQL for ${name}`, async (t) => {
      const client = await connectPostgres(t);
      if (client === undefined) return;
      const schema = `diff_${randomBytes(6).toString('hex')}`;
      const db = await openDatabase({ engine: createMemoryEngine() });
      const session = db.session();
      try {
        await client.query(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}`);
        for (const sql of script) {
          const mine = normalize(sql, await onCascadb(session, sql));
          const theirs = normalize(sql, await onPostgres(client, sql));
          const where = `${sql}\n  CascaDB:    ${JSON.stringify(mine)}\n  PostgreSQL: ${JSON.stringify(theirs)}`;
          if (theirs.error !== undefined || mine.error !== undefined) {
            assert.equal(mine.error, theirs.error, where);
            continue;
          }
          assert.equal(mine.columns, theirs.columns, where);
          assert.equal(mine.rows!.length, theirs.rows!.length, where);
          mine.rows!.forEach((row, i) => {
            assert.ok(
              row.every((cell, j) => sameCell(cell, theirs.rows![i]![j]!)),
              where,
            );
          });
        }
      } finally {
        await client.query(`SET search_path TO public; DROP SCHEMA ${schema} CASCADE`).catch(() => {});
        await client.end();
        await db.close();
      }
    });
  }
});
