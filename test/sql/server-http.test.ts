import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createSelfSignedCa, issueCertificate } from '../../src/cas/x509.ts';
import { freshKeyPair } from '../../src/crypto/index.ts';
import { createMemoryEngine } from '../../src/kvs/index.ts';
import { createHttpClient, createMetricsRegistry, type HttpServer } from '../../src/platform/index.ts';
import { type Database, openDatabase } from '../../src/sql/index.ts';
import { createSqlHttpApi } from '../../src/sql/server/index.ts';

const PASSWORD = 'correct horse battery staple';

/** The answer of /v1/sql: a result, or an `error` object. */
interface ApiJson {
  readonly columns: Array<{ name: string; type: string }>;
  readonly rows: unknown[][];
  readonly rowCount: number;
  readonly command: string;
  readonly error: { code: string; sqlstate: string; message: string; position?: unknown };
}

async function post(url: string, body: unknown, password: string | undefined = PASSWORD) {
  const res = await fetch(`${url}/v1/sql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(password ? { authorization: `Bearer ${password}` } : {}),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as ApiJson };
}

describe('integration: HTTP JSON API (password auth)', () => {
  let db: Database;
  let api: HttpServer;
  let url: string;
  const metrics = createMetricsRegistry();

  before(async () => {
    db = await openDatabase({ engine: createMemoryEngine() });
    api = createSqlHttpApi({
      database: db,
      auth: { password: PASSWORD },
      metrics,
      maxRows: 50,
      maxBodyBytes: 4096,
    });
    url = (await api.listen(0, '127.0.0.1')).url;
  });
  after(async () => {
    await api.close({ deadlineMs: 1000 });
    await db.close();
  });

  it('refuses requests without or with a wrong bearer password', async () => {
    assert.equal((await post(url, { sql: 'SELECT 1' }, '')).status, 401);
    const wrong = await post(url, { sql: 'SELECT 1' }, 'nope');
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.error.sqlstate, '28000');
  });

  it('runs DDL, DML with params and returns typed JSON values, large ones as strings', async () => {
    const ddl = await post(url, {
      sql: 'CREATE TABLE m (id bigint PRIMARY KEY, n integer, f double precision, x numeric(10,2), b boolean, t text, ts timestamp, raw bytea)',
    });
    assert.equal(ddl.status, 200, JSON.stringify(ddl.json));
    const ins = await post(url, {
      sql: 'INSERT INTO m VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
      params: ['9007199254740993', 7, 0.25, '12.50', true, 'héllo', '2024-03-01 00:15:00', '\\x00ff'],
    });
    assert.deepEqual([ins.status, ins.json.rowCount, ins.json.command], [200, 1, 'INSERT 0 1']);
    const sel = await post(url, { sql: 'SELECT * FROM m WHERE id = $1', params: ['9007199254740993'] });
    assert.equal(sel.status, 200);
    assert.deepEqual(
      sel.json.columns.map((c) => c.type),
      ['bigint', 'integer', 'double precision', 'numeric', 'boolean', 'text', 'timestamp', 'bytea'],
    );
    assert.deepEqual(sel.json.rows, [
      ['9007199254740993', 7, 0.25, '12.50', true, 'héllo', '2024-03-01 00:15:00', '\\x00ff'],
    ]);
    assert.equal(sel.json.rowCount, 1);
  });

  it('answers SQL errors with SQLSTATE, message and position', async () => {
    const syntax = await post(url, { sql: 'SELECT 1 FROM WHERE' });
    assert.equal(syntax.status, 400);
    assert.equal(syntax.json.error.sqlstate, '42601');
    assert.deepEqual(syntax.json.error.position, { line: 1, column: 15, offset: 15 });
    const missing = await post(url, { sql: 'SELECT * FROM nowhere' });
    assert.equal(missing.json.error.sqlstate, '42P01');
    const unsupported = await post(url, { sql: 'WITH x AS (SELECT 1) SELECT * FROM x' });
    assert.equal(unsupported.json.error.sqlstate, '0A000');
    const dup = await post(url, { sql: 'INSERT INTO m (id) VALUES (9007199254740993)' });
    assert.deepEqual([dup.status, dup.json.error.sqlstate], [409, '23505']);
  });

  it('runs several statements of one request in one session and rolls back what is left open', async () => {
    const r = await post(url, {
      sql: 'BEGIN; INSERT INTO m (id) VALUES (1); INSERT INTO m (id) VALUES (2); COMMIT',
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    await post(url, { sql: 'BEGIN; INSERT INTO m (id) VALUES (3)' });
    const count = await post(url, { sql: 'SELECT count(*) FROM m' });
    assert.deepEqual(count.json.rows, [['3']]);
  });

  it('refuses malformed bodies, bad params, oversized bodies and too many rows', async () => {
    assert.equal((await post(url, '{not json')).status, 400);
    assert.equal((await post(url, { sql: 42 })).status, 400);
    assert.equal((await post(url, { sql: 'SELECT $1', params: [{}] })).status, 400);
    assert.equal((await post(url, { sql: `SELECT '${'x'.repeat(5000)}'` })).status, 413);
    await post(url, { sql: 'CREATE TABLE many (i integer PRIMARY KEY)' });
    const values = Array.from({ length: 60 }, (_, i) => `(${i})`).join(',');
    await post(url, { sql: `INSERT INTO many VALUES ${values}` });
    const big = await post(url, { sql: 'SELECT * FROM many' });
    assert.deepEqual([big.status, big.json.error.sqlstate], [413, '54000']);
  });

  it('answers psql catalog queries from the catalog emulation', async () => {
    const r = await post(url, {
      sql: `SELECT n.nspname as "Schema", c.relname as "Name", 'table' as "Type", pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
FROM pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r','p','') ORDER BY 1,2`,
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.ok(r.json.rows.some((row) => row[1] === 'm'));
  });

  it('serves /healthz and /metrics', async () => {
    const health = await fetch(`${url}/healthz`);
    assert.deepEqual(await health.json(), { ok: true });
    const text = await (await fetch(`${url}/metrics`)).text();
    assert.match(text, /cascadb_http_statements_total\{outcome="ok"\} \d+/);
  });
});

