import { isAllZero, toHex } from '../bytes.ts';
import type { ParsedEvidence } from '../types.ts';
import { decodeSnpPolicy, SNP_POLICY_BITS, type SnpPolicyBit } from './policy.ts';
import type { SnpReport } from './report.ts';
import { decodeSnpTcb, formatSnpTcb, type SnpProduct, snpProductFromCpuid } from './tcb.ts';

type Details = Record<string, string | number | boolean | null>;

function flagName(bit: SnpPolicyBit): string {
  return `policy${bit[0]!.toUpperCase()}${bit.slice(1)}`;
}

function hex64(value: bigint): string {
  return `0x${value.toString(16)}`;
}

function tcbDetails(report: SnpReport, product: SnpProduct): Details {
  const tcb = (raw: bigint): string =>
    `${formatSnpTcb(decodeSnpTcb(raw, product))} (0x${raw.toString(16).padStart(16, '0')})`;
  return {
    reportedTcb: tcb(report.reportedTcb),
    currentTcb: tcb(report.currentTcb),
    committedTcb: tcb(report.committedTcb),
    launchTcb: tcb(report.launchTcb),
  };
}

/**
 * The product a report comes from: from its CPUID fields (version 3+), else `fallback` (the
 * VCEK's product), else null.
 */
export function snpReportProduct(report: SnpReport, fallback: SnpProduct | null = null): SnpProduct | null {
  return (report.cpuid ? snpProductFromCpuid(report.cpuid.family, report.cpuid.model) : null) ?? fallback;
}

/**
 * The normalized identity of a report. TCB values are decoded with the layout of `product` (Milan
 * and Genoa share one; when the product is unknown — a version 2 report without a VCEK — that
 * shared layout is used and `product` is null in the details).
 */
export function describeSnpReport(report: SnpReport, product: SnpProduct | null): ParsedEvidence {
  const policy = decodeSnpPolicy(report.policy);
  const flags: Details = {};
  for (const bit of Object.keys(SNP_POLICY_BITS) as SnpPolicyBit[]) flags[flagName(bit)] = policy[bit];
  const fw = (v: SnpReport['current']): string => `${v.major}.${v.minor}.${v.build}`;
  const details: Details = {
    version: report.version,
    product,
    policy: hex64(report.policy),
    policyAbi: `${policy.abiMajor}.${policy.abiMinor}`,
    ...flags,
    vmpl: report.vmpl,
    guestSvn: report.guestSvn,
    familyId: toHex(report.familyId),
    imageId: toHex(report.imageId),
    hostData: toHex(report.hostData),
    idKeyDigest: toHex(report.idKeyDigest),
    authorKeyDigest: toHex(report.authorKeyDigest),
    authorKeyEn: report.authorKeyEn,
    signingKey: report.signingKey,
    maskChipKey: report.maskChipKey,
    platformInfo: hex64(report.platformInfo),
    reportId: toHex(report.reportId),
    reportIdMa: toHex(report.reportIdMa),
    chipId: toHex(report.chipId),
    chipIdMasked: isAllZero(report.chipId),
    ...tcbDetails(report, product ?? 'Milan'),
    currentFirmware: fw(report.current),
    committedFirmware: fw(report.committed),
    cpuidFamily: report.cpuid?.family ?? null,
    cpuidModel: report.cpuid?.model ?? null,
    cpuidStepping: report.cpuid?.stepping ?? null,
    launchMitVector: report.launchMitVector === null ? null : hex64(report.launchMitVector),
    currentMitVector: report.currentMitVector === null ? null : hex64(report.currentMitVector),
  };
  return {
    platform: 'sev-snp',
    format: `sev-snp-report-v${report.version}`,
    measurement: toHex(report.measurement),
    signer: report.authorKeyEn ? toHex(report.authorKeyDigest) : null,
    productId: null,
    svn: report.guestSvn,
    debug: policy.debug,
    reportData: toHex(report.reportData),
    details,
  };
}
