// Authentication and TLS of the pg wire server: SCRAM-SHA-256 with good and bad passwords,
// TLS with a CAS-issued server certificate, and CAS-issued client certificates.
import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CasCa } from '../../src/cas/index.ts';
import { freshKeyPair } from '../../src/crypto/index.ts';
import {
  errorFieldsOf,
  type PgFixture,
  RawClient,
  startFixture,
  startupPacket,
} from './server-pg-fixture.ts';

function pem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

describe('pg server: SCRAM-SHA-256', () => {
  let f: PgFixture;
  before(async () => {
    f = await startFixture({ auth: { passwords: { cascadb: 'correct horse' } } });
  });
  after(() => f.close());

  it('accepts the right password', async () => {
    const c = await f.client({ user: 'cascadb', password: 'correct horse' });
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
  });

  it('refuses a wrong password with 28P01', async () => {
    await assert.rejects(
      f.client({ user: 'cascadb', password: 'wrong' }),
      (e: { code?: string; message: string }) => {
        assert.equal(e.code, '28P01');
        assert.match(e.message, /password authentication failed for user "cascadb"/);
        return true;
      },
    );
  });

  it('refuses an unknown user the same way as a wrong password', async () => {
    await assert.rejects(f.client({ user: 'mallory', password: 'x' }), { code: '28P01' });
  });

  it('refuses a malformed SASL response with 08P01 and keeps serving others', async () => {
    const raw = await RawClient.connect(f.server.port);
    raw.send(startupPacket({ user: 'cascadb' }));
    const [sasl] = await raw.readUntil('R');
    assert.equal(sasl!.body.readInt32BE(0), 10);
    raw.send(Buffer.concat([Buffer.from('p'), Buffer.from([0, 0, 0, 8]), Buffer.from('abcd')]));
    const [err] = await raw.readUntil('E');
    assert.equal(errorFieldsOf(err!.body).C, '08P01');
    await raw.waitClosed();
    const c = await f.client({ user: 'cascadb', password: 'correct horse' });
    assert.equal((await c.query('SELECT 2 AS two')).rows[0].two, 2);
  });
});

describe('pg server: TLS and CAS client certificates', () => {
  const ca = CasCa.create();
  const serverKey = freshKeyPair('p256');
  const serverCert = ca.issueTlsCertificate(['127.0.0.1', 'localhost'], serverKey.publicKey, 1);
  const clientKey = freshKeyPair('p256');
  const clientCert = ca.issueServiceCertificate('grafana', 'i1', clientKey.publicKey, 1);
  const other = CasCa.create();
  const strangerCert = other.issueServiceCertificate('grafana', 'i2', clientKey.publicKey, 1);
  let f: PgFixture;
  before(async () => {
    f = await startFixture({
      tls: { key: pem(serverKey.privateKey), cert: serverCert, ca: ca.rootPem },
      auth: { passwords: { cascadb: 'pw' }, clientCertificates: true },
    });
  });
  after(() => f.close());

  it('serves SCRAM over TLS verified against the CAS root', async () => {
    const c = await f.client({
      user: 'cascadb',
      password: 'pw',
      ssl: { ca: ca.rootPem, servername: 'localhost' },
    });
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
  });

  it('refuses a client without TLS when TLS is required', async () => {
    await assert.rejects(f.client({ user: 'cascadb', password: 'pw' }), { code: '28000' });
  });

  it('accepts a CAS-issued client certificate naming the user without a password', async () => {
    const c = await f.client({
      user: 'grafana',
      ssl: { ca: ca.rootPem, servername: 'localhost', cert: clientCert, key: pem(clientKey.privateKey) },
    });
    assert.equal((await c.query('SELECT current_user')).rows[0].current_user, 'grafana');
  });

  it('asks for a password instead when the certificate is from another CA or names another user', async () => {
    const ssl = { ca: ca.rootPem, servername: 'localhost', key: pem(clientKey.privateKey) };
    await assert.rejects(
      f.client({ user: 'grafana', password: 'guess', ssl: { ...ssl, cert: strangerCert } }),
      {
        code: '28P01',
      },
    );
    await assert.rejects(f.client({ user: 'cascadb', password: 'bad', ssl: { ...ssl, cert: clientCert } }), {
      code: '28P01',
    });
  });
});
