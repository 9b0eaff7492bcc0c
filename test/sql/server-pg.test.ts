// The PostgreSQL wire protocol server with the real node-postgres client: simple and extended
// queries, parameters, type round trips in text and binary, errors, transactions, cancel.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import {
  createYieldingEngine,
  cstr,
  dataRowValues,
  int16,
  int32,
  message,
  type PgFixture,
  RawClient,
  startFixture,
} from './server-pg-fixture.ts';

const CREATE =
  'CREATE TABLE reading (meter_id bigint, ts timestamp, kwh double precision, n integer, r real, ' +
  'amount numeric(10,2), note varchar(20), t text, ok boolean, b bytea, PRIMARY KEY (meter_id, ts))';

describe('pg server: queries with node-postgres', () => {
  let f: PgFixture;
  let c: pg.Client;
  before(async () => {
    f = await startFixture({}, createYieldingEngine());
    c = await f.client();
    await c.query(CREATE);
  });
  after(() => f.close());

  it('reports the server version and parameters at startup', async () => {
    const r = await c.query('SHOW server_version');
    assert.equal(r.rows[0].server_version, '15.0 (CascaDB)');
    assert.equal((await c.query('SHOW DateStyle')).rows[0].datestyle, 'ISO, MDY');
    const v = await c.query('SELECT version(), current_database(), current_schema()');
    assert.match(v.rows[0].version, /^PostgreSQL 15\.0 \(CascaDB\)/);
    assert.equal(v.rows[0].current_database, 'cascadb');
    assert.equal(v.rows[0].current_schema, 'public');
  });

  it('round-trips every supported type through text parameters with correct type OIDs', async () => {
    const bytes = Buffer.from([0, 1, 254, 255]);
    await c.query('INSERT INTO reading VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)', [
      42n.toString(),
      '2024-03-01 00:15:00.5',
      0.1,
      -7,
      1.5,
      '12.34',
      'väl',
      "text with 'quotes'",
      true,
      bytes,
    ]);
    const r = await c.query('SELECT * FROM reading WHERE meter_id = $1', [42]);
    assert.deepEqual(
      r.fields.map((x) => x.dataTypeID),
      [20, 1114, 701, 23, 700, 1700, 1043, 25, 16, 17],
    );
    const row = r.rows[0];
    assert.equal(row.meter_id, '42');
    assert.equal(row.kwh, 0.1);
    assert.equal(row.n, -7);
    assert.equal(row.r, 1.5);
    assert.equal(row.amount, '12.34');
    assert.equal(row.note, 'väl');
    assert.equal(row.t, "text with 'quotes'");
    assert.equal(row.ok, true);
    assert.deepEqual(row.b, bytes);
    assert.equal(row.ts.toISOString(), '2024-03-01T00:15:00.500Z');
  });

  it('writes text values exactly like PostgreSQL (bool, bytea, floats, numeric)', async () => {
    const r = await c.query({
      text: "SELECT true, false, '\\x00ff'::bytea, 1e15::double precision, 123456789012345::double precision, 0.00001::double precision, 16777216::real, 0.1::real, 1.50::numeric(5,2)",
      rowMode: 'array',
      types: { getTypeParser: () => (v: string) => v } as never,
    });
    assert.deepEqual(r.rows[0], [
      't',
      'f',
      '\\x00ff',
      '1e+15',
      '123456789012345',
      '1e-05',
      '1.6777216e+07',
      '0.1',
      '1.50',
    ]);
  });

  it('decodes binary parameters and sends binary results (raw protocol)', async () => {
    const raw = await RawClient.connect(f.server.port);
    await raw.startup();
    const id = Buffer.alloc(8);
    id.writeBigInt64BE(42n);
    raw.send(
      Buffer.concat([
        message(
          'P',
          cstr('bin'),
          cstr('SELECT meter_id, ts, kwh, n, r, amount, ok, b, note FROM reading WHERE meter_id = $1'),
          int16(0),
        ),
        message('B', cstr(''), cstr('bin'), int16(1), int16(1), int16(1), int32(8), id, int16(1), int16(1)),
        message('D', Buffer.from('P'), cstr('')),
        message('E', cstr(''), int32(0)),
        message('S'),
      ]),
    );
    const msgs = await raw.readUntil('Z');
    assert.deepEqual(
      msgs.map((m) => m.type),
      ['1', '2', 'T', 'D', 'C', 'Z'],
    );
    const row = dataRowValues(msgs[3]!.body);
    assert.equal(row[0]!.readBigInt64BE(), 42n);
    assert.equal(
      row[1]!.readBigInt64BE(),
      BigInt(Date.UTC(2024, 2, 1, 0, 15, 0, 500) - Date.UTC(2000, 0, 1)) * 1000n,
    );
    assert.equal(row[2]!.readDoubleBE(), 0.1);
    assert.equal(row[3]!.readInt32BE(), -7);
    assert.equal(row[4]!.readFloatBE(), 1.5);
    // numeric 12.34: 2 base-10000 digits, weight 0, positive, dscale 2, digits 12 and 3400
    assert.equal(row[5]!.toString('hex'), '0002000000000002000c0d48');
    assert.equal(row[6]![0], 1);
    assert.deepEqual([...row[7]!], [0, 1, 254, 255]);
    assert.equal(row[8]!.toString(), 'väl');
    raw.end();
  });

  it('suspends a portal at the row limit and resumes it', async () => {
    const raw = await RawClient.connect(f.server.port);
    await raw.startup();
    await c.query('CREATE TABLE five (id integer PRIMARY KEY)');
    await c.query('INSERT INTO five VALUES (1), (2), (3), (4), (5)');
    raw.send(
      Buffer.concat([
        message('P', cstr(''), cstr('SELECT id FROM five ORDER BY id'), int16(0)),
        message('B', cstr('p1'), cstr(''), int16(0), int16(0), int16(0)),
        message('E', cstr('p1'), int32(2)),
        message('E', cstr('p1'), int32(2)),
        message('E', cstr('p1'), int32(2)),
        message('S'),
      ]),
    );
    const msgs = await raw.readUntil('Z');
    assert.deepEqual(
      msgs.map((m) => m.type),
      ['1', '2', 'D', 'D', 's', 'D', 'D', 's', 'D', 'C', 'Z'],
    );
    assert.equal(msgs[9]!.body.toString('utf8', 0, msgs[9]!.body.length - 1), 'SELECT 1');
    raw.end();
  });

  it('runs several statements of one simple query and returns each result', async () => {
    const results = (await c.query(
      "SELECT 1 AS a; SELECT 2 AS b; SELECT 'x;y' AS c",
    )) as unknown as pg.QueryResult[];
    assert.deepEqual(
      results.map((r) => r.rows[0]),
      [{ a: 1 }, { b: 2 }, { c: 'x;y' }],
    );
  });

  it('runs a multi-statement simple query as one transaction', async () => {
    await c.query('CREATE TABLE multi (id integer PRIMARY KEY)');
    await assert.rejects(c.query('INSERT INTO multi VALUES (1); INSERT INTO multi VALUES (1)'), {
      code: '23505',
    });
    assert.equal((await c.query('SELECT count(*) AS n FROM multi')).rows[0].n, '0');
  });

  it('uses named prepared statements many times', async () => {
    for (let i = 0; i < 5; i++) {
      await c.query({
        name: 'ins',
        text: 'INSERT INTO reading (meter_id, ts, n) VALUES ($1, $2, $3)',
        values: [100 + i, '2024-01-01', i],
      });
    }
    const r = await c.query({
      name: 'sel',
      text: 'SELECT n FROM reading WHERE meter_id >= $1 ORDER BY meter_id',
      values: [100],
    });
    assert.deepEqual(
      r.rows.map((x) => x.n),
      [0, 1, 2, 3, 4],
    );
  });

  it('sends errors with SQLSTATE, message and position', async () => {
    await assert.rejects(c.query('SELECT nope FROM reading'), (e: pg.DatabaseError) => {
      assert.equal(e.code, '42703');
      assert.equal(e.position, '8');
      assert.equal(e.severity, 'ERROR');
      return true;
    });
    await assert.rejects(c.query('SELECT 1; SELEC 2'), (e: pg.DatabaseError) => {
      assert.equal(e.code, '42601');
      assert.equal(e.position, '11');
      return true;
    });
    await assert.rejects(c.query('SELECT 1/0'), { code: '22012' });
    await assert.rejects(c.query('SELECT * FROM reading WHERE meter_id = $1', ['abc']), { code: '22P02' });
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
  });

  it('reports transaction status and rolls back a failed transaction', async () => {
    await c.query('CREATE TABLE tx (id integer PRIMARY KEY, v text)');
    await c.query('BEGIN');
    await c.query("INSERT INTO tx VALUES (1, 'a')");
    await assert.rejects(c.query("INSERT INTO tx VALUES (1, 'b')"), { code: '23505' });
    await assert.rejects(c.query('SELECT 1'), { code: '25P02' });
    await c.query('ROLLBACK');
    assert.equal((await c.query('SELECT count(*) AS n FROM tx')).rows[0].n, '0');
    await c.query('BEGIN');
    await c.query("INSERT INTO tx VALUES (2, 'c')");
    await c.query('COMMIT');
    const other = await f.client();
    assert.deepEqual((await other.query('SELECT v FROM tx')).rows, [{ v: 'c' }]);
  });

  it('answers an empty query', async () => {
    const r = await c.query('');
    assert.equal(r.rows.length, 0);
  });

  it('cancels a running query with a CancelRequest', async () => {
    const s = f.db.session();
    await s.query('CREATE TABLE big (id integer PRIMARY KEY)');
    await s.query(`INSERT INTO big VALUES ${Array.from({ length: 300 }, (_, i) => `(${i})`).join(', ')}`);
    const q = c.query('SELECT count(*) FROM big a, big b, big c');
    await new Promise((r) => setImmediate(r));
    const cc = c as unknown as { processID: number; secretKey: number };
    const sock = connect(f.server.port, '127.0.0.1');
    const body = Buffer.alloc(16);
    body.writeInt32BE(16, 0);
    body.writeInt32BE(80877102, 4);
    body.writeInt32BE(cc.processID, 8);
    body.writeInt32BE(cc.secretKey, 12);
    sock.end(body);
    await assert.rejects(q, { code: '57014' });
    assert.equal((await c.query('SELECT 2 AS two')).rows[0].two, 2);
  });
});
