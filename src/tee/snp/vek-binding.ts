import { verify as cryptoVerify } from 'node:crypto';
import { isAllZero, toHex } from '../bytes.ts';
import { TeeError } from '../errors.ts';
import { kdsVcekUrl } from './kds-url.ts';
import type { SnpReport } from './report.ts';
import { snpReportSignature } from './report-shape.ts';
import { decodeSnpTcb, type SnpTcb, type SnpTcbComponent, snpProductFromCpuid } from './tcb.ts';
import type { SnpVek } from './vcek.ts';

/** Components of a TCB in comparison order, with the names of the VCEK extensions. */
const TCB_COMPONENTS: readonly (readonly [SnpTcbComponent, string])[] = [
  ['fmc', 'fmcSPL'],
  ['bootloader', 'blSPL'],
  ['tee', 'teeSPL'],
  ['snp', 'snpSPL'],
  ['microcode', 'ucodeSPL'],
];

/** Where to get the right key for a report, for refusal messages. */
export function vekRemedy(report: SnpReport, vek: Pick<SnpVek, 'product' | 'kind'>): string {
  if (vek.kind === 'vlek') {
    return 'get the VLEK for this TCB from the cloud provider (AMD KDS serves VLEKs to providers only), e.g. from the extended report certificate table';
  }
  if (isAllZero(report.chipId)) {
    return 'the chip id is masked (MASK_CHIP_ID): take the VCEK from the host certificate table of the extended report';
  }
  const tcb = decodeSnpTcb(report.reportedTcb, vek.product);
  return `fetch the VCEK for this chip and reported TCB from AMD KDS: ${kdsVcekUrl(vek.product, report.chipId, tcb)}`;
}

/**
 * Compares a report's REPORTED_TCB with the SPLs certified by the VCEK; throws `ERR_REPORTED_TCB`
 * naming the first component that differs. `remedy` is appended to the message.
 */
export function compareReportedTcb(reported: SnpTcb, certified: SnpTcb, remedy = ''): void {
  for (const [component, extension] of TCB_COMPONENTS) {
    const found = reported[component];
    const expected = certified[component];
    if (found !== expected) {
      throw new TeeError(
        'ERR_REPORTED_TCB',
        `the report's REPORTED_TCB ${component} SPL is ${found ?? 'absent'} but the VCEK certifies ${extension}=${expected ?? 'absent'}: the VCEK is for another TCB${remedy ? `; ${remedy}` : ''}`,
        {
          check: 'reported-tcb',
          value: `${component}=${found ?? 'absent'}`,
          expected: `${component}=${expected ?? 'absent'}`,
        },
      );
    }
  }
}

/** The REPORTED_TCB of `report` must equal the SPL extensions of the VCEK/VLEK. */
export function checkReportedTcb(report: SnpReport, vek: SnpVek): void {
  compareReportedTcb(decodeSnpTcb(report.reportedTcb, vek.product), vek.tcb, vekRemedy(report, vek));
}

/** A version 3+ report names its CPU: it must be of the VCEK's product line. */
export function checkVekProduct(report: SnpReport, vek: SnpVek): void {
  const fromCpuid = report.cpuid ? snpProductFromCpuid(report.cpuid.family, report.cpuid.model) : null;
  if (fromCpuid !== null && fromCpuid !== vek.product) {
    throw new TeeError(
      'ERR_COLLATERAL_MISMATCH',
      `the report comes from a ${fromCpuid} CPU but the ${vek.kind.toUpperCase()} is for ${vek.productName}`,
      { check: 'vcek-product', value: vek.productName, expected: fromCpuid },
    );
  }
}

/** The report's SIGNING_KEY (VCEK or VLEK) must be the kind of certificate supplied. */
export function checkSigningKeyKind(report: SnpReport, vek: SnpVek): void {
  if (report.signingKey !== vek.kind) {
    throw new TeeError(
      'ERR_COLLATERAL_MISMATCH',
      `the report is signed by a ${report.signingKey.toUpperCase()} but the collateral holds a ${vek.kind.toUpperCase()}`,
      { check: 'signing-key', value: vek.kind, expected: report.signingKey },
    );
  }
}

/**
 * CHIP_ID must equal the VCEK's hwID (Turin: its first 8 bytes). Returns false when the check does
 * not apply: VLEKs have no hwID, and a masked (all-zero) chip id cannot be compared.
 */
export function checkChipId(report: SnpReport, vek: SnpVek): boolean {
  if (vek.kind === 'vlek' || vek.hwId === null || isAllZero(report.chipId)) return false;
  const chip = report.chipId.subarray(0, vek.hwId.length);
  if (!chip.equals(vek.hwId)) {
    throw new TeeError(
      'ERR_CHIP_ID_MISMATCH',
      `the report's CHIP_ID differs from the VCEK hwID: the VCEK belongs to another chip; ${vekRemedy(report, vek)}`,
      { check: 'chip-id', value: toHex(chip), expected: toHex(vek.hwId) },
    );
  }
  return true;
}

/** The report signature (ECDSA P-384, SHA-384 over bytes 0x000..0x29F) must verify under the VEK. */
export function checkReportSignature(report: SnpReport, vek: SnpVek): void {
  let ok = false;
  try {
    ok = cryptoVerify(
      'sha384',
      report.signedBytes,
      { key: vek.cert.publicKey, dsaEncoding: 'ieee-p1363' },
      snpReportSignature(report),
    );
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new TeeError(
      'ERR_REPORT_SIGNATURE',
      `the SEV-SNP report signature does not verify under the ${vek.kind.toUpperCase()}: the report was altered or signed by another key`,
      {
        check: 'report-signature',
        value: 'invalid',
        expected: `ECDSA P-384 signature by the ${vek.kind.toUpperCase()}`,
      },
    );
  }
}
