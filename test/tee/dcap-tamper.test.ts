import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDcapVerifier } from '../../src/tee/dcap/verifier.ts';
import { parseCertificate } from '../../src/tee/pki.ts';
import type { DcapCollateral } from '../../src/tee/types.ts';
import { makeCert, newKey, toPem } from './dcap-test-pki.ts';
import { assertRefused, pckChainDer, sgxVector, tdxVector, withChain } from './dcap-test-vectors.ts';

const verifier = createDcapVerifier();
const { quote: SGX, dcap: SGX_DCAP, at: AT } = sgxVector();

// Offsets in the SGX v3 quote: header 0..48, ISV report body 48..432, signature data from 436.
const OFFSET = {
  userData: 28,
  mrEnclave: 48 + 64,
  signature: 436,
  attestationKey: 500,
  qeReport: 564,
  qeSignature: 948,
  authData: 1014,
} as const;

function flipped(bytes: Uint8Array, offset: number): Buffer {
  const out = Buffer.from(bytes);
  out[offset] = out[offset]! ^ 0x01;
  return out;
}

const verify = (quote: Buffer, dcap: DcapCollateral = SGX_DCAP, at = AT) =>
  verifier.verify(quote, { at, collateral: { dcap } });

/** Flips one byte of a certificate's subject (its last "Santa Clara"), so that its signature breaks. */
function flipSubject(der: Buffer): Buffer {
  return flipped(der, der.lastIndexOf(Buffer.from('Santa Clara')) + 1);
}

describe('unit: DCAP tampering with the quote', () => {
  it('refuses a flipped byte in the quote signature with ERR_QUOTE_SIGNATURE', async () => {
    assertRefused(
      await verify(flipped(SGX, OFFSET.signature + 10)),
      'ERR_QUOTE_SIGNATURE',
      'quote-signature',
    );
  });

  it('refuses a flipped byte in the ISV report body or the header with ERR_QUOTE_SIGNATURE', async () => {
    assertRefused(await verify(flipped(SGX, OFFSET.mrEnclave)), 'ERR_QUOTE_SIGNATURE', 'quote-signature');
    assertRefused(await verify(flipped(SGX, OFFSET.userData)), 'ERR_QUOTE_SIGNATURE', 'quote-signature');
  });

  it('refuses a flipped byte in the TDX report body with ERR_QUOTE_SIGNATURE', async () => {
    const { quote, dcap, at } = tdxVector();
    assertRefused(
      await verifier.verify(flipped(quote, 48 + 136), { at, collateral: { dcap } }),
      'ERR_QUOTE_SIGNATURE',
    );
  });

  it('refuses a flipped byte in the QE report or its signature with ERR_QE_REPORT_SIGNATURE', async () => {
    assertRefused(
      await verify(flipped(SGX, OFFSET.qeReport + 64)),
      'ERR_QE_REPORT_SIGNATURE',
      'qe-report-signature',
    );
    assertRefused(
      await verify(flipped(SGX, OFFSET.qeSignature + 3)),
      'ERR_QE_REPORT_SIGNATURE',
      'qe-report-signature',
    );
  });

  it('refuses an attestation key or QE auth data that the QE report does not bind with ERR_QE_BINDING', async () => {
    assertRefused(await verify(flipped(SGX, OFFSET.attestationKey + 5)), 'ERR_QE_BINDING', 'qe-binding');
    assertRefused(await verify(flipped(SGX, OFFSET.authData)), 'ERR_QE_BINDING', 'qe-binding');
  });

  it('refuses a quote whose header names another QE vendor with ERR_EVIDENCE_FORMAT', async () => {
    assertRefused(await verify(flipped(SGX, 12)), 'ERR_EVIDENCE_FORMAT', 'quote-header');
  });
});