describe('integration: HTTPS JSON API with CAS client certificates', () => {
  const caKey = freshKeyPair('p256');
  const caPem = createSelfSignedCa('test root', caKey.privateKey, 2);
  const issue = (cn: string, usage: 'server-client' | 'client') => {
    const k = freshKeyPair('p256');
    const pem = issueCertificate({
      issuerPem: caPem,
      issuerKey: caKey.privateKey,
      subjectCn: cn,
      publicKey: k.publicKey,
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1'],
      validFrom: new Date(Date.now() - 60_000),
      validDays: 1,
      serial: randomBytes(8),
      usage,
    });
    return { cert: pem, key: k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
  };

  it('accepts a client certificate of the CAS, refuses none or a name not allowed', async () => {
    const db = await openDatabase({ engine: createMemoryEngine() });
    const server = issue('cascadb', 'server-client');
    const api = createSqlHttpApi({
      database: db,
      auth: { clientCertificates: { allowedNames: ['billing'] } },
      tls: { ...server, ca: caPem, requestCert: true },
    });
    const { port } = await api.listen(0, '127.0.0.1');
    const call = async (client?: { cert: string; key: string }) => {
      const http = createHttpClient({ tls: { ca: caPem, ...(client ?? {}) } });
      try {
        const res = await http.request({
          method: 'POST',
          url: `https://127.0.0.1:${port}/v1/sql`,
          json: { sql: 'SELECT 1 AS one' },
        });
        return { status: res.status, json: JSON.parse(res.body.toString('utf8')) };
      } finally {
        http.close();
      }
    };
    try {
      const ok = await call(issue('billing', 'client'));
      assert.deepEqual([ok.status, ok.json.rows], [200, [[1]]]);
      assert.equal((await call()).status, 401);
      assert.equal((await call(issue('intruder', 'client'))).status, 403);
    } finally {
      await api.close({ deadlineMs: 1000 });
      await db.close();
    }
  });
});
