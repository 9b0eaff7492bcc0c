import assert from 'node:assert/strict';
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { appraise } from '../../src/cas/appraise.ts';
import type { AttestInput } from '../../src/cas/attestation.ts';
import type { CasService } from '../../src/cas/cas-service.ts';
import { type AttestationRefusal, CasError } from '../../src/cas/errors.ts';
import { parsePolicy } from '../../src/cas/policy.ts';
import { SELF_PRIVATE_KEY_PLACEHOLDER } from '../../src/cas/template.ts';
import { freshKeyPair } from '../../src/crypto/index.ts';
import {
  createDcapVerifier,
  createEvidenceVerifierSet,
  createSimVerifier,
  decodeEvidenceFile,
  loadCollateralFiles,
  type VerificationResult,
} from '../../src/tee/index.ts';
import { vector } from '../cli/helpers.ts';
import {
  apply,
  BILLING,
  basePolicy,
  MDC,
  OTHER,
  openCas,
  owner,
  simService,
  tempDir,
} from './cas-fixture.ts';

async function refusal(cas: CasService, input: AttestInput | Promise<AttestInput>): Promise<CasError> {
  try {
    await cas.attest(await input);
  } catch (err) {
    assert.ok(err instanceof CasError, String(err));
    assert.equal(err.code, 'ERR_ATTESTATION_REFUSED');
    return err;
  }
  assert.fail('the attestation was granted');
}

async function refusedWith(
  cas: CasService,
  input: AttestInput | Promise<AttestInput>,
  code: AttestationRefusal,
): Promise<CasError> {
  const err = await refusal(cas, input);
  assert.equal(err.refusal, code, err.message);
  return err;
}

