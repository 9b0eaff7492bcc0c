import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { after, before, describe, it, mock } from 'node:test';
import { inspect } from 'node:util';
import { CasCa, CasError } from '../../src/cas/index.ts';
import { startService } from '../../src/platform/index.ts';
import { type ServiceName, startTestCas, type TestCas } from './platform-fixture.ts';

async function refused(promise: Promise<unknown>): Promise<CasError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CasError, String(err));
    return err;
  }
  assert.fail('expected a CasError');
}

describe('startService', () => {
  let t: TestCas;
  const start = (name: string, code: ServiceName = name as ServiceName, extra = {}) =>
    startService({
      name,
      casUrl: t.url,
      casRootPem: t.rootPem,
      tee: 'sim',
      measurePath: t.code[code],
      simStateDir: t.simStateDir,
      heartbeat: false,
      ...extra,
    });

  before(async () => {
    t = await startTestCas();
  });
  after(async () => {
    await t?.close();
  });

  it('gives a granted service exactly its secrets and its rendered env, files and args', async () => {
    const mdc = await start('mdc');
    try {
      assert.deepEqual(mdc.secretNames(), ['dbKey', 'dbPassword']);
      const dbKey = await t.cas.getSecret(t.ownerSpki, 'dbKey');
      const dbPassword = await t.cas.getSecret(t.ownerSpki, 'dbPassword');
      assert.deepEqual(mdc.secret('dbKey'), dbKey.fields);
      assert.equal(mdc.env.DB_KEY, dbKey.fields.hex);
      assert.equal(mdc.env.WHO, `mdc/${mdc.instanceId}`);
      assert.equal(mdc.env.TLS_CERT_FILE, '/run/secrets/tls.pem');
      assert.deepEqual(mdc.args, ['--db-password', dbPassword.fields.value]);
      assert.deepEqual(Object.keys(mdc.files).sort(), [
        '/etc/mdc/db.conf',
        '/run/secrets/key.pem',
        '/run/secrets/tls.pem',
      ]);
      assert.equal(mdc.files['/run/secrets/tls.pem'], mdc.certificatePem);
      assert.equal(mdc.files['/etc/mdc/db.conf'], `password=${dbPassword.fields.value}\n`);
      // The CAS never sees the private key: the placeholder is rendered locally, with the key the
      // certificate certifies.
      const cert = new X509Certificate(mdc.certificatePem);
      assert.ok(cert.publicKey.equals(createPublicKey(createPrivateKey(mdc.env.TLS_KEY as string))));
      assert.equal(mdc.files['/run/secrets/key.pem'], mdc.env.TLS_KEY);
      assert.match(
        cert.subjectAltName ?? '',
        new RegExp(`URI:securecloud://service/mdc/instance/${mdc.instanceId}`),
      );
      assert.equal(mdc.caCertificatePem, t.rootPem);
      assert.equal(mdc.simulation, true);
      assert.equal(mdc.platform, 'sim');
      const err = await refused(Promise.resolve().then(() => mdc.secret('billingKey')));
      assert.equal(err.code, 'ERR_SECRET_UNKNOWN');
      assert.match(err.message, /not granted to service mdc; granted: dbKey, dbPassword/);
    } finally {
      await mdc.close();
    }
  });

  it('keeps secrets out of inspect and JSON output', async () => {
    const mdc = await start('mdc');
    try {
      const hex = mdc.secret('dbKey').hex as string;
      for (const shown of [inspect(mdc, { depth: 5 }), JSON.stringify(mdc), String(Object.keys(mdc))]) {
        assert.ok(!shown.includes(hex), shown);
        assert.ok(!shown.includes('PRIVATE KEY'), shown);
      }
      assert.match(inspect(mdc), /SIMULATION/);
    } finally {
      await mdc.close();
    }
  });

  it('gives a service without templates no secrets and an empty configuration', async () => {
    const reports = await start('reports');
    try {
      assert.deepEqual(reports.secretNames(), []);
      assert.deepEqual(reports.env, {});
      assert.deepEqual(reports.files, {});
      assert.deepEqual(reports.args, []);
    } finally {
      await reports.close();
    }
  });

  it('is refused with measurement-not-accepted when it runs code the policy does not accept', async () => {
    const err = await refused(start('mdc', 'billing'));
    assert.equal(err.code, 'ERR_ATTESTATION_REFUSED');
    assert.equal(err.refusal, 'measurement-not-accepted');
    assert.match(err.message, /measurement/);
  });

  it('is refused with service-unknown for a name the policy does not declare', async () => {
    const err = await refused(start('nosuch', 'mdc'));
    assert.equal(err.refusal, 'service-unknown');
  });

  it('refuses a CAS whose certificate does not chain to the pinned root', async () => {
    const err = await refused(start('mdc', 'mdc', { casRootPem: CasCa.create().rootPem }));
    assert.equal(err.code, 'ERR_CAS_IDENTITY');
  });

  it('says the CAS is unreachable when nothing listens', async () => {
    const err = await refused(start('mdc', 'mdc', { casUrl: 'https://127.0.0.1:1', timeoutMs: 2000 }));
    assert.equal(err.code, 'ERR_CAS_UNREACHABLE');
  });

  it('renews its lease over mTLS, and close() releases the instance so another may start', async () => {
    const first = await start('single');
    assert.equal(t.cas.status().services.single?.instances, 1);
    assert.ok((await first.renewLease()) > 0);
    const err = await refused(start('single'));
    assert.equal(err.refusal, 'too-many-instances');
    await first.close();
    await first.close();
    assert.equal(t.cas.status().services.single?.instances, 0);
    await assert.rejects(first.renewLease(), TypeError);
    const second = await start('single');
    await second.close();
  });

  it('renews the lease from an unref-ed timer every third of the lease', async () => {
    mock.timers.enable({ apis: ['setInterval'] });
    const reports = await start('reports', 'reports', { heartbeat: true });
    try {
      const renew = mock.method(reports, 'renewLease', async () => 60);
      mock.timers.tick((reports.leaseSeconds * 1000) / 3);
      assert.equal(renew.mock.callCount(), 1);
      await new Promise((r) => setImmediate(r)); // the first renewal settles
      mock.timers.tick((reports.leaseSeconds * 1000) / 3);
      assert.equal(renew.mock.callCount(), 2);
    } finally {
      mock.timers.reset();
      await reports.close();
    }
  });

  it('reports a failed heartbeat to onLeaseError and keeps running', async () => {
    const errors: Error[] = [];
    mock.timers.enable({ apis: ['setInterval'] });
    const reports = await start('reports', 'reports', {
      heartbeat: true,
      onLeaseError: (e: Error) => errors.push(e),
    });
    try {
      const failed = new Promise<void>((resolve) => {
        mock.method(reports, 'renewLease', async () => {
          queueMicrotask(resolve);
          throw new CasError('ERR_CAS_UNREACHABLE', 'gone');
        });
      });
      mock.timers.tick((reports.leaseSeconds * 1000) / 3);
      await failed;
      await new Promise((r) => setImmediate(r));
      assert.equal(errors[0]?.message, 'gone');
    } finally {
      mock.timers.reset();
      await reports.close();
    }
  });

  it('stops when its signal is aborted', async () => {
    await assert.rejects(start('mdc', 'mdc', { signal: AbortSignal.abort() }), { name: 'AbortError' });
  });

  it('refuses bad options with a TypeError', async () => {
    await assert.rejects(start('mdc', 'mdc', { casUrl: 'http://127.0.0.1:1' }), TypeError);
    await assert.rejects(start('mdc', 'mdc', { casRootPem: 'nope' }), TypeError);
    await assert.rejects(start('', 'mdc'), TypeError);
  });
});
