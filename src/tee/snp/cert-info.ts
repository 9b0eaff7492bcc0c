import { DER, type DerNode, decodeOid, decodeTime, derChildren, expectTag, parseDer } from '../der.ts';
import { TeeError } from '../errors.ts';

/** The fields of an X.509 certificate that the SEV-SNP checks read from its DER. */
export interface CertInfo {
  /** The subject's common name, or '' when there is none. */
  readonly subjectCn: string;
  readonly issuerCn: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Extension values (the content of extnValue) by dotted OID. */
  readonly extensions: ReadonlyMap<string, Buffer>;
}

const OID_COMMON_NAME = '2.5.4.3';
const TAG_EXTENSIONS = 0xa3;
const STRING_TAGS: readonly number[] = [DER.UTF8_STRING, DER.PRINTABLE_STRING, DER.IA5_STRING];

function commonName(name: DerNode, what: string): string {
  for (const rdn of derChildren(expectTag(name, DER.SEQUENCE, what), what)) {
    for (const atv of derChildren(expectTag(rdn, DER.SET, what), what)) {
      const [oid, value] = derChildren(expectTag(atv, DER.SEQUENCE, what), what);
      if (decodeOid(expectTag(oid, DER.OID, what).content) !== OID_COMMON_NAME) continue;
      if (!value || !STRING_TAGS.includes(value.tag)) {
        throw new TeeError('ERR_COLLATERAL_MALFORMED', `${what}: common name is not a string`, {
          check: 'der-parse',
        });
      }
      return value.content.toString('utf8');
    }
  }
  return '';
}

function readExtensions(node: DerNode | undefined, what: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!node) return out;
  const [list] = derChildren(node, what);
  for (const ext of derChildren(expectTag(list, DER.SEQUENCE, what), what)) {
    const parts = derChildren(expectTag(ext, DER.SEQUENCE, what), what);
    const oid = decodeOid(expectTag(parts[0], DER.OID, what).content);
    const value = expectTag(parts[parts.length - 1], DER.OCTET_STRING, what);
    if (out.has(oid)) {
      throw new TeeError('ERR_COLLATERAL_MALFORMED', `${what}: extension ${oid} appears twice`, {
        check: 'der-parse',
      });
    }
    out.set(oid, value.content);
  }
  return out;
}

/**
 * Reads subject and issuer common names, the validity window and the extensions of a DER
 * certificate. Hostile input gives `ERR_COLLATERAL_MALFORMED`.
 */
export function readCertInfo(der: Uint8Array, what = 'certificate'): CertInfo {
  const cert = derChildren(expectTag(parseDer(der, what), DER.SEQUENCE, what), what);
  const tbs = derChildren(expectTag(cert[0], DER.SEQUENCE, what), what);
  // tbsCertificate: [0] version, serial, signature, issuer, validity, subject, spki, [1], [2], [3]
  const offset = tbs[0]?.tag === 0xa0 ? 1 : 0;
  const issuer = tbs[offset + 2];
  const validity = derChildren(expectTag(tbs[offset + 3], DER.SEQUENCE, what), what);
  const subject = tbs[offset + 4];
  if (!issuer || !subject || !validity[0] || !validity[1]) {
    throw new TeeError('ERR_COLLATERAL_MALFORMED', `${what}: incomplete tbsCertificate`, {
      check: 'der-parse',
    });
  }
  return {
    subjectCn: commonName(subject, what),
    issuerCn: commonName(issuer, what),
    notBefore: decodeTime(validity[0], what),
    notAfter: decodeTime(validity[1], what),
    extensions: readExtensions(
      tbs.find((n) => n.tag === TAG_EXTENSIONS),
      what,
    ),
  };
}
