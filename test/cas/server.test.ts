import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { CasCa } from '../../src/cas/ca.ts';
import type { CasService } from '../../src/cas/cas-service.ts';
import { type CasClient, createCasClient } from '../../src/cas/client.ts';
import { CasError, type CasErrorCode } from '../../src/cas/errors.ts';
import { bindingReportData } from '../../src/cas/protocol.ts';
import { type CasServer, startCasServer } from '../../src/cas/server.ts';
import { freshKeyPair } from '../../src/crypto/index.ts';
import { createHttpClient } from '../../src/platform/http-client.ts';
import { createSimVerifier } from '../../src/tee/index.ts';
import {
  basePolicy,
  CAS_MEASUREMENT,
  MDC,
  memoryLogger,
  openCas,
  owner,
  reader,
  signed,
  simService,
  tempDir,
} from './cas-fixture.ts';

async function rejectsWith(promise: Promise<unknown>, code: CasErrorCode): Promise<CasError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof CasError, String(err));
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

describe('CAS server over HTTPS', () => {
  let cas: CasService;
  let server: CasServer;
  let anonymous: CasClient;
  let asOwner: CasClient;
  let asReader: CasClient;
  const logger = memoryLogger();
  const clients: CasClient[] = [];
  const client = (o: Partial<Parameters<typeof createCasClient>[0]> = {}) => {
    const c = createCasClient({ url: server.url, rootPem: cas.rootPem, ...o });
    clients.push(c);
    return c;
  };

  before(async () => {
    cas = await openCas(await tempDir(), { logger });
    server = await startCasServer(cas, { port: 0, logger });
    anonymous = client();
    asOwner = client({ userKeyPem: owner.pem });
    asReader = client({ userKeyPem: reader.pem });
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
    await cas.close();
  });

  it('answers status with SIMULATION marked', async () => {
    const status = await anonymous.status();
    assert.equal(status.simulation, true);
    assert.equal(status.measurement, CAS_MEASUREMENT);
    assert.equal(status.policy, null);
    assert.match(status.auditPublicKey, /BEGIN PUBLIC KEY/);
  });

  it('serves its own evidence bound to the TLS key it answers over', async () => {
    const nonce = randomBytes(32);
    const own = await anonymous.evidence(nonce.toString('hex'));
    const result = await createSimVerifier().verify(own.evidence, { at: new Date(), allowSimulation: true });
    assert.equal(result.accepted, true);
    assert.equal(result.measurement, CAS_MEASUREMENT);
    assert.equal(result.reportData, bindingReportData(own.peerSpki, nonce).toString('hex'));
    await rejectsWith(anonymous.evidence('abc'), 'ERR_BAD_REQUEST');
  });

  it('applies a signed policy, then requires a user certificate for user routes', async () => {
    const text = JSON.stringify(basePolicy());
    const record = await anonymous.applyPolicy(text, signed(text, owner));
    assert.equal(record.version, 1);
    await rejectsWith(anonymous.policy(), 'ERR_UNAUTHORIZED');
    assert.equal((await asReader.policy()).text, text);
    assert.equal((await asOwner.policyHistory()).length, 1);
    await rejectsWith(asReader.getSecret('dbKey'), 'ERR_FORBIDDEN');
    const stale = JSON.stringify(basePolicy({ name: 'again' }));
    await rejectsWith(asOwner.applyPolicy(stale, signed(stale, owner)), 'ERR_POLICY_PREDECESSOR');
    const invalid = await rejectsWith(
      asOwner.applyPolicy('{"version": 1, "nme": 2}', []),
      'ERR_POLICY_INVALID',
    );
    assert.ok(invalid.path !== undefined);
  });

  it('stores user-provided secrets write-only and serves generated ones to permitted users', async () => {
    await asOwner.putSecret('utilityToken', Buffer.from('from-the-utility'));
    await rejectsWith(asOwner.getSecret('utilityToken'), 'ERR_SECRET_NOT_READABLE');
    await rejectsWith(asOwner.putSecret('dbKey', Buffer.from('x')), 'ERR_SECRET_NOT_WRITABLE');
    await rejectsWith(asOwner.getSecret('nosuch'), 'ERR_SECRET_UNKNOWN');
    const secret = await asOwner.getSecret('dbPassword');
    assert.equal(secret.type, 'password');
    assert.ok((secret.fields.value ?? '').length >= 16);
  });

  it('attests a service, renews and releases its lease over mTLS with the issued certificate', async () => {
    const mdc = await simService(cas.dataDir, { measurement: MDC });
    const { nonce } = await anonymous.attestNonce('mdc');
    const { publicKey, privateKey } = freshKeyPair('p256');
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const backend = await (await import('../../src/tee/index.ts')).createSimBackend({
      measurement: MDC,
      stateDir: `${cas.dataDir}/sim-platform`,
    });
    const evidence = await backend.getEvidence(bindingReportData(spki, Buffer.from(nonce, 'hex')));
    const grant = await anonymous.attest({
      service: 'mdc',
      nonce,
      evidence,
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
    });
    assert.deepEqual(Object.keys(grant.secrets).sort(), ['dbKey', 'inmetro']);
    assert.equal(grant.simulation, true);
    const instance = client({
      clientCert: {
        certPem: grant.certificate,
        keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      },
    });
    assert.deepEqual(await instance.heartbeat(grant.instanceId), { leaseSeconds: 60, simulation: true });
    await rejectsWith(anonymous.heartbeat(grant.instanceId), 'ERR_UNAUTHORIZED');
    await rejectsWith(asOwner.heartbeat(grant.instanceId), 'ERR_UNAUTHORIZED');
    await instance.release(grant.instanceId);
    await rejectsWith(instance.heartbeat(grant.instanceId), 'ERR_NOT_FOUND');
    const replay = await rejectsWith(
      anonymous.attest({ ...(await mdc.request(cas, 'mdc')), nonce }),
      'ERR_ATTESTATION_REFUSED',
    );
    assert.equal(replay.refusal, 'nonce-unknown-or-replayed');
  });

  it('answers malformed requests with 400 error JSON and oversized ones with 413', async () => {
    const http = createHttpClient({ tls: { ca: cas.rootPem, checkServerIdentity: () => undefined } });
    try {
      const bad = await http.request({
        method: 'POST',
        url: `${server.url}/v1/attest`,
        json: { service: 7 },
      });
      assert.equal(bad.status, 400);
      assert.deepEqual(JSON.parse(bad.body.toString()), {
        error: {
          code: 'ERR_BAD_REQUEST',
          message: '"service" must be a non-empty string of at most 64 characters',
          path: 'service',
        },
        simulation: true,
      });
      const big = await http.request({
        method: 'POST',
        url: `${server.url}/v1/policy`,
        json: { text: 'x'.repeat(1_100_000), signatures: [] },
      });
      assert.equal(big.status, 413);
      const refused = await http.request({
        method: 'POST',
        url: `${server.url}/v1/attest`,
        json: { service: 'nosuch', nonce: '00', evidence: 'AAAA', publicKey: await keyPem() },
      });
      assert.equal(refused.status, 422);
      assert.equal(JSON.parse(refused.body.toString()).error.refusal, 'service-unknown');
      const missing = await http.request({ method: 'GET', url: `${server.url}/v2/nothing` });
      assert.equal(missing.status, 404);
      assert.equal(missing.headers['x-securecloud-simulation'], 'true');
    } finally {
      http.close();
    }
  });

  it('exposes Prometheus metrics without secrets', async () => {
    const http = createHttpClient({ tls: { ca: cas.rootPem, checkServerIdentity: () => undefined } });
    try {
      const res = await http.request({ method: 'GET', url: `${server.url}/metrics` });
      const text = res.body.toString();
      assert.match(String(res.headers['content-type']), /version=0\.0\.4/);
      assert.match(
        text,
        /securecloud_cas_attestations_total\{result="granted",reason="none",service="mdc"\} 1/,
      );
      assert.match(
        text,
        /securecloud_cas_attestations_total\{result="refused",reason="nonce-unknown-or-replayed",service="mdc"\} 1/,
      );
      assert.match(
        text,
        /securecloud_cas_attestation_duration_seconds_bucket\{result="granted",le="\+Inf"\} 1/,
      );
      assert.match(text, /securecloud_cas_policy_version\{name="smart-metering"\} 1/);
      assert.match(text, /securecloud_cas_simulation 1/);
      assert.match(
        text,
        /securecloud_http_requests_total\{method="POST",route="\/v1\/attest",status="422"\} 2/,
      );
      assert.doesNotMatch(text, /from-the-utility/);
      const health = await http.request({ method: 'GET', url: `${server.url}/healthz` });
      assert.deepEqual(JSON.parse(health.body.toString()), { ok: true, simulation: true });
    } finally {
      http.close();
    }
  });

  it('speaks TLS 1.3 only', async () => {
    const socket = tlsConnect({
      port: server.port,
      host: '127.0.0.1',
      ca: cas.rootPem,
      maxVersion: 'TLSv1.2',
    });
    const [err] = await once(socket, 'error');
    assert.ok(err instanceof Error);
  });

  it('logs JSON lines marked simulation without secret values', () => {
    assert.ok(logger.lines.length > 0);
    assert.ok(logger.lines.some((l) => l.includes('attestation granted')));
    assert.ok(!logger.lines.some((l) => l.includes('from-the-utility')));
  });
});

