import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isTeeError } from '../../src/tee/errors.ts';
import {
  assembleSnpChain,
  checkArkPin,
  checkAskProduct,
  checkChainSignatures,
  checkChainValidity,
} from '../../src/tee/snp/chain.ts';
import { classifySnpCollateralFile, snpCertRole } from '../../src/tee/snp/collateral-file.ts';
import { kdsVcekUrl } from '../../src/tee/snp/kds-url.ts';
import { checkSnpPolicy, decodeSnpPolicy } from '../../src/tee/snp/policy.ts';
import { parseSnpReport, SNP_REPORT_SIZE } from '../../src/tee/snp/report.ts';
import { checkSnpReportShape, snpReportSignature } from '../../src/tee/snp/report-shape.ts';
import { decodeSnpTcb, formatSnpTcb, snpProductFromCpuid } from '../../src/tee/snp/tcb.ts';
import { parseSnpVek } from '../../src/tee/snp/vcek.ts';
import { compareReportedTcb } from '../../src/tee/snp/vek-binding.ts';
import { createSnpVerifier } from '../../src/tee/snp/verifier.ts';
import { prng } from '../support/prng.ts';

const VECTORS = new URL('../../../shared/vectors/', import.meta.url);
const read = (path: string): Buffer => readFileSync(new URL(path, VECTORS));

const AT = new Date('2024-01-01T00:00:00Z');
const REPORT = Buffer.from(read('virtee/report_milan.hex').toString('latin1').trim(), 'hex');
const VCEK = read('virtee/vcek_milan.der');
const TURIN_VCEK = read('virtee/vcek_turin.der');
const TURIN_CHAIN = classifySnpCollateralFile(read('virtee/cert_chain_turin'));

/** A synthetic version 3 Turin report matching the Turin VCEK (its signature is not valid). */
function turinReport(): Buffer {
  const vek = parseSnpVek(TURIN_VCEK);
  const report = Buffer.alloc(SNP_REPORT_SIZE);
  report.writeUInt32LE(3, 0);
  report.writeBigUInt64LE(0x30000n, 0x08);
  report.writeUInt32LE(1, 0x34);
  const tcb = Buffer.from([
    vek.tcb.fmc!,
    vek.tcb.bootloader,
    vek.tcb.tee,
    vek.tcb.snp,
    0,
    0,
    0,
    vek.tcb.microcode,
  ]);
  tcb.copy(report, 0x180);
  report.set([0x1a, 0x02, 0x01], 0x188);
  vek.hwId!.copy(report, 0x1a0);
  report[0x2a0] = 1;
  report[0x2e8] = 1;
  return report;
}

