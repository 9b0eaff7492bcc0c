import { DER, readDer } from '../der.ts';
import { TeeError } from '../errors.ts';
import { type CertInfo, type ParsedCrl, parseCertificate, parseCrl, parsePemChain } from '../pki.ts';
import type { DcapCollateral } from '../types.ts';
import { asObject, asString, type JsonObject, malformedField, parseJsonObject } from './json-fields.ts';
import { rawJsonMember } from './raw-json.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const ROOT_CA_CN = 'Intel SGX Root CA';
const PCK_CA_CNS = ['Intel SGX PCK Platform CA', 'Intel SGX PCK Processor CA'];
const TCB_SIGNING_CN = 'Intel SGX TCB Signing';
const HEX_TEXT = /^(0x)?[0-9a-fA-F\s]+$/;

function unrecognized(name: string, what: string): never {
  throw new TeeError(
    'ERR_COLLATERAL_MALFORMED',
    `${name}: ${what} is not DCAP collateral this verifier recognizes`,
    { check: 'collateral-file' },
  );
}

function hexBytes(value: unknown, path: string): Buffer {
  if (Array.isArray(value) && value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255))
    return Buffer.from(value as number[]);
  const s = asString(value, path).trim().replace(/^0x/i, '');
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) malformedField(path, 'expected hex bytes', value);
  return Buffer.from(s, 'hex');
}

/** An Intel PCS response body: `{"tcbInfo":{…},"signature":"hex"}` or `{"enclaveIdentity":{…},…}`. */
function fromPcsBody(text: string, doc: JsonObject, name: string): Partial<DcapCollateral> {
  const kind = doc.tcbInfo !== undefined ? 'tcbInfo' : 'enclaveIdentity';
  asObject(doc[kind], `${name}: ${kind}`);
  // The signature covers the exact text of the inner object: take it from the body, never re-serialize.
  const raw = rawJsonMember(text, kind);
  if (raw === null) malformedField(`${name}: ${kind}`, 'could not locate the signed object in the body');
  const signature = hexBytes(doc.signature, `${name}: signature`);
  return kind === 'tcbInfo'
    ? { tcbInfo: raw, tcbInfoSignature: signature }
    : { qeIdentity: raw, qeIdentitySignature: signature };
}

const QVL_KEYS = {
  tcb_info: 'tcbInfo',
  tcb_info_signature: 'tcbInfoSignature',
  tcb_info_issuer_chain: 'tcbInfoIssuerChain',
  qe_identity: 'qeIdentity',
  qe_identity_signature: 'qeIdentitySignature',
  qe_identity_issuer_chain: 'qeIdentityIssuerChain',
  pck_crl: 'pckCrl',
  pck_crl_issuer_chain: 'pckCrlIssuerChain',
  root_ca_crl: 'rootCaCrl',
} as const satisfies Record<string, keyof DcapCollateral>;

const BINARY_FIELDS: ReadonlySet<string> = new Set([
  'tcbInfoSignature',
  'qeIdentitySignature',
  'pckCrl',
  'rootCaCrl',
]);

/** The dcap-qvl combined collateral JSON (snake_case keys, hex CRLs and signatures, exact JSON text). */
function fromDcapQvl(doc: JsonObject, name: string): Partial<DcapCollateral> {
  const out: Record<string, string | Buffer> = {};
  for (const [key, field] of Object.entries(QVL_KEYS)) {
    const value = doc[key];
    if (value === undefined || value === null) continue;
    if (BINARY_FIELDS.has(field)) out[field] = hexBytes(value, `${name}: ${key}`);
    else out[field] = asString(value, `${name}: ${key} (must be the exact signed text)`);
  }
  return out as Partial<DcapCollateral>;
}

function fromJson(text: string, name: string): Partial<DcapCollateral> {
  const doc = parseJsonObject(text, name);
  if (doc.tcbInfo !== undefined || doc.enclaveIdentity !== undefined) return fromPcsBody(text, doc, name);
  if (Object.keys(QVL_KEYS).some((k) => doc[k] !== undefined)) return fromDcapQvl(doc, name);
  return unrecognized(name, 'a JSON document without tcbInfo, enclaveIdentity or dcap-qvl collateral keys');
}