describe('CAS client failures', () => {
  it('refuses a server whose certificate chains to another root', async () => {
    const cas = await openCas(await tempDir());
    const server = await startCasServer(cas, { port: 0 });
    const c = createCasClient({ url: server.url, rootPem: CasCa.create().rootPem });
    try {
      const err = await rejectsWith(c.status(), 'ERR_CAS_IDENTITY');
      assert.match(err.message, /--cas-root/);
    } finally {
      c.close();
      await server.close();
      await cas.close();
    }
  });

  it('refuses a service certificate under the right root posing as the CAS', async () => {
    const ca = CasCa.create();
    const { publicKey, privateKey } = freshKeyPair('p256');
    const impostor = createServer(
      {
        key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
        cert: ca.issueServiceCertificate('mdc', 'i1', publicKey),
        minVersion: 'TLSv1.3',
      },
      (_req, res) => res.end('{}'),
    );
    impostor.listen(0, '127.0.0.1');
    await once(impostor, 'listening');
    const port = (impostor.address() as AddressInfo).port;
    const c = createCasClient({ url: `https://127.0.0.1:${port}`, rootPem: ca.rootPem });
    try {
      const err = await rejectsWith(c.status(), 'ERR_CAS_IDENTITY');
      assert.match(err.message, /not the CAS's/);
    } finally {
      c.close();
      impostor.close();
    }
  });

  it('says the CAS is unreachable when nothing listens', async () => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const c = createCasClient({ url: `https://127.0.0.1:${port}`, rootPem: CasCa.create().rootPem });
    try {
      await rejectsWith(c.status(), 'ERR_CAS_UNREACHABLE');
    } finally {
      c.close();
    }
  });
});

async function keyPem(): Promise<string> {
  return freshKeyPair('p256').publicKey.export({
    type: 'spki',
    format: 'pem',
  }) as string;
}