describe('attestation decisions', () => {
  let dir: string;
  let cas: CasService;
  let clock = Date.now();
  let mdc: Awaited<ReturnType<typeof simService>>;

  before(async () => {
    dir = await tempDir();
    cas = await openCas(dir, { now: () => new Date(clock) });
    mdc = await simService(dir, { measurement: MDC });
  });
  after(() => cas.close());

  it('refuses with no-policy before any policy is applied', async () => {
    await refusedWith(cas, mdc.request(cas, 'mdc'), 'no-policy');
    await apply(cas, basePolicy());
    await cas.putSecret(owner.spki, 'utilityToken', Buffer.from('token-from-the-utility'));
  });

  it('refuses with service-unknown for a service the policy does not list', async () => {
    const err = await refusedWith(cas, mdc.request(cas, 'nosuch'), 'service-unknown');
    assert.match(err.message, /no service "nosuch"/);
  });

  it('grants a service exactly its secrets and renders its configuration', async () => {
    const grant = await cas.attest(await mdc.request(cas, 'mdc'));
    assert.deepEqual(Object.keys(grant.secrets).sort(), ['dbKey', 'inmetro']);
    assert.equal(grant.env.DB_KEY, grant.secrets.dbKey?.fields.hex);
    assert.equal(grant.env.INMETRO_KEY, grant.secrets.inmetro?.fields.privatePem);
    assert.equal(grant.files['/run/secrets/tls.pem'], grant.certificate);
    assert.equal(grant.files['/run/secrets/key.pem'], SELF_PRIVATE_KEY_PLACEHOLDER);
    assert.deepEqual(grant.args, ['--instance', grant.instanceId]);
    assert.equal(grant.simulation, true);
    const cert = new X509Certificate(grant.certificate);
    assert.ok(cert.checkIssued(new X509Certificate(grant.caCertificate)));
    assert.match(
      cert.subjectAltName ?? '',
      new RegExp(`securecloud://service/mdc/instance/${grant.instanceId}`),
    );
    cas.release(cert, grant.instanceId);
  });

  it('refuses a replayed nonce, an unknown nonce and a nonce issued for another service', async () => {
    const input = await mdc.request(cas, 'mdc');
    const grant = await cas.attest(input);
    await refusedWith(cas, input, 'nonce-unknown-or-replayed');
    await refusedWith(cas, { ...input, nonce: randomBytes(32).toString('hex') }, 'nonce-unknown-or-replayed');
    const forBilling = cas.createNonce('billing').nonce;
    await refusedWith(
      cas,
      { ...(await mdc.request(cas, 'mdc')), nonce: forBilling },
      'nonce-unknown-or-replayed',
    );
    cas.release(new X509Certificate(grant.certificate), grant.instanceId);
  });

  it('refuses an expired nonce', async () => {
    const input = await mdc.request(cas, 'mdc');
    clock += 61_000;
    await refusedWith(cas, input, 'nonce-unknown-or-replayed');
  });

  it('refuses altered evidence and evidence in no known format as evidence-invalid', async () => {
    const input = await mdc.request(cas, 'mdc');
    const altered = Buffer.from(input.evidence);
    altered[altered.length - 1] = (altered[altered.length - 1] ?? 0) ^ 1;
    const err = await refusedWith(cas, { ...input, evidence: altered }, 'evidence-invalid');
    assert.match(err.message, /ERR_SIM_SIGNATURE/);
    const garbage = await mdc.request(cas, 'mdc');
    await refusedWith(cas, { ...garbage, evidence: randomBytes(600) }, 'evidence-invalid');
  });

  it('refuses evidence bound to another key or nonce as binding-mismatch', async () => {
    const { publicKey } = freshKeyPair('p256');
    await refusedWith(cas, mdc.request(cas, 'mdc', { key: publicKey }), 'binding-mismatch');
    const other = randomBytes(32).toString('hex');
    await refusedWith(cas, mdc.request(cas, 'mdc', { nonce: other }), 'binding-mismatch');
  });

  it('refuses a measurement no accept entry lists', async () => {
    const stranger = await simService(dir, { measurement: OTHER });
    const err = await refusedWith(cas, stranger.request(cas, 'mdc'), 'measurement-not-accepted');
    assert.match(err.message, new RegExp(OTHER));
    assert.match(err.message, /services\.mdc\.accept/);
  });

  it('matches signer entries by signer, product id and minimum svn', async () => {
    const old = await simService(dir, { measurement: OTHER, signer: BILLING, productId: 7, svn: 1 });
    await refusedWith(cas, old.request(cas, 'billing'), 'measurement-not-accepted');
    const wrongProduct = await simService(dir, { measurement: OTHER, signer: BILLING, productId: 8, svn: 5 });
    await refusedWith(cas, wrongProduct.request(cas, 'billing'), 'measurement-not-accepted');
    const current = await simService(dir, { measurement: OTHER, signer: BILLING, productId: 7, svn: 2 });
    const grant = await cas.attest(await current.request(cas, 'billing'));
    assert.deepEqual(Object.keys(grant.secrets), ['dbPassword']);
    assert.equal(grant.env.DB_PASSWORD, grant.secrets.dbPassword?.fields.value);
    cas.release(new X509Certificate(grant.certificate), grant.instanceId);
  });

  it('refuses debug evidence unless allowDebug', async () => {
    const debug = await simService(dir, { measurement: MDC, debug: true });
    const err = await refusedWith(cas, debug.request(cas, 'mdc'), 'debug-not-allowed');
    assert.match(err.message, /allowDebug/);
  });

  it('limits live instances to maxInstances, counting leases until they expire or are released', async () => {
    const a = await cas.attest(await mdc.request(cas, 'mdc'));
    const b = await cas.attest(await mdc.request(cas, 'mdc'));
    const err = await refusedWith(cas, mdc.request(cas, 'mdc'), 'too-many-instances');
    assert.match(err.message, /maxInstances is 2/);
    assert.equal(cas.status().services.mdc?.instances, 2);
    cas.release(new X509Certificate(a.certificate), a.instanceId);
    const c = await cas.attest(await mdc.request(cas, 'mdc'));
    clock += 30_000;
    assert.deepEqual(cas.heartbeat(new X509Certificate(c.certificate), c.instanceId), { leaseSeconds: 60 });
    clock += 31_000; // b expired, c renewed 31 s ago
    assert.equal(cas.status().services.mdc?.instances, 1);
    assert.throws(
      () => cas.heartbeat(new X509Certificate(b.certificate), b.instanceId),
      (e) => e instanceof CasError && e.code === 'ERR_NOT_FOUND',
    );
    const d = await cas.attest(await mdc.request(cas, 'mdc'));
    for (const g of [c, d]) cas.release(new X509Certificate(g.certificate), g.instanceId);
  });

  it('accepts heartbeats only with the instance certificate', async () => {
    const g = await cas.attest(await mdc.request(cas, 'mdc'));
    assert.throws(
      () => cas.heartbeat(null, g.instanceId),
      (e) => e instanceof CasError && e.code === 'ERR_UNAUTHORIZED',
    );
    const alien = new X509Certificate(
      (await import('../../src/cas/ca.ts')).CasCa.create().issueServiceCertificate(
        'mdc',
        g.instanceId,
        freshKeyPair('p256').publicKey,
      ),
    );
    assert.throws(
      () => cas.heartbeat(alien, g.instanceId),
      (e) => e instanceof CasError && e.code === 'ERR_UNAUTHORIZED',
    );
    assert.throws(
      () => cas.heartbeat(new X509Certificate(g.certificate), 'another'),
      (e) => e instanceof CasError && e.code === 'ERR_FORBIDDEN',
    );
    cas.release(new X509Certificate(g.certificate), g.instanceId);
  });

  it('refuses sim evidence with simulation-not-allowed and other platforms with platform-not-accepted', async () => {
    const policy = basePolicy();
    const services = policy.services as Record<string, Record<string, unknown>>;
    services.mdc = { ...services.mdc, allowSimulation: false };
    services.billing = { ...services.billing, platforms: ['sgx', 'tdx'] };
    const text = JSON.stringify({ ...policy, predecessor: cas.status().policy?.hash });
    await apply(cas, text);
    const err = await refusedWith(cas, mdc.request(cas, 'mdc'), 'simulation-not-allowed');
    assert.match(err.message, /allowSimulation/);
    const billing = await simService(dir, { measurement: OTHER, signer: BILLING, productId: 7, svn: 2 });
    const p = await refusedWith(cas, billing.request(cas, 'billing'), 'platform-not-accepted');
    assert.match(p.message, /platform sim .*sgx, tdx/);
  });

  it('refuses a service whose user-provided secret was not uploaded with secret-not-provided', async () => {
    const policy = basePolicy({ predecessor: cas.status().policy?.hash });
    const services = policy.services as Record<string, Record<string, unknown>>;
    services.mdc = { ...services.mdc, env: { TOKEN: '{{ secrets.freshToken.value }}' } };
    (policy.secrets as Record<string, unknown>).freshToken = { type: 'user-provided' };
    await apply(cas, policy);
    await refusedWith(cas, mdc.request(cas, 'mdc'), 'secret-not-provided');
    await cas.putSecret(owner.spki, 'freshToken', Buffer.from('fresh'));
    const grant = await cas.attest(await mdc.request(cas, 'mdc'));
    assert.equal(grant.env.TOKEN, 'fresh');
    assert.deepEqual(Object.keys(grant.secrets), ['freshToken']);
  });

  it('counts attestations by result and reason in the metrics', () => {
    const text = cas.registry.render();
    assert.match(
      text,
      /securecloud_cas_attestations_total\{result="granted",reason="none",service="mdc"\} \d+/,
    );
    assert.match(
      text,
      /securecloud_cas_attestations_total\{result="refused",reason="binding-mismatch",service="mdc"\} 2/,
    );
    assert.match(
      text,
      /securecloud_cas_attestations_total\{result="refused",reason="service-unknown",service="\(unknown\)"\} 1/,
    );
    assert.match(text, /securecloud_cas_evidence_verification_duration_seconds_count\{platform="sim"\} \d+/);
    assert.match(text, /securecloud_cas_policy_version\{name="smart-metering"\} 3/);
  });
});