function fromPemChain(text: string, name: string): Partial<DcapCollateral> {
  const chain: CertInfo[] = parsePemChain(text, name, 'collateral');
  const cn = chain[0]!.subjectCn ?? '';
  if (cn === TCB_SIGNING_CN) return { tcbInfoIssuerChain: text, qeIdentityIssuerChain: text };
  if (PCK_CA_CNS.includes(cn)) return { pckCrlIssuerChain: text };
  return unrecognized(
    name,
    `a PEM chain whose first certificate is "${cn}" (expected ${TCB_SIGNING_CN} or an Intel PCK CA)`,
  );
}

/** True when `buf` is exactly one DER SEQUENCE. */
function looksLikeDer(buf: Buffer): boolean {
  try {
    return buf[0] === DER.SEQUENCE && readDer(buf, 0).raw.length === buf.length;
  } catch {
    return false;
  }
}

function isCertificate(der: Buffer): boolean {
  try {
    parseCertificate(der, 'file', 'collateral');
    return true;
  } catch {
    return false;
  }
}

function fromCrl(der: Buffer, name: string): Partial<DcapCollateral> {
  let crl: ParsedCrl;
  try {
    crl = parseCrl(der, name, 'collateral-file');
  } catch (err) {
    if (isCertificate(der))
      unrecognized(
        name,
        'a single DER certificate (the PCK chain comes from the quote; issuer chains are PEM files)',
      );
    throw err;
  }
  if (crl.issuerCn === ROOT_CA_CN) return { rootCaCrl: der };
  if (PCK_CA_CNS.includes(crl.issuerCn ?? '')) return { pckCrl: der };
  return unrecognized(name, `a CRL issued by "${crl.issuerCn ?? '?'}"`);
}

/**
 * Classifies the bytes of one collateral file into the part(s) of {@link DcapCollateral} it holds:
 * a dcap-qvl combined JSON; a raw Intel PCS body (`{"tcbInfo":…,"signature":…}` or
 * `{"enclaveIdentity":…}`, whose exact inner text is kept); a PEM issuer chain (by its first
 * certificate: Intel SGX TCB Signing → TCB Info and QE Identity chains, a PCK CA → PCK CRL chain); a
 * CRL in DER, PEM or hex (issuer Root CA → root CA CRL, a PCK CA → PCK CRL). Anything else is
 * `ERR_COLLATERAL_MALFORMED`.
 */
export function classifyCollateralFile(bytes: Uint8Array, name = 'collateral file'): Partial<DcapCollateral> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length === 0) unrecognized(name, 'an empty file');
  if (looksLikeDer(buf)) return fromCrl(buf, name);
  const text = buf.toString('utf8').trim();
  if (text.startsWith('{')) return fromJson(text, name);
  if (text.includes('-----BEGIN CERTIFICATE-----')) return fromPemChain(text, name);
  const pemCrl = /-----BEGIN X509 CRL-----([A-Za-z0-9+/=\s]+)-----END X509 CRL-----/.exec(text);
  if (pemCrl) return fromCrl(Buffer.from(pemCrl[1]!.replace(/\s+/g, ''), 'base64'), name);
  if (HEX_TEXT.test(text))
    return fromCrl(Buffer.from(text.replace(/\s+/g, '').replace(/^0x/i, ''), 'hex'), name);
  return unrecognized(name, `${buf.length} bytes of unknown content`);
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a).equals(Buffer.from(b));
  return a === b;
}

/**
 * Merges the parts classified from several files. The same part supplied twice must be identical;
 * otherwise `ERR_COLLATERAL_MALFORMED` says which.
 */
export function mergeDcapCollateral(parts: readonly Partial<DcapCollateral>[]): DcapCollateral {
  const out: Mutable<DcapCollateral> = {};
  for (const part of parts) {
    for (const [key, value] of Object.entries(part) as [keyof DcapCollateral, never][]) {
      if (value === undefined) continue;
      if (out[key] !== undefined && !sameValue(out[key], value)) {
        throw new TeeError(
          'ERR_COLLATERAL_MALFORMED',
          `two collateral files supply different ${key}; pass one per document`,
          { check: 'collateral-file', value: key },
        );
      }
      out[key] = value;
    }
  }
  return out;
}
