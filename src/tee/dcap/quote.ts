import { ByteReader, isAllZero } from '../bytes.ts';
import { TeeError } from '../errors.ts';

/** TEE type of the quote header: SGX. */
export const TEE_TYPE_SGX = 0x00;
/** TEE type of the quote header: TDX. */
export const TEE_TYPE_TDX = 0x81;
/** Attestation key type ECDSA-256-with-P-256 (the only one Intel's QE uses). */
export const ATT_KEY_ECDSA_P256 = 2;
/** Intel's QE vendor id. */
export const INTEL_QE_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';
/** Certification data type 5: the PEM PCK certificate chain (Intel `sgx_quote_4.h`). */
export const CERT_DATA_PCK_CHAIN = 5;
/** Certification data type 6: QE report certification data, nesting the type 5 chain. */
export const CERT_DATA_QE_REPORT = 6;

const SGX_REPORT_SIZE = 384;
const TD10_REPORT_SIZE = 584;
const TD15_REPORT_SIZE = 648;

/** The 384-byte SGX report body (ISV enclave report or QE report). */
export interface SgxReportBody {
  readonly raw: Buffer;
  readonly cpuSvn: Buffer;
  /** MISCSELECT as its 4 bytes in memory order. */
  readonly miscSelect: Buffer;
  readonly attributes: Buffer;
  readonly mrEnclave: Buffer;
  readonly mrSigner: Buffer;
  readonly configId: Buffer;
  readonly isvProdId: number;
  readonly isvSvn: number;
  readonly configSvn: number;
  readonly reportData: Buffer;
}

/** The TD report body (TDX 1.0: 584 bytes; TDX 1.5 adds TEE_TCB_SVN2 and MRSERVICETD). */
export interface TdReportBody {
  readonly raw: Buffer;
  readonly teeTcbSvn: Buffer;
  readonly mrSeam: Buffer;
  readonly mrSignerSeam: Buffer;
  readonly seamAttributes: Buffer;
  readonly tdAttributes: Buffer;
  readonly xfam: Buffer;
  readonly mrTd: Buffer;
  readonly mrConfigId: Buffer;
  readonly mrOwner: Buffer;
  readonly mrOwnerConfig: Buffer;
  readonly rtmrs: readonly [Buffer, Buffer, Buffer, Buffer];
  readonly reportData: Buffer;
  readonly teeTcbSvn2: Buffer | null;
  readonly mrServiceTd: Buffer | null;
}

/** The QE report and its binding data (from the quote's signature data). */
export interface QeReportData {
  readonly report: Buffer;
  readonly body: SgxReportBody;
  readonly signature: Buffer;
  readonly authData: Buffer;
}

/** A parsed DCAP quote (SGX v3/v4/v5, TDX v4/v5), ECDSA signature data included. */
export interface DcapQuote {
  readonly version: number;
  readonly attestationKeyType: number;
  readonly teeType: number;
  readonly qeVendorId: string;
  readonly bodyKind: 'sgx' | 'td10' | 'td15';
  readonly sgx: SgxReportBody | null;
  readonly td: TdReportBody | null;
  /** Header and body: what the attestation key signs. */
  readonly signedData: Buffer;
  readonly signature: Buffer;
  readonly attestationKey: Buffer;
  /** Null when the certification data carries no QE report (unsupported types). */
  readonly qe: QeReportData | null;
  /** The innermost certification data: type 5 holds the PEM PCK chain. */
  readonly certificationType: number;
  readonly certificationData: Buffer;
}

