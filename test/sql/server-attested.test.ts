// CascaDB started as an attested service under a real CAS (sim backend): it gets its storage key,
// password and TLS certificate from the CAS, and clients reach it only over TLS with the CAS root.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { CasService, generateUserKey, loadUserKey, signPolicy, startCasServer } from '../../src/cas/index.ts';
import { type RunningSqlServer, startPgServer, startSqlServer } from '../../src/sql/server/index.ts';
import { createSimBackend, measureService } from '../../src/tee/index.ts';

describe('CascaDB server under the CAS', () => {
  let dir: string;
  let cas: CasService;
  let casServer: Awaited<ReturnType<typeof startCasServer>>;
  let password: string;
  let ownerSpki: Buffer;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sc-sql-attested-'));
    const backend = await createSimBackend({ measurement: 'ca'.repeat(32), stateDir: join(dir, 'cas-sim') });
    cas = await CasService.open({ dataDir: join(dir, 'cas'), backend, measurement: 'ca'.repeat(32) });
    // startService measures the directory of the entry script on the sim backend.
    const measurement = (await measureService(dirname(process.argv[1]!))).measurement;
    const owner = generateUserKey('owner');
    const ownerKey = loadUserKey(owner.pem);
    ownerSpki = ownerKey.publicKeySpki;
    const text = JSON.stringify({
      version: 1,
      name: 'cascadb-test',
      predecessor: null,
      users: { owner: { certificate: owner.certificatePem, roles: ['owner'] } },
      roles: { owner: { can: ['update-policy', 'read-secret'] } },
      services: {
        cascadb: {
          accept: [{ measurement }],
          platforms: ['sim'],
          allowSimulation: true,
          maxInstances: 2,
          secrets: ['storageKey', 'dbPassword'],
        },
      },
      secrets: { storageKey: { type: 'symmetric-key', bits: 256 }, dbPassword: { type: 'password' } },
    });
    await cas.applyPolicy(text, [{ user: 'owner', signature: signPolicy(text, ownerKey.privateKey) }]);
    casServer = await startCasServer(cas, { port: 0 });
    const secret = await cas.getSecret(ownerSpki, 'dbPassword');
    password = String(secret.fields.value);
  });

  after(async () => {
    await casServer.close({ deadlineMs: 1000 });
    await cas.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function start(dataDir: string): Promise<RunningSqlServer> {
    return startSqlServer({
      dataDir,
      port: 0,
      host: '127.0.0.1',
      cas: { url: casServer.url, rootPem: cas.rootPem, tee: 'sim' },
      startPg: startPgServer,
      log: () => {},
    });
  }

  const client = (port: number, pw: string, ssl: boolean) =>
    new pg.Client({
      host: '127.0.0.1',
      port,
      user: 'cascadb',
      database: 'cascadb',
      password: pw,
      ssl: ssl ? { ca: cas.rootPem, servername: 'cascadb' } : false,
    });

  it('attests, then serves over TLS with the CAS password, and keeps its data across a restart', async () => {
    const dataDir = join(dir, 'db');
    let server = await start(dataDir);
    try {
      assert.equal(server.simulation, true);
      const c = client(server.pgPort!, password, true);
      await c.connect();
      await c.query(
        'CREATE TABLE reading (meter_id bigint, ts timestamp, kwh double precision, PRIMARY KEY (meter_id, ts))',
      );
      await c.query("INSERT INTO reading VALUES (42, '2024-03-01 00:15:00', 1.25)");
      await c.end();
    } finally {
      await server.close({ deadlineMs: 1000 });
    }
    // A new instance attests again and gets the same storage key from the CAS: the data opens.
    server = await start(dataDir);
    try {
      const c = client(server.pgPort!, password, true);
      await c.connect();
      const r = await c.query('SELECT meter_id, kwh FROM reading');
      assert.deepEqual(r.rows, [{ meter_id: '42', kwh: 1.25 }]);
      await c.end();
    } finally {
      await server.close({ deadlineMs: 1000 });
    }
  });

  it('refuses a wrong password and a client without TLS', async () => {
    const server = await start(join(dir, 'db2'));
    try {
      await assert.rejects(
        client(server.pgPort!, 'not-the-password', true).connect(),
        (err: { code?: string }) => {
          assert.equal(err.code, '28P01');
          return true;
        },
      );
      await assert.rejects(client(server.pgPort!, password, false).connect());
    } finally {
      await server.close({ deadlineMs: 1000 });
    }
  });
});