describe('unit: SEV-SNP report parsing', () => {
  it('reads every field of a version 2 report', () => {
    const r = parseSnpReport(REPORT);
    assert.equal(r.version, 2);
    assert.equal(r.policy, 0x30000n);
    assert.equal(r.signatureAlgo, 1);
    assert.equal(r.signingKey, 'vcek');
    assert.equal(r.authorKeyEn, false);
    assert.equal(r.reportedTcb, 0x7308000000000003n);
    assert.deepEqual(r.current, { major: 1, minor: 52, build: 4 });
    assert.equal(r.cpuid, null);
    assert.equal(r.launchMitVector, null);
    assert.equal(r.chipId.toString('hex').slice(0, 8), 'd49554ec');
    assert.equal(r.signedBytes.length, 0x2a0);
    checkSnpReportShape(r);
  });

  it('converts the little-endian R and S to a 96-byte big-endian signature', () => {
    const sig = snpReportSignature(parseSnpReport(REPORT));
    assert.equal(sig.length, 96);
    assert.equal(sig[47], REPORT[0x2a0]);
    assert.equal(sig[0], REPORT[0x2a0 + 47]);
    assert.equal(sig[95], REPORT[0x2e8]);
  });

  it('reads the CPUID and mitigation vector fields of version 3 and 5 reports', () => {
    const v3 = parseSnpReport(turinReport());
    assert.deepEqual(v3.cpuid, { family: 0x1a, model: 0x02, stepping: 0x01 });
    const v5bytes = turinReport();
    v5bytes.writeUInt32LE(5, 0);
    v5bytes.writeBigUInt64LE(0x11n, 0x1f8);
    v5bytes.writeBigUInt64LE(0x22n, 0x200);
    const v5 = parseSnpReport(v5bytes);
    assert.equal(v5.launchMitVector, 0x11n);
    assert.equal(v5.currentMitVector, 0x22n);
    checkSnpReportShape(v5);
    v5bytes.writeUInt32LE(3, 0);
    assert.throws(
      () => checkSnpReportShape(parseSnpReport(v5bytes)),
      (e) => isTeeError(e, 'ERR_EVIDENCE_MALFORMED'),
    );
  });

  it('throws ERR_EVIDENCE_TRUNCATED for every truncation', () => {
    const verifier = createSnpVerifier();
    for (let n = 0; n < SNP_REPORT_SIZE; n += 37) {
      assert.throws(
        () => verifier.inspect(REPORT.subarray(0, n)),
        (e) => isTeeError(e, 'ERR_EVIDENCE_TRUNCATED'),
      );
    }
  });

  it('ignores zero padding but refuses other trailing bytes', () => {
    assert.equal(parseSnpReport(Buffer.concat([REPORT, Buffer.alloc(100)])).raw.length, SNP_REPORT_SIZE);
    assert.throws(
      () => parseSnpReport(Buffer.concat([REPORT, Buffer.from([1])])),
      (e) => isTeeError(e, 'ERR_EVIDENCE_FORMAT'),
    );
  });

  it('throws ERR_EVIDENCE_FORMAT for an unknown version', () => {
    const v9 = Buffer.from(REPORT);
    v9.writeUInt32LE(9, 0);
    assert.throws(
      () => parseSnpReport(v9),
      (e) => isTeeError(e, 'ERR_EVIDENCE_FORMAT'),
    );
  });

  it('refuses a bad signature algorithm, policy bit 17 or reserved byte', async () => {
    const verifier = createSnpVerifier();
    const cases: [number, number, string, string][] = [
      [0x34, 0x02, 'ERR_EVIDENCE_FORMAT', 'signature-algorithm'],
      [0x0a, 0x02, 'ERR_EVIDENCE_MALFORMED', 'policy-reserved'],
      [0x0c, 0x01, 'ERR_EVIDENCE_MALFORMED', 'policy-reserved'],
      [0x4c, 0x01, 'ERR_EVIDENCE_MALFORMED', 'report-reserved'],
      [0x1f8, 0x01, 'ERR_EVIDENCE_MALFORMED', 'report-reserved'],
      [0x400, 0x80, 'ERR_EVIDENCE_MALFORMED', 'report-reserved'],
      [0x48, 0x02, 'ERR_REPORT_SIGNATURE', 'signing-key'],
      [0x48, 0x20, 'ERR_EVIDENCE_MALFORMED', 'signing-key'],
    ];
    for (const [offset, xor, code, check] of cases) {
      const bad = Buffer.from(REPORT);
      bad[offset] = bad[offset]! ^ xor;
      const result = await verifier.verify(bad, { at: AT, collateral: { snp: { vcek: VCEK } } });
      assert.equal(result.refusal?.code, code, `offset 0x${offset.toString(16)}`);
      assert.equal(result.refusal?.check, check);
    }
  });

  it('sniffs SEV-SNP reports and nothing shorter or of another version', () => {
    const verifier = createSnpVerifier();
    assert.equal(verifier.canVerify(REPORT), true);
    assert.equal(verifier.canVerify(REPORT.subarray(0, 100)), false);
    assert.equal(verifier.canVerify(Buffer.alloc(SNP_REPORT_SIZE)), false);
  });

  it('throws a TypeError without a verification time', async () => {
    await assert.rejects(createSnpVerifier().verify(REPORT, {} as never), TypeError);
  });
});