function parseSgxReport(bytes: Buffer): SgxReportBody {
  const r = new ByteReader(bytes, 'SGX report body');
  const cpuSvn = r.bytes(16, 'CPUSVN');
  const miscSelect = r.bytes(4, 'MISCSELECT');
  r.skip(28, 'reserved');
  const attributes = r.bytes(16, 'ATTRIBUTES');
  const mrEnclave = r.bytes(32, 'MRENCLAVE');
  r.skip(32, 'reserved');
  const mrSigner = r.bytes(32, 'MRSIGNER');
  r.skip(32, 'reserved');
  const configId = r.bytes(64, 'CONFIGID');
  const isvProdId = r.u16('ISVPRODID');
  const isvSvn = r.u16('ISVSVN');
  const configSvn = r.u16('CONFIGSVN');
  r.skip(58, 'reserved / ISVFAMILYID');
  const reportData = r.bytes(64, 'REPORTDATA');
  return {
    raw: bytes,
    cpuSvn,
    miscSelect,
    attributes,
    mrEnclave,
    mrSigner,
    configId,
    isvProdId,
    isvSvn,
    configSvn,
    reportData,
  };
}

function parseTdReport(bytes: Buffer): TdReportBody {
  const r = new ByteReader(bytes, 'TD report body');
  const f = (n: number, name: string) => r.bytes(n, name);
  const head = {
    teeTcbSvn: f(16, 'TEE_TCB_SVN'),
    mrSeam: f(48, 'MRSEAM'),
    mrSignerSeam: f(48, 'MRSIGNERSEAM'),
    seamAttributes: f(8, 'SEAMATTRIBUTES'),
    tdAttributes: f(8, 'TDATTRIBUTES'),
    xfam: f(8, 'XFAM'),
    mrTd: f(48, 'MRTD'),
    mrConfigId: f(48, 'MRCONFIGID'),
    mrOwner: f(48, 'MROWNER'),
    mrOwnerConfig: f(48, 'MROWNERCONFIG'),
  };
  const rtmrs = [f(48, 'RTMR0'), f(48, 'RTMR1'), f(48, 'RTMR2'), f(48, 'RTMR3')] as const;
  const reportData = f(64, 'REPORTDATA');
  const td15 = bytes.length === TD15_REPORT_SIZE;
  return {
    raw: bytes,
    ...head,
    rtmrs,
    reportData,
    teeTcbSvn2: td15 ? f(16, 'TEE_TCB_SVN2') : null,
    mrServiceTd: td15 ? f(48, 'MRSERVICETD') : null,
  };
}

function malformed(message: string, value?: string, expected?: string): never {
  throw new TeeError('ERR_EVIDENCE_MALFORMED', message, {
    check: 'quote-parse',
    ...(value !== undefined ? { value } : {}),
    ...(expected !== undefined ? { expected } : {}),
  });
}

function unsupported(message: string, value: string, expected: string): never {
  throw new TeeError('ERR_EVIDENCE_FORMAT', message, { check: 'quote-header', value, expected });
}

/** Reads the body kind and size from the header fields (and, for v5, the body descriptor). */
function readBodyKind(
  r: ByteReader,
  version: number,
  teeType: number,
): { kind: DcapQuote['bodyKind']; size: number } {
  if (version === 3) return { kind: 'sgx', size: SGX_REPORT_SIZE };
  if (version === 4) {
    if (teeType === TEE_TYPE_SGX) return { kind: 'sgx', size: SGX_REPORT_SIZE };
    if (teeType === TEE_TYPE_TDX) return { kind: 'td10', size: TD10_REPORT_SIZE };
    return unsupported(
      `quote v4 with TEE type 0x${teeType.toString(16)}`,
      `0x${teeType.toString(16)}`,
      '0x0 (SGX) or 0x81 (TDX)',
    );
  }
  const type = r.u16('body type');
  const size = r.u32('body size');
  const table: Record<number, [DcapQuote['bodyKind'], number, number]> = {
    1: ['sgx', SGX_REPORT_SIZE, TEE_TYPE_SGX],
    2: ['td10', TD10_REPORT_SIZE, TEE_TYPE_TDX],
    3: ['td15', TD15_REPORT_SIZE, TEE_TYPE_TDX],
  };
  const entry = table[type];
  if (!entry)
    return unsupported(`quote v5 with body type ${type}`, String(type), '1 (SGX), 2 (TD 1.0) or 3 (TD 1.5)');
  if (entry[1] !== size)
    malformed(
      `quote v5 body type ${type} must be ${entry[1]} bytes, the header says ${size}`,
      String(size),
      String(entry[1]),
    );
  if (entry[2] !== teeType)
    malformed(`quote v5 body type ${type} does not match TEE type 0x${teeType.toString(16)}`);
  return { kind: entry[0], size };
}

