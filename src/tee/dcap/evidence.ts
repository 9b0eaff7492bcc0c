import { isTeeError } from '../errors.ts';
import { parseCertificate, splitPemChain } from '../pki.ts';
import type { ParsedEvidence } from '../types.ts';
import { parsePckExtensions } from './pck-extensions.ts';
import { CERT_DATA_PCK_CHAIN, type DcapQuote, TEE_TYPE_SGX, TEE_TYPE_TDX } from './quote.ts';

/**
 * Cheap sniffing of a DCAP quote header: version 3 (SGX, attestation key type 2 or 3, TEE type
 * field 0), or version 4/5 with TEE type 0 (SGX) or 0x81 (TDX).
 */
export function looksLikeDcapQuote(bytes: Uint8Array): boolean {
  if (bytes.length < 48) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(0, true);
  const keyType = view.getUint16(2, true);
  const teeType = view.getUint32(4, true);
  if (keyType !== 2 && keyType !== 3) return false;
  if (version === 3) return teeType === TEE_TYPE_SGX;
  return (version === 4 || version === 5) && (teeType === TEE_TYPE_SGX || teeType === TEE_TYPE_TDX);
}

/** The FMSPC of the PCK certificate carried by the quote, when there is a readable one. */
export function quoteFmspc(quote: DcapQuote): string | null {
  if (quote.certificationType !== CERT_DATA_PCK_CHAIN) return null;
  try {
    const [leaf] = splitPemChain(quote.certificationData.toString('latin1'), 'PCK chain', 'evidence');
    return parsePckExtensions(parseCertificate(leaf!, 'PCK certificate', 'evidence')).fmspc;
  } catch (err) {
    if (isTeeError(err)) return null;
    throw err;
  }
}

const hex = (b: Buffer) => b.toString('hex');

/** The identity fields of a parsed quote, in the normalized {@link ParsedEvidence} shape. */
export function toParsedEvidence(quote: DcapQuote, fmspc: string | null): ParsedEvidence {
  if (quote.sgx) {
    const r = quote.sgx;
    return {
      platform: 'sgx',
      format: `sgx-quote-v${quote.version}`,
      measurement: hex(r.mrEnclave),
      signer: hex(r.mrSigner),
      productId: r.isvProdId,
      svn: r.isvSvn,
      debug: (r.attributes[0]! & 0x02) !== 0,
      reportData: hex(r.reportData),
      details: {
        mrenclave: hex(r.mrEnclave),
        mrsigner: hex(r.mrSigner),
        attributes: hex(r.attributes),
        miscSelect: hex(r.miscSelect),
        cpuSvn: hex(r.cpuSvn),
        isvProdId: r.isvProdId,
        isvSvn: r.isvSvn,
        configSvn: r.configSvn,
        configId: hex(r.configId),
        fmspc,
      },
    };
  }
  const td = quote.td!;
  return {
    platform: 'tdx',
    format: `tdx-quote-v${quote.version}`,
    measurement: hex(td.mrTd),
    signer: null,
    productId: null,
    svn: null,
    debug: (td.tdAttributes[0]! & 0x01) !== 0,
    reportData: hex(td.reportData),
    details: {
      mrtd: hex(td.mrTd),
      rtmr0: hex(td.rtmrs[0]),
      rtmr1: hex(td.rtmrs[1]),
      rtmr2: hex(td.rtmrs[2]),
      rtmr3: hex(td.rtmrs[3]),
      mrseam: hex(td.mrSeam),
      mrsignerseam: hex(td.mrSignerSeam),
      mrconfigid: hex(td.mrConfigId),
      mrowner: hex(td.mrOwner),
      mrownerconfig: hex(td.mrOwnerConfig),
      tdAttributes: hex(td.tdAttributes),
      seamAttributes: hex(td.seamAttributes),
      xfam: hex(td.xfam),
      teeTcbSvn: hex(td.teeTcbSvn),
      ...(td.teeTcbSvn2 ? { teeTcbSvn2: hex(td.teeTcbSvn2) } : {}),
      ...(td.mrServiceTd ? { mrservicetd: hex(td.mrServiceTd) } : {}),
      fmspc,
    },
  };
}
