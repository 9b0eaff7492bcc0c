import type { Platform } from '../types.ts';

/** The configfs-tsm providers we know, and the platform of their outblob. */
export const TSM_PROVIDERS = { tdx_guest: 'tdx', sev_guest: 'sev-snp' } as const satisfies Record<
  string,
  Platform
>;

/** A configfs-tsm provider name we know. */
export type TsmProvider = keyof typeof TSM_PROVIDERS;

/** True when `name` is a provider of {@link TSM_PROVIDERS}. */
export function isTsmProvider(name: string): name is TsmProvider {
  return Object.hasOwn(TSM_PROVIDERS, name);
}

/**
 * Finds the 64 report-data bytes inside an outblob, to check that the evidence binds what was
 * written to `inblob`. Returns a description of the problem instead when the outblob is not the
 * expected shape:
 * - `tdx_guest`: a TDX quote; v4: 48-byte header + TD report, report data at 48 + 520 = 568;
 *   v5: a 6-byte body descriptor (type u16, size u32) follows the header, so 574. TEE type 0x81.
 * - `sev_guest`: an SEV-SNP attestation report (1184 bytes, version ≥ 2), report data at 0x50.
 */
export function outblobReportData(provider: TsmProvider, outblob: Buffer): Buffer | string {
  return provider === 'tdx_guest' ? tdxReportData(outblob) : snpReportData(outblob);
}

function tdxReportData(quote: Buffer): Buffer | string {
  if (quote.length < 8) return `a TDX quote has at least 8 bytes, got ${quote.length}`;
  const version = quote.readUInt16LE(0);
  const teeType = quote.readUInt32LE(4);
  if (teeType !== 0x81) return `TEE type 0x${teeType.toString(16)} is not TDX (0x81)`;
  const offset = version === 4 ? 568 : version === 5 ? 574 : -1;
  if (offset < 0) return `TDX quote version ${version} is not 4 or 5`;
  if (quote.length < offset + 64) return `the TDX quote (v${version}) is truncated: ${quote.length} bytes`;
  return quote.subarray(offset, offset + 64);
}

function snpReportData(report: Buffer): Buffer | string {
  if (report.length < 0x4a0) return `an SEV-SNP report has 1184 bytes, got ${report.length}`;
  const version = report.readUInt32LE(0);
  if (version < 2) return `SEV-SNP report version ${version} is older than 2`;
  return report.subarray(0x50, 0x90);
}
