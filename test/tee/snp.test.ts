import assert from 'node:assert/strict';
import { constants, generateKeyPairSync, type KeyObject, sign, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { derChildren, parseDer } from '../../src/tee/der.ts';
import type { TeeErrorCode } from '../../src/tee/errors.ts';
import { AMD_ROOTS, certificateSha256 } from '../../src/tee/snp/amd-roots.ts';
import { classifySnpCollateralFile } from '../../src/tee/snp/collateral-file.ts';
import { createSnpVerifier } from '../../src/tee/snp/verifier.ts';
import type { SnpCollateral, VerificationResult, VerifyOptions } from '../../src/tee/types.ts';

const VECTORS = new URL('../../../shared/vectors/', import.meta.url);
const read = (path: string): Buffer => readFileSync(new URL(path, VECTORS));

const AT = new Date('2024-01-01T00:00:00Z');
const GO_REPORT = read('go-sev-guest/attestation.bin');
const GO_VCEK = read('go-sev-guest/vcek.testcer');
const VIRTEE_REPORT = Buffer.from(read('virtee/report_milan.hex').toString('latin1').trim(), 'hex');
const VIRTEE_VCEK = read('virtee/vcek_milan.der');
const MILAN_CHAIN = classifySnpCollateralFile(read('go-sev-guest/ask_ark_milan.pem'));
const TURIN_CHAIN = classifySnpCollateralFile(read('virtee/cert_chain_turin'));

const verifier = createSnpVerifier();

function verifyVirtee(
  report: Uint8Array = VIRTEE_REPORT,
  snp: SnpCollateral = { vcek: VIRTEE_VCEK },
  extra: Partial<VerifyOptions> = {},
): Promise<VerificationResult> {
  return verifier.verify(report, { at: AT, collateral: { snp }, ...extra });
}

function tamper(bytes: Uint8Array, offset: number, xor = 0x01): Buffer {
  const copy = Buffer.from(bytes);
  copy[offset] = copy[offset]! ^ xor;
  return copy;
}

function assertRefused(result: VerificationResult, code: TeeErrorCode, check?: string): void {
  assert.equal(result.accepted, false);
  assert.equal(result.refusal?.code, code, result.refusal?.message);
  if (check !== undefined) assert.equal(result.refusal?.check, check);
}

// Minimal DER writer, to build a certificate that looks like AMD's but is signed by our key.
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

/** Re-signs `certDer` with `key` (RSA-PSS SHA-384, as AMD does), replacing its SPKI by `spki`. */
function resign(certDer: Uint8Array, key: KeyObject, spki: Buffer): Buffer {
  const [tbs, alg] = derChildren(parseDer(certDer));
  const fields = derChildren(tbs!);
  const spkiIndex = fields[0]?.tag === 0xa0 ? 6 : 5;
  const newTbs = tlv(0x30, Buffer.concat(fields.map((f, i) => (i === spkiIndex ? spki : f.raw))));
  const sig = sign('sha384', newTbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 });
  return tlv(0x30, Buffer.concat([newTbs, alg!.raw, tlv(0x03, Buffer.concat([Buffer.from([0]), sig]))]));
}