describe('unit: DCAP tampering with the PCK chain', () => {
  const [leaf, ca, root] = pckChainDer(SGX) as [Buffer, Buffer, Buffer];

  it('refuses an altered PCK leaf certificate with ERR_CERT_CHAIN', async () => {
    assertRefused(
      await verify(withChain(SGX, toPem(flipSubject(leaf), ca, root))),
      'ERR_CERT_CHAIN',
      'pck-chain',
    );
  });

  it('refuses an altered PCK CA certificate with ERR_CERT_CHAIN', async () => {
    assertRefused(
      await verify(withChain(SGX, toPem(leaf, flipSubject(ca), root))),
      'ERR_CERT_CHAIN',
      'pck-chain',
    );
  });

  it('refuses an altered root certificate with ERR_CERT_ROOT', async () => {
    assertRefused(
      await verify(withChain(SGX, toPem(leaf, ca, flipSubject(root)))),
      'ERR_CERT_ROOT',
      'pck-chain',
    );
  });

  it('refuses a self-made root with the Intel root subject with ERR_CERT_ROOT', async () => {
    const real = parseCertificate(root, 'root', 'evidence');
    const key = newKey();
    const fake = makeCert({
      subject: real.subjectRaw,
      issuer: real.subjectRaw,
      serial: 1n,
      notBefore: real.notBefore,
      notAfter: real.notAfter,
      publicKey: key.publicKey,
      signingKey: key.privateKey,
      ca: true,
    });
    assertRefused(await verify(withChain(SGX, toPem(leaf, ca, fake))), 'ERR_CERT_ROOT', 'pck-chain');
  });

  it('refuses a chain that is too short or in the wrong order', async () => {
    assertRefused(await verify(withChain(SGX, toPem(leaf, root))), 'ERR_CERT_CHAIN', 'pck-chain');
    assertRefused(await verify(withChain(SGX, toPem(ca, leaf, root))), 'ERR_CERT_CHAIN', 'pck-chain');
  });

  it('refuses every chain when the pinned root is another one', async () => {
    const other = createDcapVerifier({ trustedRoots: ['ab'.repeat(32)] });
    assertRefused(
      await other.verify(SGX, { at: AT, collateral: { dcap: SGX_DCAP } }),
      'ERR_CERT_ROOT',
      'pck-chain',
    );
  });
});

describe('unit: DCAP tampering with collateral', () => {
  it('refuses a flipped byte in the PCK CRL signature with ERR_CRL_SIGNATURE', async () => {
    const pckCrl = flipped(SGX_DCAP.pckCrl!, SGX_DCAP.pckCrl!.length - 4);
    assertRefused(await verify(SGX, { ...SGX_DCAP, pckCrl }), 'ERR_CRL_SIGNATURE', 'pck-crl');
  });

  it('refuses a flipped byte in the root CA CRL signature with ERR_CRL_SIGNATURE', async () => {
    const rootCaCrl = flipped(SGX_DCAP.rootCaCrl!, SGX_DCAP.rootCaCrl!.length - 4);
    assertRefused(await verify(SGX, { ...SGX_DCAP, rootCaCrl }), 'ERR_CRL_SIGNATURE', 'root-ca-crl');
  });

  it('refuses an altered or re-serialized TCB Info body with ERR_TCB_INFO_SIGNATURE', async () => {
    const tcbInfo = SGX_DCAP.tcbInfo!.replace('"ConfigurationAndSWHardeningNeeded"', '"UpToDate"');
    assertRefused(
      await verify(SGX, { ...SGX_DCAP, tcbInfo }),
      'ERR_TCB_INFO_SIGNATURE',
      'tcb-info-signature',
    );
    const reserialized = JSON.stringify(JSON.parse(SGX_DCAP.tcbInfo!), null, 1);
    assertRefused(await verify(SGX, { ...SGX_DCAP, tcbInfo: reserialized }), 'ERR_TCB_INFO_SIGNATURE');
    const tcbInfoSignature = flipped(SGX_DCAP.tcbInfoSignature!, 0);
    assertRefused(await verify(SGX, { ...SGX_DCAP, tcbInfoSignature }), 'ERR_TCB_INFO_SIGNATURE');
  });

  it('refuses an altered QE Identity body with ERR_QE_IDENTITY_SIGNATURE', async () => {
    const qeIdentity = SGX_DCAP.qeIdentity!.replace('"isvprodid":1', '"isvprodid":2');
    assert.notEqual(qeIdentity, SGX_DCAP.qeIdentity);
    assertRefused(
      await verify(SGX, { ...SGX_DCAP, qeIdentity }),
      'ERR_QE_IDENTITY_SIGNATURE',
      'qe-identity-signature',
    );
  });

  it('refuses collateral of another platform with ERR_COLLATERAL_MISMATCH', async () => {
    const { dcap: tdx } = tdxVector();
    assertRefused(await verify(SGX, tdx), 'ERR_COLLATERAL_MISMATCH', 'pck-crl');
    const noCrl = { ...tdx, pckCrl: undefined, rootCaCrl: undefined };
    assertRefused(await verify(SGX, noCrl), 'ERR_COLLATERAL_MISMATCH', 'tcb-info-match');
    const tdQe = { ...SGX_DCAP, qeIdentity: tdx.qeIdentity, qeIdentitySignature: tdx.qeIdentitySignature };
    assertRefused(await verify(SGX, tdQe), 'ERR_COLLATERAL_MISMATCH', 'qe-identity-match');
  });

  it('refuses incomplete collateral with ERR_COLLATERAL_MISSING', async () => {
    assertRefused(
      await verify(SGX, { ...SGX_DCAP, tcbInfoSignature: undefined }),
      'ERR_COLLATERAL_MISSING',
      'tcb-info',
    );
    assertRefused(
      await verify(SGX, { ...SGX_DCAP, qeIdentityIssuerChain: undefined }),
      'ERR_COLLATERAL_MISSING',
      'qe-identity',
    );
  });

  it('records revocation as not checked (skipped, not ok) without CRLs', async () => {
    const result = await verify(SGX, { ...SGX_DCAP, pckCrl: undefined, rootCaCrl: undefined });
    assert.equal(result.genuine, true);
    for (const check of ['root-ca-crl', 'pck-crl']) {
      const outcome = result.checks.find((c) => c.check === check);
      assert.deepEqual([outcome?.ok, outcome?.skipped], [false, true], check);
      assert.match(outcome?.message ?? '', /NOT checked/);
    }
  });
});

