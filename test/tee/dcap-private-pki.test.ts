import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDcapVerifier } from '../../src/tee/dcap/verifier.ts';
import {
  assertRefused,
  type FakeIntelOptions,
  fakeIntel,
  sgxVector,
  tdxVector,
} from './dcap-test-vectors.ts';

// A private PKI with Intel's names re-signs the real quotes and collateral, so that revocation and
// collateral contents can be tested: Intel's keys are not ours to sign with.

function setup(options: FakeIntelOptions = {}, base = sgxVector()) {
  const fake = fakeIntel(base, options);
  const verifier = createDcapVerifier({ trustedRoots: [fake.rootSha256] });
  const verify = (at = base.at) => verifier.verify(fake.quote, { at, collateral: { dcap: fake.dcap } });
  return { ...fake, verifier, verify };
}

describe('unit: DCAP with a private Intel-like PKI', () => {
  it('verifies the re-signed SGX quote like the real one when its root is trusted', async () => {
    const { verify } = setup();
    const result = await verify();
    assert.equal(result.genuine, true, result.refusal?.message);
    assert.equal(result.tcbStatus, 'ConfigurationAndSWHardeningNeeded');
    assert.deepEqual(result.advisories, ['INTEL-SA-00289', 'INTEL-SA-00615']);
  });

  it('verifies an SGX quote in the version 4 layout (SGX body, QE report certification data)', async () => {
    const { verify, verifier, quote } = setup({ asVersion4: true });
    assert.equal(verifier.inspect(quote).format, 'sgx-quote-v4');
    const result = await verify();
    assert.equal(result.genuine, true, result.refusal?.message);
    assert.equal(result.tcbStatus, 'ConfigurationAndSWHardeningNeeded');
  });

  it('refuses the same quote with the default (Intel) root with ERR_CERT_ROOT', async () => {
    const { quote, dcap } = setup();
    assertRefused(
      await createDcapVerifier().verify(quote, { at: sgxVector().at, collateral: { dcap } }),
      'ERR_CERT_ROOT',
      'pck-chain',
    );
  });

  it('refuses a PCK certificate listed on the PCK CRL with ERR_CERT_REVOKED', async () => {
    assertRefused(await setup({ revokeLeaf: true }).verify(), 'ERR_CERT_REVOKED', 'pck-revocation');
  });

  it('refuses a PCK CA listed on the root CA CRL with ERR_CERT_REVOKED', async () => {
    assertRefused(await setup({ revokeCa: true }).verify(), 'ERR_CERT_REVOKED', 'pck-ca-revocation');
  });

  it('refuses collateral signed by a TCB signing certificate listed on the root CA CRL with ERR_CERT_REVOKED', async () => {
    assertRefused(
      await setup({ revokeTcbSigner: true }).verify(),
      'ERR_CERT_REVOKED',
      'tcb-info-issuer-chain',
    );
  });

  it('refuses a QE whose MRSIGNER, ISVPRODID or masked ATTRIBUTES differ from the QE Identity', async () => {
    const mrsigner = setup({ editQeIdentity: (t) => t.replace('"mrsigner":"8C4F', '"mrsigner":"8C4E') });
    assertRefused(await mrsigner.verify(), 'ERR_QE_IDENTITY_MISMATCH', 'qe-identity-match');
    const prodId = setup({ editQeIdentity: (t) => t.replace('"isvprodid":1', '"isvprodid":3') });
    assertRefused(await prodId.verify(), 'ERR_QE_IDENTITY_MISMATCH', 'qe-identity-match');
    const attrs = setup({ editQeIdentity: (t) => t.replace('"attributes":"11', '"attributes":"13') });
    assertRefused(await attrs.verify(), 'ERR_QE_IDENTITY_MISMATCH', 'qe-identity-match');
    const misc = setup({
      editQeIdentity: (t) => t.replace('"miscselect":"00000000"', '"miscselect":"00000001"'),
    });
    assertRefused(await misc.verify(), 'ERR_QE_IDENTITY_MISMATCH', 'qe-identity-match');
  });

  it('makes an SGX platform OutOfDate when its QE is out of date, keeping the advisories of both', async () => {
    const edit = (t: string) =>
      t.replace(
        '{"tcb":{"isvsvn":8},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"UpToDate"}',
        '{"tcb":{"isvsvn":8},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"OutOfDate","advisoryIDs":["INTEL-SA-99999"]}',
      );
    const result = await setup({ editQeIdentity: edit }).verify();
    assert.equal(result.tcbStatus, 'OutOfDateConfigurationNeeded');
    assert.deepEqual(result.advisories, ['INTEL-SA-00289', 'INTEL-SA-00615', 'INTEL-SA-99999']);
  });

  it('refuses a QE older than every QE Identity level with ERR_TCB_LEVEL_NOT_FOUND', async () => {
    const edit = (t: string) => t.replace(/"isvsvn":\d+/g, '"isvsvn":200');
    assertRefused(await setup({ editQeIdentity: edit }).verify(), 'ERR_TCB_LEVEL_NOT_FOUND', 'qe-tcb-level');
  });

  it('refuses a TDX module whose MRSIGNERSEAM differs from the TCB Info with ERR_TDX_MODULE_IDENTITY', async () => {
    const edit = (t: string) => t.replace(/"mrsigner":"0{96}"/g, `"mrsigner":"${'1'.repeat(96)}"`);
    assertRefused(
      await setup({ editTcbInfo: edit }, tdxVector()).verify(),
      'ERR_TDX_MODULE_IDENTITY',
      'tdx-module-identity',
    );
  });

  it('refuses a TDX module version without a TDX module identity with ERR_TDX_MODULE_IDENTITY', async () => {
    const edit = (t: string) => t.replace(/"id":"TDX_01"/g, '"id":"TDX_07"');
    const result = await setup({ editTcbInfo: edit }, tdxVector()).verify();
    assertRefused(result, 'ERR_TDX_MODULE_IDENTITY', 'tdx-module-identity');
    assert.match(result.refusal?.message ?? '', /TDX_01/);
  });

  it('combines an out-of-date TDX module level into the final status', async () => {
    const edit = (t: string) =>
      t.replace(/("id":"TDX_01".*?"tcbStatus":)"UpToDate"/, '$1"OutOfDate","advisoryIDs":["INTEL-SA-01036"]');
    const result = await setup({ editTcbInfo: edit }, tdxVector()).verify();
    assert.equal(result.genuine, true, result.refusal?.message);
    assert.equal(result.tcbStatus, 'OutOfDate');
    assert.deepEqual(result.advisories, ['INTEL-SA-01036']);
  });
});