describe('unit: SEV-SNP verifier on real reports', () => {
  it('accepts the virtee Milan report with only the VCEK as collateral', async () => {
    const result = await verifyVirtee();
    assert.equal(result.refusal, null);
    assert.equal(result.genuine, true);
    assert.equal(result.accepted, true);
    assert.equal(result.platform, 'sev-snp');
    assert.equal(result.tcbStatus, 'UpToDate');
    assert.deepEqual(result.advisories, []);
    assert.equal(result.debug, false);
    assert.equal(result.details.policy, '0x30000');
    assert.equal(result.details.product, 'Milan');
    assert.equal(result.details.reportedTcb, 'bl=3 tee=0 snp=8 ucode=115 (0x7308000000000003)');
    assert.equal(result.measurement.length, 96);
    assert.ok(result.checks.some((c) => c.check === 'report-signature' && c.ok));
  });

  it('accepts the virtee Milan report with the ASK and ARK from the collateral too', async () => {
    const result = await verifyVirtee(VIRTEE_REPORT, { vcek: VIRTEE_VCEK, ...MILAN_CHAIN });
    assert.equal(result.accepted, true, result.refusal?.message);
  });

  it('refuses the go-sev-guest report with ERR_DEBUG although it is genuine', async () => {
    const result = await verifier.verify(GO_REPORT, { at: AT, collateral: { snp: { vcek: GO_VCEK } } });
    assert.equal(result.genuine, true);
    assertRefused(result, 'ERR_DEBUG', 'debug');
    assert.equal(result.details.policy, '0xb0000');
    assert.equal(result.debug, true);
  });

  it('accepts the go-sev-guest debug report when debug is allowed', async () => {
    const result = await verifier.verify(GO_REPORT, {
      at: AT,
      allowDebug: true,
      collateral: { snp: { vcek: GO_VCEK } },
    });
    assert.equal(result.accepted, true, result.refusal?.message);
    assert.equal(result.tcbStatus, 'UpToDate');
  });

  it('inspects a report without collateral', () => {
    const parsed = verifier.inspect(VIRTEE_REPORT);
    assert.equal(parsed.format, 'sev-snp-report-v2');
    assert.equal(parsed.signer, null);
    assert.equal(parsed.svn, 0);
    assert.equal(parsed.productId, null);
    assert.equal(parsed.details.signingKey, 'vcek');
    assert.equal(parsed.details.policySmt, true);
    assert.equal(parsed.details.policyMigrateMa, false);
    assert.equal(parsed.details.vmpl, 0);
    assert.equal(parsed.reportData, VIRTEE_REPORT.subarray(0x50, 0x90).toString('hex'));
    assert.equal(parsed.measurement, VIRTEE_REPORT.subarray(0x90, 0xc0).toString('hex'));
  });
});

