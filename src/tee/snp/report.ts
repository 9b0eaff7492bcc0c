import { ByteReader, isAllZero } from '../bytes.ts';
import { TeeError } from '../errors.ts';

/** Size of an SEV-SNP ATTESTATION_REPORT. */
export const SNP_REPORT_SIZE = 0x4a0;
/** The signature covers bytes 0x000..0x29F. */
export const SNP_SIGNED_LENGTH = 0x2a0;
/** Report versions this parser knows the layout of (4 is read with the version 3 layout). */
export const SNP_REPORT_VERSIONS = [2, 3, 4, 5] as const;
/** SIGNATURE_ALGO value for ECDSA P-384 with SHA-384, the only one defined. */
export const SNP_SIG_ALGO_ECDSA_P384_SHA384 = 1;

/** Which key signed the report (bits 4:2 of the u32 at 0x48). */
export type SnpSigningKey = 'vcek' | 'vlek' | 'none' | 'reserved';

/** A firmware version as reported (major.minor.build). */
export interface SnpFirmwareVersion {
  readonly major: number;
  readonly minor: number;
  readonly build: number;
}

/** A parsed SEV-SNP attestation report. Byte fields are views into the input (no copy). */
export interface SnpReport {
  readonly version: number;
  readonly guestSvn: number;
  readonly policy: bigint;
  readonly familyId: Buffer;
  readonly imageId: Buffer;
  readonly vmpl: number;
  readonly signatureAlgo: number;
  readonly currentTcb: bigint;
  readonly platformInfo: bigint;
  /** The raw u32 at 0x48 (AUTHOR_KEY_EN, MASK_CHIP_KEY, SIGNING_KEY). */
  readonly keyInfo: number;
  readonly authorKeyEn: boolean;
  readonly maskChipKey: boolean;
  readonly signingKey: SnpSigningKey;
  readonly reportData: Buffer;
  readonly measurement: Buffer;
  readonly hostData: Buffer;
  readonly idKeyDigest: Buffer;
  readonly authorKeyDigest: Buffer;
  readonly reportId: Buffer;
  readonly reportIdMa: Buffer;
  readonly reportedTcb: bigint;
  /** CPUID family/model/stepping (version 3 and later), else null. */
  readonly cpuid: { readonly family: number; readonly model: number; readonly stepping: number } | null;
  readonly chipId: Buffer;
  readonly committedTcb: bigint;
  readonly current: SnpFirmwareVersion;
  readonly committed: SnpFirmwareVersion;
  readonly launchTcb: bigint;
  /** Mitigation vectors (version 5 and later), else null. */
  readonly launchMitVector: bigint | null;
  readonly currentMitVector: bigint | null;
  /** R and S as stored: 72-byte little-endian fields. */
  readonly signatureR: Buffer;
  readonly signatureS: Buffer;
  /** Bytes 0x000..0x29F, covered by the signature. */
  readonly signedBytes: Buffer;
  /** The whole report (exactly {@link SNP_REPORT_SIZE} bytes). */
  readonly raw: Buffer;
}

const SIGNING_KEYS: Readonly<Record<number, SnpSigningKey>> = { 0: 'vcek', 1: 'vlek', 7: 'none' };

function checkLengthAndVersion(buf: Buffer): number {
  if (buf.length < SNP_REPORT_SIZE) {
    throw new TeeError(
      'ERR_EVIDENCE_TRUNCATED',
      `SEV-SNP report is truncated: ${buf.length} bytes, a report has ${SNP_REPORT_SIZE}`,
      { check: 'parse', value: String(buf.length), expected: String(SNP_REPORT_SIZE) },
    );
  }
  if (!isAllZero(buf.subarray(SNP_REPORT_SIZE))) {
    throw new TeeError(
      'ERR_EVIDENCE_FORMAT',
      `SEV-SNP report has ${buf.length - SNP_REPORT_SIZE} non-zero trailing bytes after the ${SNP_REPORT_SIZE}-byte report`,
      { check: 'parse', value: String(buf.length), expected: String(SNP_REPORT_SIZE) },
    );
  }
  const version = buf.readUInt32LE(0);
  if (!(SNP_REPORT_VERSIONS as readonly number[]).includes(version)) {
    throw new TeeError('ERR_EVIDENCE_FORMAT', `unsupported SEV-SNP report version ${version}`, {
      check: 'report-version',
      value: String(version),
      expected: SNP_REPORT_VERSIONS.join('|'),
    });
  }
  return version;
}