describe('unit: DCAP verifier cache', () => {
  it('gives identical results with and without the cache, inside and outside every window', async () => {
    const { quote, dcap } = sgxVector();
    const cached = createDcapVerifier();
    const uncached = createDcapVerifier({ cache: false });
    const times = [
      '2025-06-20T00:00:00Z',
      '2025-06-19T10:30:00Z',
      '2025-07-25T00:00:00Z',
      '2025-06-21T00:00:00Z',
      '2023-01-01T00:00:00Z',
      '2025-06-20T00:00:00Z',
    ];
    for (const t of times) {
      const options = { at: new Date(t), collateral: { dcap } };
      assert.deepEqual(await cached.verify(quote, options), await uncached.verify(quote, options), t);
    }
  });

  it('never reuses a cached verdict outside the window it was established for', async () => {
    const { quote, dcap } = sgxVector();
    const noPckCrl = { ...dcap, pckCrl: undefined };
    const verifier = createDcapVerifier();
    const at = (t: string) => ({ at: new Date(t), collateral: { dcap: noPckCrl } });
    assert.equal((await verifier.verify(quote, at('2025-06-20T00:00:00Z'))).genuine, true);
    assertRefused(
      await verifier.verify(quote, at('2025-07-20T00:00:00Z')),
      'ERR_COLLATERAL_EXPIRED',
      'tcb-info-window',
    );
    assertRefused(await verifier.verify(quote, at('2031-01-01T00:00:00Z')), 'ERR_CERT_VALIDITY', 'pck-chain');
    assert.equal((await verifier.verify(quote, at('2025-06-20T00:00:00Z'))).genuine, true);
  });

  it('does not let a cached verdict for genuine collateral vouch for altered collateral', async () => {
    const { quote, dcap, at } = sgxVector();
    const verifier = createDcapVerifier();
    assert.equal((await verifier.verify(quote, { at, collateral: { dcap } })).genuine, true);
    const tcbInfo = dcap.tcbInfo!.replace('"tcbType":0', '"tcbType":1');
    assertRefused(
      await verifier.verify(quote, { at, collateral: { dcap: { ...dcap, tcbInfo } } }),
      'ERR_TCB_INFO_SIGNATURE',
    );
  });
});