describe('unit: SEV-SNP tampering', () => {
  it('refuses a flipped byte in signature R or S with ERR_REPORT_SIGNATURE', async () => {
    assertRefused(
      await verifyVirtee(tamper(VIRTEE_REPORT, 0x2a0)),
      'ERR_REPORT_SIGNATURE',
      'report-signature',
    );
    assertRefused(await verifyVirtee(tamper(VIRTEE_REPORT, 0x2e8 + 20)), 'ERR_REPORT_SIGNATURE');
  });

  it('refuses a non-zero high byte of R with ERR_EVIDENCE_MALFORMED', async () => {
    assertRefused(
      await verifyVirtee(tamper(VIRTEE_REPORT, 0x2a0 + 60)),
      'ERR_EVIDENCE_MALFORMED',
      'signature-encoding',
    );
  });

  it('refuses a changed measurement, report data or policy with ERR_REPORT_SIGNATURE', async () => {
    for (const offset of [0x90, 0x50 + 63, 0x08 + 2]) {
      const result = await verifyVirtee(tamper(VIRTEE_REPORT, offset, 0x10));
      assert.equal(result.genuine, false);
      assertRefused(result, 'ERR_REPORT_SIGNATURE');
    }
  });

  it('refuses the debug report with DEBUG cleared with ERR_REPORT_SIGNATURE', async () => {
    const cleared = tamper(GO_REPORT, 0x0a, 0x08);
    assert.equal(cleared.readBigUInt64LE(8), 0x30000n);
    const result = await verifier.verify(cleared, { at: AT, collateral: { snp: { vcek: GO_VCEK } } });
    assertRefused(result, 'ERR_REPORT_SIGNATURE');
  });

  it('refuses a changed reported TCB with ERR_REPORTED_TCB naming the component', async () => {
    const result = await verifyVirtee(tamper(VIRTEE_REPORT, 0x180 + 6));
    assertRefused(result, 'ERR_REPORTED_TCB', 'reported-tcb');
    assert.equal(result.refusal?.value, 'snp=9');
    assert.equal(result.refusal?.expected, 'snp=8');
    assert.match(result.refusal?.message ?? '', /kdsintf\.amd\.com\/vcek\/v1\/Milan\/d49554ec.*snpSPL=09/);
  });

  it('refuses a VCEK with a flipped signature byte with ERR_CERT_CHAIN', async () => {
    const vcek = tamper(VIRTEE_VCEK, VIRTEE_VCEK.length - 5);
    assertRefused(await verifyVirtee(VIRTEE_REPORT, { vcek }), 'ERR_CERT_CHAIN', 'vcek-signature');
  });

  it('refuses a VCEK of another chip with ERR_CHIP_ID_MISMATCH', async () => {
    const result = await verifyVirtee(VIRTEE_REPORT, { vcek: GO_VCEK });
    assertRefused(result, 'ERR_CHIP_ID_MISMATCH', 'chip-id');
    assert.equal(result.refusal?.expected, GO_REPORT.subarray(0x1a0, 0x1e0).toString('hex'));
  });

  it('refuses the ASK of another product with ERR_COLLATERAL_MISMATCH', async () => {
    const result = await verifyVirtee(VIRTEE_REPORT, { vcek: VIRTEE_VCEK, ask: TURIN_CHAIN.ask });
    assertRefused(result, 'ERR_COLLATERAL_MISMATCH', 'ask-product');
    assert.equal(result.refusal?.value, 'SEV-Turin');
  });

  it('refuses an ASK with a broken signature with ERR_CERT_CHAIN', async () => {
    const ask = tamper(MILAN_CHAIN.ask!, MILAN_CHAIN.ask!.length - 3);
    assertRefused(
      await verifyVirtee(VIRTEE_REPORT, { vcek: VIRTEE_VCEK, ask }),
      'ERR_CERT_CHAIN',
      'ask-signature',
    );
  });

  it('refuses a self-signed look-alike ARK with ERR_CERT_ROOT', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const fakeArk = resign(MILAN_CHAIN.ark!, privateKey, spki);
    const fake = new X509Certificate(fakeArk);
    assert.equal(fake.subject, new X509Certificate(MILAN_CHAIN.ark!).subject);
    assert.equal(fake.verify(fake.publicKey), true);
    const result = await verifyVirtee(VIRTEE_REPORT, { vcek: VIRTEE_VCEK, ark: fakeArk });
    assertRefused(result, 'ERR_CERT_ROOT', 'ark-pin');
    assert.equal(result.refusal?.expected, `sha256:${AMD_ROOTS.Milan.arkSha256}`);
  });

  it('refuses a chain whose ARK is another product’s pinned ARK with ERR_CERT_ROOT', async () => {
    const result = await verifyVirtee(VIRTEE_REPORT, { vcek: VIRTEE_VCEK, ark: TURIN_CHAIN.ark });
    assertRefused(result, 'ERR_CERT_ROOT');
  });

  it('refuses a time outside the VCEK validity with ERR_CERT_VALIDITY', async () => {
    for (const at of [new Date('2023-01-01T00:00:00Z'), new Date('2031-01-01T00:00:00Z')]) {
      const result = await verifyVirtee(VIRTEE_REPORT, { vcek: VIRTEE_VCEK }, { at });
      assertRefused(result, 'ERR_CERT_VALIDITY', 'cert-validity');
    }
  });

  it('refuses a missing VCEK with ERR_COLLATERAL_MISSING and the KDS URL to fetch it', async () => {
    const result = await verifier.verify(VIRTEE_REPORT, { at: AT });
    assertRefused(result, 'ERR_COLLATERAL_MISSING', 'vcek-present');
    const chip = VIRTEE_REPORT.subarray(0x1a0, 0x1e0).toString('hex');
    assert.ok(
      result.refusal?.message.includes(
        `https://kdsintf.amd.com/vcek/v1/Milan/${chip}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115`,
      ),
      result.refusal?.message,
    );
    assert.equal(result.tcbStatus, 'Unknown');
  });

  it('refuses a report that claims a VLEK signature with ERR_COLLATERAL_MISMATCH', async () => {
    assertRefused(
      await verifyVirtee(tamper(VIRTEE_REPORT, 0x48, 0x04)),
      'ERR_COLLATERAL_MISMATCH',
      'signing-key',
    );
  });

  it('skips the chip id check for a masked chip id and still checks the signature', async () => {
    const masked = Buffer.from(VIRTEE_REPORT);
    masked.fill(0, 0x1a0, 0x1e0);
    const result = await verifyVirtee(masked);
    assertRefused(result, 'ERR_REPORT_SIGNATURE');
    assert.ok(result.checks.some((c) => c.check === 'chip-id' && c.skipped));
  });

  it('checks a VLEK against the embedded ASVK and refuses a forged one with ERR_CERT_CHAIN', async () => {
    const at = VIRTEE_VCEK.indexOf('SEV-VCEK', 0, 'latin1');
    const vlek = Buffer.from(VIRTEE_VCEK);
    vlek.write('SEV-VLEK', at, 'latin1');
    const result = await verifyVirtee(tamper(VIRTEE_REPORT, 0x48, 0x04), { vcek: vlek });
    assertRefused(result, 'ERR_CERT_CHAIN', 'vcek-signature');
    assert.match(result.refusal?.message ?? '', /not signed by SEV-VLEK-Milan/);
    assert.ok(result.checks.some((c) => c.check === 'ask-product' && c.ok));
  });

  it('refuses a VCEK that is not an AMD leaf with ERR_COLLATERAL_MISMATCH', async () => {
    assertRefused(
      await verifyVirtee(VIRTEE_REPORT, { vcek: MILAN_CHAIN.ask }),
      'ERR_COLLATERAL_MISMATCH',
      'vcek-subject',
    );
  });

  it('refuses a VCEK that is not a certificate with ERR_COLLATERAL_MALFORMED', async () => {
    assertRefused(
      await verifyVirtee(VIRTEE_REPORT, { vcek: Buffer.from('not a certificate') }),
      'ERR_COLLATERAL_MALFORMED',
    );
  });
});