describe('appraisal of real SGX evidence (dcap-qvl vector)', () => {
  let result: VerificationResult;
  const mrenclave = '33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb';

  before(async () => {
    const evidence = decodeEvidenceFile(await readFile(vector('dcap-qvl/sgx_quote')), 'sgx_quote');
    const collateral = await loadCollateralFiles([vector('dcap-qvl/sgx_quote_collateral.json')]);
    result = await createDcapVerifier().verify(evidence, {
      at: new Date('2025-06-20T00:00:00Z'),
      collateral,
      acceptTcb: ['ConfigurationAndSWHardeningNeeded', 'UpToDate', 'SWHardeningNeeded'],
      allowDebug: true,
    });
    assert.equal(result.genuine, true);
    assert.equal(result.measurement, mrenclave);
  });

  const service = (extra: Record<string, unknown>) => {
    const p = basePolicy();
    (p.services as Record<string, unknown>).mdc = {
      accept: [{ measurement: mrenclave }],
      allowDebug: true,
      ...extra,
    };
    return parsePolicy(JSON.stringify(p)).services.mdc!;
  };

  it('refuses the TCB status and names its advisories and the policy lines to change', () => {
    const verdict = appraise(service({}), result, 'mdc');
    assert.equal(verdict?.refusal, 'tcb-status-not-accepted');
    assert.match(verdict!.message, /ConfigurationAndSWHardeningNeeded/);
    assert.match(verdict!.message, /INTEL-SA-00289, INTEL-SA-00615/);
    assert.match(verdict!.message, /services\.mdc\.tcb\.accept/);
  });

  it('refuses advisories that the policy does not tolerate, even with the status accepted', () => {
    const verdict = appraise(
      service({ tcb: { accept: ['ConfigurationAndSWHardeningNeeded'], advisories: ['INTEL-SA-00289'] } }),
      result,
      'mdc',
    );
    assert.equal(verdict?.refusal, 'tcb-status-not-accepted');
    assert.match(verdict!.message, /add INTEL-SA-00615 to services\.mdc\.tcb\.advisories/);
    assert.doesNotMatch(verdict!.message, /to services\.mdc\.tcb\.accept/);
  });

  it('accepts it when the status and every advisory are tolerated', () => {
    const tcb = {
      accept: ['ConfigurationAndSWHardeningNeeded'],
      advisories: ['INTEL-SA-00289', 'INTEL-SA-00615'],
    };
    assert.equal(appraise(service({ tcb }), result, 'mdc'), null);
  });

  it('refuses the platform when the policy does not list sgx', () => {
    assert.equal(appraise(service({ platforms: ['tdx'] }), result, 'mdc')?.refusal, 'platform-not-accepted');
  });

  it('refuses tcb-status-not-accepted through the CAS when the policy does not accept UpToDate', async () => {
    const dir = await tempDir();
    const cas = await openCas(dir);
    try {
      const p = basePolicy();
      const services = p.services as Record<string, Record<string, unknown>>;
      services.mdc = { ...services.mdc, tcb: { accept: ['SWHardeningNeeded'] } };
      await apply(cas, p);
      const mdc = await simService(dir, { measurement: MDC });
      const err = await refusedWith(cas, mdc.request(cas, 'mdc'), 'tcb-status-not-accepted');
      assert.match(err.message, /TCB status UpToDate with advisories none/);
    } finally {
      await cas.close();
    }
  });

  it('reaches binding-mismatch through the CAS with the collateral sent alongside', async () => {
    const dir = await tempDir();
    const cas = await openCas(dir, {
      now: () => new Date('2025-06-20T00:00:00Z'),
      verifiers: createEvidenceVerifierSet([createSimVerifier(), createDcapVerifier()]),
    });
    try {
      const p = basePolicy();
      (p.services as Record<string, unknown>).mdc = { accept: [{ measurement: mrenclave }] };
      await apply(cas, p);
      const { nonce } = cas.createNonce('mdc');
      const { publicKey } = freshKeyPair('p256');
      const input: AttestInput = {
        service: 'mdc',
        nonce,
        evidence: decodeEvidenceFile(await readFile(vector('dcap-qvl/sgx_quote')), 'sgx_quote'),
        publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string,
        collateral: { 'collateral.json': await readFile(vector('dcap-qvl/sgx_quote_collateral.json')) },
      };
      await refusedWith(cas, input, 'binding-mismatch');
      const { nonce: n2 } = cas.createNonce('mdc');
      await refusedWith(cas, { ...input, nonce: n2, collateral: {} }, 'binding-mismatch');
    } finally {
      await cas.close();
    }
  });
});