describe('unit: SEV-SNP TCB, policy and KDS', () => {
  it('decodes a TCB with the Milan/Genoa and Turin layouts', () => {
    const raw = 0x0807060504030201n;
    assert.deepEqual(decodeSnpTcb(raw, 'Milan'), {
      raw,
      fmc: null,
      bootloader: 1,
      tee: 2,
      snp: 7,
      microcode: 8,
    });
    assert.deepEqual(decodeSnpTcb(raw, 'Genoa'), decodeSnpTcb(raw, 'Milan'));
    assert.deepEqual(decodeSnpTcb(raw, 'Turin'), {
      raw,
      fmc: 1,
      bootloader: 2,
      tee: 3,
      snp: 4,
      microcode: 8,
    });
    assert.equal(formatSnpTcb(decodeSnpTcb(raw, 'Turin')), 'fmc=1 bl=2 tee=3 snp=4 ucode=8');
  });

  it('names the product of a CPUID family and model', () => {
    assert.equal(snpProductFromCpuid(0x19, 0x01), 'Milan');
    assert.equal(snpProductFromCpuid(0x19, 0x11), 'Genoa');
    assert.equal(snpProductFromCpuid(0x19, 0xa0), 'Genoa');
    assert.equal(snpProductFromCpuid(0x1a, 0x02), 'Turin');
    assert.equal(snpProductFromCpuid(0, 0), null);
  });

  it('compares a reported TCB with the VCEK SPLs and names the first difference', () => {
    const certified = decodeSnpTcb(0x7308000000000003n, 'Milan');
    compareReportedTcb(decodeSnpTcb(0x7308000000000003n, 'Milan'), certified);
    assert.throws(
      () => compareReportedTcb(decodeSnpTcb(0x7408000000000003n, 'Milan'), certified),
      (e) =>
        isTeeError(e, 'ERR_REPORTED_TCB') &&
        e.detail.value === 'microcode=116' &&
        e.detail.expected === 'microcode=115',
    );
    assert.throws(
      () => compareReportedTcb(decodeSnpTcb(0x7308000000000002n, 'Milan'), certified),
      (e) => isTeeError(e, 'ERR_REPORTED_TCB') && e.detail.value === 'bootloader=2',
    );
  });

  it('decodes the guest policy flags', () => {
    const p = decodeSnpPolicy(0x1f0105n);
    assert.equal(p.abiMajor, 1);
    assert.equal(p.abiMinor, 5);
    assert.equal(p.smt, true);
    assert.equal(p.migrateMa, true);
    assert.equal(p.debug, true);
    assert.equal(p.singleSocket, true);
    assert.equal(p.cxlAllow, false);
  });

  it('refuses MIGRATE_MA by default and accepts it when allowed', () => {
    const p = decodeSnpPolicy(0x70000n);
    assert.throws(
      () => checkSnpPolicy(p, 0),
      (e) => isTeeError(e, 'ERR_POLICY_FLAGS'),
    );
    checkSnpPolicy(p, 0, { allowMigrationAgent: true });
    assert.throws(
      () => checkSnpPolicy(decodeSnpPolicy(0x30000n), 2, { maxVmpl: 1 }),
      (e) => isTeeError(e, 'ERR_POLICY_FLAGS'),
    );
  });

  it('builds the KDS URL of a Turin VCEK from the first 8 bytes of the chip id', () => {
    const chip = Buffer.alloc(64, 0xab);
    const url = kdsVcekUrl('Turin', chip, { fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 5 });
    assert.equal(
      url,
      'https://kdsintf.amd.com/vcek/v1/Turin/abababababababab?fmcSPL=01&blSPL=02&teeSPL=03&snpSPL=04&ucodeSPL=05',
    );
  });
});