describe('unit: SEV-SNP guest policy requirements', () => {
  it('refuses a genuine report whose policy sets a forbidden flag with ERR_POLICY_FLAGS', async () => {
    const strict = createSnpVerifier({ policy: { forbid: ['smt'] } });
    const result = await strict.verify(VIRTEE_REPORT, { at: AT, collateral: { snp: { vcek: VIRTEE_VCEK } } });
    assert.equal(result.genuine, true);
    assertRefused(result, 'ERR_POLICY_FLAGS', 'guest-policy');
    assert.equal(result.refusal?.expected, 'smt=false');
  });

  it('refuses a genuine report that lacks a required flag or ABI with ERR_POLICY_FLAGS', async () => {
    for (const policy of [{ require: ['singleSocket' as const] }, { minAbi: { major: 1, minor: 51 } }]) {
      const result = await createSnpVerifier({ policy }).verify(VIRTEE_REPORT, {
        at: AT,
        collateral: { snp: { vcek: VIRTEE_VCEK } },
      });
      assert.equal(result.genuine, true);
      assertRefused(result, 'ERR_POLICY_FLAGS');
    }
  });

  it('accepts a genuine report within a VMPL limit', async () => {
    const result = await createSnpVerifier({ policy: { maxVmpl: 0 } }).verify(VIRTEE_REPORT, {
      at: AT,
      collateral: { snp: { vcek: VIRTEE_VCEK } },
    });
    assert.equal(result.accepted, true, result.refusal?.message);
  });

  it('throws a TypeError for an unknown policy flag', () => {
    assert.throws(() => createSnpVerifier({ policy: { forbid: ['debug' as never] } }), TypeError);
    assert.throws(() => createSnpVerifier({ policy: { maxVmpl: 7 } }), TypeError);
  });
});

describe('unit: embedded AMD roots', () => {
  it('pins each embedded ARK by the SHA-256 of its DER and finds it self-signed', () => {
    for (const roots of Object.values(AMD_ROOTS)) {
      const ark = new X509Certificate(roots.arkPem);
      assert.equal(certificateSha256(ark.raw), roots.arkSha256, roots.product);
      assert.equal(ark.verify(ark.publicKey), true);
      assert.match(ark.subject, new RegExp(`CN=ARK-${roots.product}`));
    }
  });

  it('finds each embedded ASK and ASVK signed by its ARK', () => {
    for (const roots of Object.values(AMD_ROOTS)) {
      const ark = new X509Certificate(roots.arkPem);
      for (const [pem, cn] of [
        [roots.askPem, `SEV-${roots.product}`],
        [roots.asvkPem, `SEV-VLEK-${roots.product}`],
      ] as const) {
        const ca = new X509Certificate(pem);
        assert.match(ca.subject, new RegExp(`CN=${cn}$`, 'm'));
        assert.equal(ca.checkIssued(ark), true, cn);
        assert.equal(ca.verify(ark.publicKey), true, cn);
      }
    }
  });

  it('embeds the same Milan ASK/ARK and Turin ASK/ARK as the vectors', () => {
    assert.deepEqual(new X509Certificate(AMD_ROOTS.Milan.askPem).raw, MILAN_CHAIN.ask);
    assert.deepEqual(new X509Certificate(AMD_ROOTS.Milan.arkPem).raw, MILAN_CHAIN.ark);
    assert.deepEqual(new X509Certificate(AMD_ROOTS.Turin.askPem).raw, TURIN_CHAIN.ask);
    assert.deepEqual(new X509Certificate(AMD_ROOTS.Turin.arkPem).raw, TURIN_CHAIN.ark);
  });

  it('embeds the Milan ASVK of go-sev-guest milanvlek.testcer', () => {
    const vlek = classifySnpCollateralFile(read('go-sev-guest/milanvlek.testcer'));
    assert.deepEqual(new X509Certificate(AMD_ROOTS.Milan.asvkPem).raw, vlek.ask);
    assert.deepEqual(vlek.ark, MILAN_CHAIN.ark);
  });
});