function readQeReportData(r: ByteReader): QeReportData {
  const report = r.bytes(SGX_REPORT_SIZE, 'QE report');
  const signature = r.bytes(64, 'QE report signature');
  const authData = r.bytes(r.u16('QE auth data size'), 'QE auth data');
  return { report, body: parseSgxReport(report), signature, authData };
}

function readCertificationData(r: ByteReader): { type: number; data: Buffer } {
  const type = r.u16('certification data type');
  const data = r.bytes(r.u32('certification data size'), 'certification data');
  return { type, data };
}

function assertConsumed(r: ByteReader, what: string): void {
  if (r.remaining !== 0)
    malformed(`${what} has ${r.remaining} bytes beyond its declared content`, String(r.remaining), '0');
}

function parseSignatureData(sig: Buffer, version: number) {
  const r = new ByteReader(sig, 'quote signature data');
  const signature = r.bytes(64, 'quote signature');
  const attestationKey = r.bytes(64, 'attestation key');
  let qe: QeReportData | null = null;
  let cert: { type: number; data: Buffer };
  if (version === 3) {
    qe = readQeReportData(r);
    cert = readCertificationData(r);
  } else {
    cert = readCertificationData(r);
    if (cert.type === CERT_DATA_QE_REPORT) {
      const inner = new ByteReader(cert.data, 'QE report certification data');
      qe = readQeReportData(inner);
      cert = readCertificationData(inner);
      assertConsumed(inner, 'QE report certification data');
    }
  }
  assertConsumed(r, 'quote signature data');
  return { signature, attestationKey, qe, certificationType: cert.type, certificationData: cert.data };
}

/**
 * Parses a DCAP quote (hostile bytes). Truncation gives `ERR_EVIDENCE_TRUNCATED`, impossible values
 * `ERR_EVIDENCE_MALFORMED`, unknown versions / body types `ERR_EVIDENCE_FORMAT`. Zero bytes after the
 * signature data are accepted (quotes are often handed over in fixed-size buffers); anything else is not.
 */
export function parseQuote(bytes: Uint8Array): DcapQuote {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new ByteReader(buf, 'quote');
  const version = r.u16('version');
  if (version < 3 || version > 5)
    unsupported(`quote version ${version} is not supported`, String(version), '3, 4 or 5');
  const attestationKeyType = r.u16('attestation key type');
  const teeType = r.u32('TEE type');
  r.skip(4, 'reserved');
  const qeVendorId = r.bytes(16, 'QE vendor id').toString('hex');
  r.skip(20, 'user data');
  const { kind, size } = readBodyKind(r, version, teeType);
  const body = r.bytes(size, 'report body');
  const signedData = buf.subarray(0, r.position);
  const sigData = r.bytes(r.u32('signature data size'), 'signature data');
  const trailing = buf.subarray(r.position);
  if (!isAllZero(trailing))
    malformed(
      `quote has ${trailing.length} trailing bytes after its signature data that are not zero padding`,
    );
  return {
    version,
    attestationKeyType,
    teeType,
    qeVendorId,
    bodyKind: kind,
    sgx: kind === 'sgx' ? parseSgxReport(body) : null,
    td: kind === 'sgx' ? null : parseTdReport(body),
    signedData,
    ...parseSignatureData(sigData, version),
  };
}