describe('unit: VCEK certificates and collateral files', () => {
  it('reads the AMD extensions of a Milan VCEK', () => {
    const vek = parseSnpVek(VCEK);
    assert.equal(vek.kind, 'vcek');
    assert.equal(vek.productName, 'Milan-B0');
    assert.equal(vek.product, 'Milan');
    assert.equal(vek.structVersion, 0);
    assert.deepEqual(vek.tcb, { raw: 0n, fmc: null, bootloader: 3, tee: 0, snp: 8, microcode: 115 });
    assert.deepEqual(vek.hwId, REPORT.subarray(0x1a0, 0x1e0));
  });

  it('reads the AMD extensions of a Turin VCEK, with fmcSPL and an 8-byte hwID', () => {
    const vek = parseSnpVek(TURIN_VCEK);
    assert.equal(vek.productName, 'Turin');
    assert.equal(vek.product, 'Turin');
    assert.equal(vek.structVersion, 1);
    assert.equal(vek.tcb.fmc, 0);
    assert.equal(vek.hwId?.length, 8);
  });

  it('verifies the Turin chain from the collateral and from the embedded certificates', () => {
    const vek = parseSnpVek(TURIN_VCEK);
    for (const collateral of [TURIN_CHAIN, {}]) {
      const chain = assembleSnpChain(vek, collateral);
      checkAskProduct(chain);
      checkArkPin(chain);
      checkChainSignatures(chain);
      checkChainValidity(chain, new Date('2025-06-01T00:00:00Z'));
    }
  });

  it('takes a synthetic Turin report through chip id and TCB checks to the signature', async () => {
    const result = await createSnpVerifier().verify(turinReport(), {
      at: new Date('2025-06-01T00:00:00Z'),
      collateral: { snp: { vcek: TURIN_VCEK } },
    });
    assert.equal(result.refusal?.code, 'ERR_REPORT_SIGNATURE');
    for (const check of ['ark-pin', 'cert-chain', 'chip-id', 'reported-tcb']) {
      assert.ok(
        result.checks.some((c) => c.check === check && c.ok),
        check,
      );
    }
    assert.equal(result.details.product, 'Turin');
    assert.match(String(result.details.reportedTcb), /^fmc=0 bl=0 tee=0 snp=0 ucode=9 /);
  });

  it('classifies DER and PEM collateral by subject common name', () => {
    assert.deepEqual(Object.keys(classifySnpCollateralFile(VCEK)), ['vcek']);
    assert.deepEqual(Object.keys(TURIN_CHAIN).sort(), ['ark', 'ask']);
    assert.equal(snpCertRole('SEV-VLEK'), 'vcek');
    assert.equal(snpCertRole('SEV-VLEK-Genoa'), 'ask');
    assert.equal(snpCertRole('ARK-Genoa'), 'ark');
    assert.equal(snpCertRole('Intel SGX Root CA'), null);
  });

  it('refuses collateral files that are not AMD certificates', () => {
    const intelRoot = read('dcap-qvl/TrustedRootCA.der');
    const pem = read('go-sev-guest/ask_ark_milan.pem').toString('latin1');
    for (const bytes of [
      intelRoot,
      Buffer.from('garbage'),
      Buffer.from(pem + pem),
      Buffer.from('-----BEGIN X509 CRL-----\nAA==\n-----END X509 CRL-----\n'),
    ]) {
      assert.throws(
        () => classifySnpCollateralFile(bytes),
        (e) => isTeeError(e, 'ERR_COLLATERAL_MALFORMED'),
      );
    }
  });
});

describe('unit: SEV-SNP hostile input', () => {
  it('gives a TeeError or a refusal for random input, never another exception', async () => {
    const verifier = createSnpVerifier();
    const rand = prng(7);
    for (let i = 0; i < 200; i++) {
      const bytes = Buffer.alloc(Math.floor(rand() * 1400));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
      if (rand() < 0.5 && bytes.length >= 0x38) {
        bytes.writeUInt32LE(2 + Math.floor(rand() * 4), 0);
        bytes.writeUInt32LE(1, 0x34);
      }
      try {
        const result = await verifier.verify(bytes, { at: AT, collateral: { snp: { vcek: VCEK } } });
        assert.equal(result.accepted, false);
        assert.ok(result.refusal);
      } catch (err) {
        assert.ok(isTeeError(err), String(err));
      }
    }
  });

  it('refuses every one of 3000 mutated reports (seeded), with a refusal or a TeeError', async () => {
    const verifier = createSnpVerifier();
    const rand = prng(20240101);
    for (let i = 0; i < 3000; i++) {
      const bytes = Buffer.from(REPORT);
      const flips = 1 + Math.floor(rand() * 3);
      for (let f = 0; f < flips; f++) {
        const at = Math.floor(rand() * bytes.length);
        bytes[at] = bytes[at]! ^ (1 + Math.floor(rand() * 255));
      }
      if (bytes.equals(REPORT)) continue;
      try {
        const result = await verifier.verify(bytes, { at: AT, collateral: { snp: { vcek: VCEK } } });
        assert.equal(result.accepted, false, `case ${i}`);
        assert.ok(result.refusal, `case ${i}`);
      } catch (err) {
        assert.ok(isTeeError(err), `case ${i}: ${String(err)}`);
      }
    }
  });

  it('gives a TeeError or a refusal for mutated VCEKs', async () => {
    const verifier = createSnpVerifier();
    const rand = prng(99);
    for (let i = 0; i < 300; i++) {
      const vcek = Buffer.from(VCEK);
      const at = Math.floor(rand() * vcek.length);
      vcek[at] = vcek[at]! ^ (1 + Math.floor(rand() * 255));
      const cut = rand() < 0.2 ? Math.floor(rand() * vcek.length) : vcek.length;
      const result = await verifier.verify(REPORT, {
        at: AT,
        collateral: { snp: { vcek: vcek.subarray(0, cut) } },
      });
      assert.equal(result.accepted, false, `case ${i} (byte ${at})`);
      assert.ok(result.refusal);
    }
  });
});
