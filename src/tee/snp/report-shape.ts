import { isAllZero, toHex } from '../bytes.ts';
import { TeeError } from '../errors.ts';
import { SNP_POLICY_RESERVED_MASK, SNP_POLICY_RESERVED_ONE } from './policy.ts';
import {
  SNP_REPORT_SIZE,
  SNP_SIG_ALGO_ECDSA_P384_SHA384,
  SNP_SIGNED_LENGTH,
  type SnpReport,
} from './report.ts';

/** Length of a P-384 scalar: R and S use the low 48 bytes of their 72-byte fields. */
const P384_BYTES = 48;
const SIG_FIELD_BYTES = 72;

/** Reserved (must-be-zero) byte ranges [start, end) of a report, by version. */
function reservedRanges(version: number): readonly (readonly [number, number])[] {
  const afterCpuid = version >= 3 ? 0x18b : 0x188;
  // Version 4 is read like version 3, but its 0x1F8..0x207 is left unchecked: whether it carries
  // the mitigation vectors of version 5 is not known to this parser.
  const afterLaunchTcb = version >= 4 ? 0x208 : 0x1f8;
  return [
    [0x4c, 0x50],
    [afterCpuid, 0x1a0],
    [0x1eb, 0x1ec],
    [0x1ef, 0x1f0],
    [afterLaunchTcb, SNP_SIGNED_LENGTH],
    [SNP_SIGNED_LENGTH + 2 * SIG_FIELD_BYTES, SNP_REPORT_SIZE],
  ];
}

function hex(offset: number): string {
  return `0x${offset.toString(16).toUpperCase()}`;
}

function malformed(check: string, message: string, value: string, expected: string): TeeError {
  return new TeeError('ERR_EVIDENCE_MALFORMED', message, { check, value, expected });
}

function checkAlgorithmAndKey(report: SnpReport): void {
  if (report.signatureAlgo !== SNP_SIG_ALGO_ECDSA_P384_SHA384) {
    throw new TeeError(
      'ERR_EVIDENCE_FORMAT',
      `SEV-SNP report signature algorithm ${report.signatureAlgo} is not supported; only 1 (ECDSA P-384 with SHA-384) is defined`,
      { check: 'signature-algorithm', value: String(report.signatureAlgo), expected: '1' },
    );
  }
  if (report.maskChipKey || report.signingKey === 'none') {
    throw new TeeError(
      'ERR_REPORT_SIGNATURE',
      'SEV-SNP report is not signed (MASK_CHIP_KEY set or SIGNING_KEY = none): nothing proves it comes from AMD hardware',
      { check: 'signing-key', value: report.maskChipKey ? 'mask_chip_key=1' : 'none', expected: 'vcek|vlek' },
    );
  }
  if (report.signingKey === 'reserved' || report.keyInfo >>> 5 !== 0) {
    throw malformed(
      'signing-key',
      `SEV-SNP report key info 0x${report.keyInfo.toString(16)} at 0x48 has a reserved signing key or reserved bits set`,
      `0x${report.keyInfo.toString(16)}`,
      'SIGNING_KEY 0 (VCEK) or 1 (VLEK), bits 5-31 zero',
    );
  }
}

function checkPolicyBits(report: SnpReport): void {
  const p = report.policy;
  if ((p & SNP_POLICY_RESERVED_ONE) === 0n || (p & SNP_POLICY_RESERVED_MASK) !== 0n) {
    throw malformed(
      'policy-reserved',
      `SEV-SNP guest policy 0x${p.toString(16)}: bit 17 must be 1 and bits 26-63 must be 0`,
      `0x${p.toString(16)}`,
      'bit 17 = 1, bits 26-63 = 0',
    );
  }
}

function checkReserved(report: SnpReport): void {
  for (const [start, end] of reservedRanges(report.version)) {
    const field = report.raw.subarray(start, end);
    if (!isAllZero(field)) {
      const first = field.findIndex((b) => b !== 0);
      throw malformed(
        'report-reserved',
        `SEV-SNP report version ${report.version} has a non-zero reserved byte at ${hex(start + first)} (reserved ${hex(start)}..${hex(end - 1)} must be zero)`,
        toHex(field.subarray(first, first + 8)),
        'zero',
      );
    }
  }
  for (const [name, field] of [
    ['R', report.signatureR],
    ['S', report.signatureS],
  ] as const) {
    if (!isAllZero(field.subarray(P384_BYTES))) {
      throw malformed(
        'signature-encoding',
        `SEV-SNP report signature ${name}: bytes 48-71 of the 72-byte little-endian field must be zero for P-384`,
        toHex(field.subarray(P384_BYTES)),
        'zero',
      );
    }
  }
}

/**
 * Checks the shape of a parsed report: signature algorithm (only ECDSA P-384), signing key (VCEK
 * or VLEK, not masked), guest policy reserved bits (bit 17 set, 26-63 clear), reserved fields and
 * the unused high bytes of R and S are zero. Throws a TeeError naming the first problem.
 */
export function checkSnpReportShape(report: SnpReport): void {
  checkAlgorithmAndKey(report);
  checkPolicyBits(report);
  checkReserved(report);
}

/**
 * The report signature as IEEE P1363 `r‖s` (96 bytes, big-endian), for `crypto.verify` with
 * `dsaEncoding: 'ieee-p1363'`. Call after {@link checkSnpReportShape} (which checks the high bytes).
 */
export function snpReportSignature(report: SnpReport): Buffer {
  const r = Buffer.from(report.signatureR.subarray(0, P384_BYTES)).reverse();
  const s = Buffer.from(report.signatureS.subarray(0, P384_BYTES)).reverse();
  return Buffer.concat([r, s]);
}
