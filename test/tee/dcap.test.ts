import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { INTEL_SGX_ROOT_CA_SHA256 } from '../../src/tee/dcap/intel-root.ts';
import { parseQuote } from '../../src/tee/dcap/quote.ts';
import { createDcapVerifier } from '../../src/tee/dcap/verifier.ts';
import { decodeEvidenceFile } from '../../src/tee/evidence-file.ts';
import { sha256Hex } from '../../src/tee/pki.ts';
import type { VerificationResult } from '../../src/tee/types.ts';
import { assertRefused, collateral, sgxVector, tdxVector, vector } from './dcap-test-vectors.ts';

const verifier = createDcapVerifier();

function checkNames(
  result: VerificationResult,
  filter: (c: VerificationResult['checks'][number]) => boolean,
): string[] {
  return result.checks.filter(filter).map((c) => c.check);
}

const AUTHENTICITY = [
  'quote-header',
  'certification-data',
  'pck-chain',
  'pck-extension',
  'qe-report-signature',
  'qe-binding',
  'quote-signature',
];

function assertSignaturesValid(result: VerificationResult): void {
  const ok = checkNames(result, (c) => c.ok);
  for (const check of AUTHENTICITY)
    assert.ok(ok.includes(check), `${check} should pass: ${JSON.stringify(result.refusal)}`);
}

/** SPR_E4 carries 39 bytes of text appended by go-tdx-guest to test its parser ("extra bytes(only for testing purpose)"). */
const SPR_E4_PADDING = 39;