describe('unit: DCAP verification time against validity windows', () => {
  it('refuses a time before or after the PCK certificate validity with ERR_CERT_VALIDITY', async () => {
    assertRefused(
      await verify(SGX, SGX_DCAP, new Date('2023-01-01T00:00:00Z')),
      'ERR_CERT_VALIDITY',
      'pck-chain',
    );
    assertRefused(await verify(SGX, {}, new Date('2031-01-01T00:00:00Z')), 'ERR_CERT_VALIDITY', 'pck-chain');
  });

  it('refuses a time outside the PCK CRL window with ERR_CRL_VALIDITY', async () => {
    assertRefused(
      await verify(SGX, SGX_DCAP, new Date('2025-06-19T10:10:00Z')),
      'ERR_CRL_VALIDITY',
      'pck-crl',
    );
    assertRefused(
      await verify(SGX, SGX_DCAP, new Date('2025-07-19T10:40:00Z')),
      'ERR_CRL_VALIDITY',
      'pck-crl',
    );
  });

  it('refuses a time outside the root CA CRL window with ERR_CRL_VALIDITY', async () => {
    assertRefused(
      await verify(SGX, { ...SGX_DCAP, pckCrl: undefined }, new Date('2026-05-01T00:00:00Z')),
      'ERR_CRL_VALIDITY',
      'root-ca-crl',
    );
  });

  it('refuses TCB Info not yet issued or expired with ERR_COLLATERAL_EXPIRED', async () => {
    assertRefused(
      await verify(SGX, SGX_DCAP, new Date('2025-06-19T10:30:00Z')),
      'ERR_COLLATERAL_EXPIRED',
      'tcb-info-window',
    );
    const noPckCrl = { ...SGX_DCAP, pckCrl: undefined };
    assertRefused(
      await verify(SGX, noPckCrl, new Date('2025-07-20T00:00:00Z')),
      'ERR_COLLATERAL_EXPIRED',
      'tcb-info-window',
    );
  });

  it('refuses an expired QE Identity with ERR_COLLATERAL_EXPIRED', async () => {
    const noPckCrl = { ...SGX_DCAP, pckCrl: undefined };
    assertRefused(
      await verify(SGX, noPckCrl, new Date('2025-07-19T10:30:00Z')),
      'ERR_COLLATERAL_EXPIRED',
      'qe-identity-window',
    );
  });
});