function readVersion(r: ByteReader, what: string): SnpFirmwareVersion {
  const build = r.u8(`${what}_build`);
  const minor = r.u8(`${what}_minor`);
  const major = r.u8(`${what}_major`);
  r.skip(1, 'reserved');
  return { major, minor, build };
}

/**
 * Parses an SEV-SNP ATTESTATION_REPORT (binary; a hex text form must be decoded by the caller).
 * Zero padding after the 1184 bytes is ignored. Throws `ERR_EVIDENCE_TRUNCATED` for short input and
 * `ERR_EVIDENCE_FORMAT` for an unknown version; field values are checked by
 * {@link checkSnpReportShape}, not here.
 */
export function parseSnpReport(bytes: Uint8Array): SnpReport {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = checkLengthAndVersion(buf);
  const raw = buf.subarray(0, SNP_REPORT_SIZE);
  const r = new ByteReader(raw, 'SEV-SNP report', 4);
  const guestSvn = r.u32('guest_svn');
  const policy = r.u64('policy');
  const familyId = r.bytes(16, 'family_id');
  const imageId = r.bytes(16, 'image_id');
  const vmpl = r.u32('vmpl');
  const signatureAlgo = r.u32('signature_algo');
  const currentTcb = r.u64('current_tcb');
  const platformInfo = r.u64('platform_info');
  const keyInfo = r.u32('key_info');
  r.skip(4, 'reserved');
  const reportData = r.bytes(64, 'report_data');
  const measurement = r.bytes(48, 'measurement');
  const hostData = r.bytes(32, 'host_data');
  const idKeyDigest = r.bytes(48, 'id_key_digest');
  const authorKeyDigest = r.bytes(48, 'author_key_digest');
  const reportId = r.bytes(32, 'report_id');
  const reportIdMa = r.bytes(32, 'report_id_ma');
  const reportedTcb = r.u64('reported_tcb');
  const cpuidBytes = r.bytes(3, 'cpuid');
  r.skip(0x1a0 - 0x18b, 'reserved');
  const chipId = r.bytes(64, 'chip_id');
  const committedTcb = r.u64('committed_tcb');
  const current = readVersion(r, 'current');
  const committed = readVersion(r, 'committed');
  const launchTcb = r.u64('launch_tcb');
  const launchMit = r.u64('launch_mit_vector');
  const currentMit = r.u64('current_mit_vector');
  r.skip(SNP_SIGNED_LENGTH - 0x208, 'reserved');
  const signatureR = r.bytes(72, 'signature_r');
  const signatureS = r.bytes(72, 'signature_s');
  return {
    version,
    guestSvn,
    policy,
    familyId,
    imageId,
    vmpl,
    signatureAlgo,
    currentTcb,
    platformInfo,
    keyInfo,
    authorKeyEn: (keyInfo & 1) !== 0,
    maskChipKey: (keyInfo & 2) !== 0,
    signingKey: SIGNING_KEYS[(keyInfo >>> 2) & 7] ?? 'reserved',
    reportData,
    measurement,
    hostData,
    idKeyDigest,
    authorKeyDigest,
    reportId,
    reportIdMa,
    reportedTcb,
    cpuid: version >= 3 ? { family: cpuidBytes[0]!, model: cpuidBytes[1]!, stepping: cpuidBytes[2]! } : null,
    chipId,
    committedTcb,
    current,
    committed,
    launchTcb,
    launchMitVector: version >= 5 ? launchMit : null,
    currentMitVector: version >= 5 ? currentMit : null,
    signatureR,
    signatureS,
    signedBytes: raw.subarray(0, SNP_SIGNED_LENGTH),
    raw,
  };
}