describe('unit: DCAP verifier on real vectors', () => {
  it('pins the Intel SGX Root CA that the dcap-qvl vector ships', () => {
    assert.equal(sha256Hex(vector('dcap-qvl/TrustedRootCA.der')), INTEL_SGX_ROOT_CA_SHA256);
  });

  it('finds ConfigurationAndSWHardeningNeeded with two advisories for the dcap-qvl SGX quote', async () => {
    const { quote, dcap, at } = sgxVector();
    const result = await verifier.verify(quote, { at, collateral: { dcap } });
    assert.equal(result.genuine, true, result.refusal?.message);
    assert.equal(result.tcbStatus, 'ConfigurationAndSWHardeningNeeded');
    assert.deepEqual(result.advisories, ['INTEL-SA-00289', 'INTEL-SA-00615']);
    assertRefused(result, 'ERR_TCB_STATUS', 'tcb-status');
    assert.deepEqual(
      checkNames(result, (c) => !c.ok && c.check !== 'tcb-status'),
      [],
      'no check skipped or failed',
    );
    assert.equal(result.platform, 'sgx');
    assert.ok(result.measurement.startsWith('33d8736d') && result.measurement.endsWith('2fbb'));
    assert.ok(result.signer?.startsWith('815f42f1') && result.signer.endsWith('e0e6'));
    assert.deepEqual([result.productId, result.svn, result.debug], [0, 0, false]);
    assert.equal(
      result.reportData,
      Buffer.concat([Buffer.from('Hello, world!'), Buffer.alloc(51)]).toString('hex'),
    );
    assert.equal(result.details.fmspc, '00a067110000');
  });

  it('accepts the SGX quote when its TCB status is explicitly accepted', async () => {
    const { quote, dcap, at } = sgxVector();
    const result = await verifier.verify(quote, {
      at,
      collateral: { dcap },
      acceptTcb: ['ConfigurationAndSWHardeningNeeded'],
    });
    assert.deepEqual([result.genuine, result.accepted, result.refusal], [true, true, null]);
  });

  it('finds UpToDate without advisories for the dcap-qvl TDX quote and accepts it', async () => {
    const { quote, dcap, at } = tdxVector();
    const result = await verifier.verify(quote, { at, collateral: { dcap } });
    assert.deepEqual(
      [result.genuine, result.accepted, result.tcbStatus, result.advisories],
      [true, true, 'UpToDate', []],
    );
    assert.ok(checkNames(result, (c) => c.ok).includes('tdx-module-identity'));
    assert.equal(result.platform, 'tdx');
    assert.equal(result.signer, null);
  });

  it('refuses tdx_quote_outdated with ERR_TCB_LEVEL_NOT_FOUND inside its collateral windows', async () => {
    // Its collateral is dated 2026-02-18..2026-03-20 and its PCK certificate starts 2026-01-23, so the
    // README's 2025-06-20 is outside every window; 2026-03-01 is inside all of them.
    const quote = vector('dcap-qvl/tdx_quote_outdated');
    const dcap = collateral('dcap-qvl/tdx_quote_outdated_collateral.json');
    const result = await verifier.verify(quote, {
      at: new Date('2026-03-01T00:00:00Z'),
      collateral: { dcap },
    });
    assertRefused(result, 'ERR_TCB_LEVEL_NOT_FOUND', 'tcb-level');
    assertSignaturesValid(result);
    for (const check of [
      'root-ca-crl',
      'pck-crl',
      'tcb-info',
      'qe-identity',
      'qe-tcb-level',
      'tdx-module-identity',
    ]) {
      assert.ok(checkNames(result, (c) => c.ok).includes(check), check);
    }
    const early = await verifier.verify(quote, {
      at: new Date('2025-06-20T00:00:00Z'),
      collateral: { dcap },
    });
    assertRefused(early, 'ERR_CERT_VALIDITY', 'pck-chain');
  });

  it('verifies the go-tdx-guest SPR_E4 quote with raw PCS bodies and CRLs; no TCB level matches its platform', async () => {
    const raw = vector('go-tdx-guest/tdx_prod_quote_SPR_E4.dat');
    const quote = raw.subarray(0, raw.length - SPR_E4_PADDING);
    const dcap = collateral(
      'go-tdx-guest/sample_tcbInfo_response',
      'go-tdx-guest/sample_qeIdentity_response',
      'go-tdx-guest/tcbInfoIssuerChain.pem',
      'go-tdx-guest/qeIdentityIssuerChain.pem',
      'go-tdx-guest/pckcrl',
      'go-tdx-guest/pckCrlIssuerChain.pem',
      'go-tdx-guest/rootcrl.der',
    );
    const result = await verifier.verify(quote, {
      at: new Date('2023-07-01T01:00:00Z'),
      collateral: { dcap },
    });
    assertSignaturesValid(result);
    const passed = checkNames(result, (c) => c.ok);
    for (const check of [
      'root-ca-crl',
      'pck-crl',
      'tcb-info',
      'tcb-info-match',
      'qe-identity',
      'qe-identity-match',
      'qe-tcb-level',
      'tdx-module-identity',
    ]) {
      assert.ok(passed.includes(check), check);
    }
    // The PCK certificate's SGX TCB components are 3,3,2,2,2,1,0,2 (PCESVN 11); both TCB levels of
    // this June 2023 TCB Info require 5,5,2,2,3,1,0,3: Intel's algorithm finds no level (TCB not supported).
    assertRefused(result, 'ERR_TCB_LEVEL_NOT_FOUND', 'tcb-level');
    assert.match(result.refusal?.value ?? '', /3,3,2,2,2,1,0,2/);
  });

  it('refuses the SPR_E4 file as given: its 39 appended text bytes are not zero padding', () => {
    assert.throws(() => parseQuote(vector('go-tdx-guest/tdx_prod_quote_SPR_E4.dat')), {
      code: 'ERR_EVIDENCE_MALFORMED',
    });
  });

  it('verifies the TDX v5 sample with the v5 TCB Info (renewed TCB signing certificate, no QE Identity)', async () => {
    const quote = vector('go-tdx-guest/quote_v5_sample.dat');
    const { tcbInfoIssuerChain } = collateral('dcap-qvl/tdx_quote_outdated_collateral.json');
    const dcap = { ...collateral('go-tdx-guest/sample_tcbinfo_response_v5'), tcbInfoIssuerChain };
    const at = new Date('2026-02-03T01:00:00Z');
    const result = await verifier.verify(quote, { at, collateral: { dcap } });
    assertSignaturesValid(result);
    assert.equal(result.genuine, true, result.refusal?.message);
    assert.ok(
      ['tcb-info', 'tcb-info-match', 'tdx-module-identity', 'tcb-level'].every((c) =>
        checkNames(result, (o) => o.ok).includes(c),
      ),
    );
    assert.deepEqual(
      checkNames(result, (c) => c.skipped === true),
      ['root-ca-crl', 'pck-crl', 'qe-identity'],
    );
    assert.equal(result.tcbStatus, 'Unknown');
    assert.equal(verifier.inspect(quote).format, 'tdx-quote-v5');
    // go-tdx-guest's own tcbInfoIssuerChain.pem holds the TCB signing certificate that expired 2025-05-21.
    const stale = { ...dcap, tcbInfoIssuerChain: vector('go-tdx-guest/tcbInfoIssuerChain.pem').toString() };
    assertRefused(
      await verifier.verify(quote, { at, collateral: { dcap: stale } }),
      'ERR_CERT_VALIDITY',
      'tcb-info-issuer-chain',
    );
  });

  it('verifies the cos-113 quote handed over in an 8000-byte zero-padded buffer', async () => {
    const quote = vector('go-tdx-guest/cos-113-tdx-quote.dat');
    assert.equal(quote.length, 8000);
    const result = await verifier.verify(quote, { at: new Date('2024-08-01T00:00:00Z') });
    assertSignaturesValid(result);
    assert.deepEqual([result.genuine, result.tcbStatus], [true, 'Unknown']);
  });

  it('verifies the mobilecoin SGX quote with its CRLs but says the TCB cannot be judged without collateral', async () => {
    const quote = vector('mobilecoin/hw_quote.dat');
    const dcap = collateral('mobilecoin/processor_crl.der', 'mobilecoin/root_crl.der');
    // It comes from a debug enclave: allow debug so that the TCB appraisal is what refuses it.
    const result = await verifier.verify(quote, {
      at: new Date('2023-05-01T00:00:00Z'),
      collateral: { dcap },
      allowDebug: true,
    });
    assert.equal(result.debug, true);
    assertSignaturesValid(result);
    assert.ok(
      checkNames(result, (c) => c.ok).includes('root-ca-crl') &&
        checkNames(result, (c) => c.ok).includes('pck-crl'),
    );
    assert.deepEqual(
      checkNames(result, (c) => c.skipped === true),
      ['tcb-info', 'qe-identity'],
    );
    assert.deepEqual([result.genuine, result.tcbStatus], [true, 'Unknown']);
    assertRefused(result, 'ERR_TCB_STATUS', 'tcb-status');
    assert.match(result.refusal?.message ?? '', /collateral/);
    assert.match(
      result.checks.find((c) => c.check === 'tcb-info')?.message ?? '',
      /cannot be judged.*collateral/,
    );
  });

  for (const file of [
    'sgx-chinenyeokafor.dat',
    'sgx-occlum.dat',
    'tdx-v4-azure',
    'tdx-v4-edgeless.dat',
    'tdx-v4-gcp.json',
    'tdx-v4-trustee.dat',
    'tdx-v5-trustee.dat',
  ]) {
    it(`verifies the signatures and PCK chain of the real dstack-teekit quote ${file}`, async () => {
      const quote = decodeEvidenceFile(vector(`dstack-teekit/${file}`), file);
      assert.ok(verifier.canVerify(quote));
      const result = await verifier.verify(quote, { at: new Date('2025-06-01T00:00:00Z') });
      assertSignaturesValid(result);
      assert.deepEqual([result.genuine, result.tcbStatus], [true, 'Unknown']);
    });
  }

  it('refuses the SYNTHETIC dstack-teekit SGX sample: certification data type 1 has no PCK chain', async () => {
    const result = await verifier.verify(vector('dstack-teekit/sgx_quote.dat'), { at: SGX_AT_SAMPLE });
    assertRefused(result, 'ERR_EVIDENCE_FORMAT', 'certification-data');
    assert.match(result.refusal?.message ?? '', /type 1.*SYNTHETIC/);
  });

  it('refuses the SYNTHETIC dstack-teekit TDX sample: its type 5 data is DER test certificates, not PEM', async () => {
    const result = await verifier.verify(vector('dstack-teekit/tdx_quote.dat'), { at: SGX_AT_SAMPLE });
    assertRefused(result, 'ERR_EVIDENCE_MALFORMED', 'certification-data');
    assert.match(result.refusal?.message ?? '', /SYNTHETIC/);
  });
});

const SGX_AT_SAMPLE = new Date('2025-06-01T00:00:00Z');

describe('unit: DCAP inspect and sniffing', () => {
  it('inspects an SGX v3 quote without verifying it', () => {
    const parsed = verifier.inspect(vector('dcap-qvl/sgx_quote'));
    assert.equal(parsed.format, 'sgx-quote-v3');
    assert.equal(parsed.details.mrenclave, parsed.measurement);
    assert.equal(parsed.details.mrsigner, parsed.signer);
    assert.equal(parsed.details.fmspc, '00a067110000');
    assert.equal(typeof parsed.details.attributes, 'string');
  });

  it('inspects TDX v4 and v5 quotes with their TD report fields', () => {
    const v4 = verifier.inspect(vector('dcap-qvl/tdx_quote'));
    assert.equal(v4.format, 'tdx-quote-v4');
    for (const key of [
      'mrtd',
      'rtmr0',
      'rtmr1',
      'rtmr2',
      'rtmr3',
      'mrseam',
      'mrsignerseam',
      'mrconfigid',
      'mrowner',
      'mrownerconfig',
      'tdAttributes',
      'xfam',
      'teeTcbSvn',
    ]) {
      assert.equal(typeof v4.details[key], 'string', key);
    }
    assert.equal(v4.details.mrtd, v4.measurement);
    assert.equal((v4.details.rtmr0 as string).length, 96);
    const v5 = verifier.inspect(vector('dcap-qvl/tdx_quote_outdated'));
    assert.equal(v5.format, 'tdx-quote-v5');
    assert.equal(v5.details.teeTcbSvn2, '0d010300000000000000000000000000');
  });

  it('reads the debug flag from TD_ATTRIBUTES bit 0 and SGX ATTRIBUTES bit 1', () => {
    assert.equal(verifier.inspect(vector('dstack-teekit/tdx-v4-trustee.dat')).debug, true);
    assert.equal(verifier.inspect(vector('dcap-qvl/tdx_quote')).debug, false);
    const sgx = Buffer.from(vector('dcap-qvl/sgx_quote'));
    sgx[48 + 48] = sgx[48 + 48]! | 0x02;
    assert.equal(verifier.inspect(sgx).debug, true);
  });

  it('inspects the synthetic samples, which parse but carry no PCK chain', () => {
    assert.equal(verifier.inspect(vector('dstack-teekit/sgx_quote.dat')).details.fmspc, null);
    assert.equal(verifier.inspect(vector('dstack-teekit/tdx_quote.dat')).format, 'tdx-quote-v4');
  });

  it('sniffs DCAP quotes and nothing else', () => {
    for (const f of [
      'dcap-qvl/sgx_quote',
      'dcap-qvl/tdx_quote',
      'dcap-qvl/tdx_quote_outdated',
      'mobilecoin/hw_quote.dat',
    ])
      assert.ok(verifier.canVerify(vector(f)), f);
    for (const f of [
      'go-sev-guest/attestation.bin',
      'dcap-qvl/sgx_quote_collateral.json',
      'dstack-teekit/tdx-v4-azure',
    ])
      assert.ok(!verifier.canVerify(vector(f)), f);
    assert.ok(!verifier.canVerify(Buffer.alloc(10)));
    assert.equal(verifier.name, 'dcap');
  });

  it('treats a missing or invalid verification time as misuse', async () => {
    await assert.rejects(verifier.verify(vector('dcap-qvl/sgx_quote'), { at: new Date('nope') }), TypeError);
  });
});
