import { createHash, verify as cryptoVerify, X509Certificate } from 'node:crypto';
import { DER, type DerNode, decodeOid, derChildren, expectTag, parseDer } from './der.ts';
import { TeeError, type TeeErrorCode } from './errors.ts';

/** Where a parse error points: in the evidence (a quote's PCK chain) or in collateral files. */
export type PkiSource = 'evidence' | 'collateral';

/** A validity window; a verdict computed inside it holds for any time inside it. */
export interface ValidityWindow {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** A parsed X.509 certificate: Node's object for the signature math plus the DER fields we need. */
export interface CertInfo {
  readonly x509: X509Certificate;
  readonly der: Buffer;
  /** Lower-case hex SHA-256 of the DER. */
  readonly sha256: string;
  readonly subjectRaw: Buffer;
  readonly issuerRaw: Buffer;
  readonly subjectCn: string | null;
  readonly issuerCn: string | null;
  /** Lower-case hex without leading zeros. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Extension OID → extnValue content (the DER inside the OCTET STRING). */
  readonly extensions: ReadonlyMap<string, Buffer>;
}

const OID_CN = '2.5.4.3';
const PEM_CERT = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]*?)-----END CERTIFICATE-----/g;

function malformedCode(source: PkiSource): TeeErrorCode {
  return source === 'evidence' ? 'ERR_EVIDENCE_MALFORMED' : 'ERR_COLLATERAL_MALFORMED';
}

/** Lower-case hex SHA-256 of `bytes`. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Normalizes a serial number (hex, any case, optional leading zeros) for comparisons. */
export function normalizeSerial(hex: string): string {
  const s = hex.toLowerCase().replace(/^0+/, '');
  return s === '' ? '0' : s;
}

/**
 * Splits a PEM bundle into the DER of its CERTIFICATE blocks, in order. Only whitespace and NUL
 * bytes may appear between and around the blocks (quotes often end the chain with a NUL).
 */
export function splitPemChain(text: string, what: string, source: PkiSource, check = 'pem'): Buffer[] {
  const out: Buffer[] = [];
  let rest = '';
  let last = 0;
  for (const m of text.matchAll(PEM_CERT)) {
    rest += text.slice(last, m.index);
    last = m.index + m[0].length;
    out.push(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
  }
  rest += text.slice(last);
  if (out.length === 0 || /[^\s\0]/.test(rest)) {
    throw new TeeError(
      malformedCode(source),
      `${what} is not a PEM certificate chain (${out.length} CERTIFICATE blocks, ${rest.replace(/[\s\0]/g, '').length} stray characters)`,
      { check, value: `${out.length} blocks`, expected: 'only PEM CERTIFICATE blocks' },
    );
  }
  return out;
}

/** Common name of a DER Name, or null. */
export function nameCommonName(name: DerNode): string | null {
  for (const rdn of derChildren(name)) {
    for (const atv of derChildren(rdn)) {
      const [oid, value] = derChildren(atv);
      if (oid?.tag === DER.OID && value && decodeOid(oid.content) === OID_CN)
        return value.content.toString('utf8');
    }
  }
  return null;
}

function readTime(node: DerNode | undefined, what: string): Date {
  if (!node || (node.tag !== DER.UTC_TIME && node.tag !== DER.GENERALIZED_TIME)) {
    throw new TeeError('ERR_COLLATERAL_MALFORMED', `${what}: expected a time`, { check: 'der-parse' });
  }
  const s = node.content.toString('latin1');
  const m =
    node.tag === DER.UTC_TIME
      ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s)
      : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(s);
  if (!m) throw new TeeError('ERR_COLLATERAL_MALFORMED', `${what}: unsupported time ${JSON.stringify(s)}`);
  let year = Number(m[1]);
  if (node.tag === DER.UTC_TIME) year += year >= 50 ? 1900 : 2000;
  return new Date(Date.UTC(year, Number(m[2]) - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}

function readExtensions(node: DerNode | undefined): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!node) return out;
  for (const ext of derChildren(expectTag(derChildren(node)[0], DER.SEQUENCE, 'extensions'))) {
    const parts = derChildren(ext);
    const oid = expectTag(parts[0], DER.OID, 'extension id');
    const value = expectTag(parts[parts.length - 1], DER.OCTET_STRING, 'extension value');
    out.set(decodeOid(oid.content), value.content);
  }
  return out;
}

function certFields(der: Buffer): Omit<CertInfo, 'x509' | 'der' | 'sha256'> {
  const cert = parseDer(der, 'certificate');
  const tbs = expectTag(
    derChildren(expectTag(cert, DER.SEQUENCE, 'certificate'))[0],
    DER.SEQUENCE,
    'tbsCertificate',
  );
  const f = derChildren(tbs);
  const off = f[0]?.tag === 0xa0 ? 1 : 0;
  const serial = expectTag(f[off], DER.INTEGER, 'serialNumber');
  const issuer = expectTag(f[off + 2], DER.SEQUENCE, 'issuer');
  const validity = derChildren(expectTag(f[off + 3], DER.SEQUENCE, 'validity'));
  const subject = expectTag(f[off + 4], DER.SEQUENCE, 'subject');
  return {
    serial: normalizeSerial(serial.content.toString('hex')),
    issuerRaw: issuer.raw,
    subjectRaw: subject.raw,
    issuerCn: nameCommonName(issuer),
    subjectCn: nameCommonName(subject),
    notBefore: readTime(validity[0], 'notBefore'),
    notAfter: readTime(validity[1], 'notAfter'),
    extensions: readExtensions(f.slice(off + 6).find((n) => n.tag === 0xa3)),
  };
}

/** Parses one DER certificate; malformed input gives `ERR_EVIDENCE_MALFORMED` / `ERR_COLLATERAL_MALFORMED`. */
export function parseCertificate(
  der: Uint8Array,
  what: string,
  source: PkiSource,
  check = 'certificate-parse',
): CertInfo {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  try {
    const x509 = new X509Certificate(buf);
    return { x509, der: buf, sha256: sha256Hex(buf), ...certFields(buf) };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new TeeError(
      malformedCode(source),
      `${what} is not a valid X.509 certificate: ${reason}`,
      { check },
      { cause: err },
    );
  }
}

/** Parses a PEM chain into certificates, leaf first. */
export function parsePemChain(text: string, what: string, source: PkiSource, check = 'pem'): CertInfo[] {
  return splitPemChain(text, what, source, check).map((der, i) =>
    parseCertificate(der, `${what} certificate #${i}`, source, check),
  );
}

/** Throws `ERR_CERT_ROOT` unless `root` is one of the pinned roots (SHA-256 of its DER). */
export function assertPinnedRoot(root: CertInfo, pins: readonly string[], check: string): void {
  if (!pins.includes(root.sha256)) {
    throw new TeeError(
      'ERR_CERT_ROOT',
      `the chain ends in "${root.subjectCn ?? '?'}" with SHA-256 ${root.sha256}, which is not a pinned root`,
      { check, value: root.sha256, expected: pins.join('|') },
    );
  }
}

/** Throws `ERR_CERT_VALIDITY` unless `at` is inside the certificate's validity. */
export function assertCertValidAt(cert: CertInfo, at: Date, check: string): void {
  if (at < cert.notBefore || at > cert.notAfter) {
    throw new TeeError(
      'ERR_CERT_VALIDITY',
      `certificate "${cert.subjectCn ?? '?'}" is not valid at ${at.toISOString()} (valid ${cert.notBefore.toISOString()} to ${cert.notAfter.toISOString()})`,
      {
        check,
        value: at.toISOString(),
        expected: `${cert.notBefore.toISOString()}..${cert.notAfter.toISOString()}`,
      },
    );
  }
}

/** Throws `ERR_CERT_CHAIN` unless `child` names `parent` as issuer, is signed by its key, and `parent` is a CA. */
export function assertIssuedBy(child: CertInfo, parent: CertInfo, check: string): void {
  const signed = child.issuerRaw.equals(parent.subjectRaw) && child.x509.verify(parent.x509.publicKey);
  if (!signed || !parent.x509.ca) {
    throw new TeeError(
      'ERR_CERT_CHAIN',
      `certificate "${child.subjectCn ?? '?'}" is not signed by the CA certificate "${parent.subjectCn ?? '?'}" that follows it`,
      { check, value: child.issuerCn ?? '?', expected: parent.subjectCn ?? '?' },
    );
  }
}

/** The intersection of the validity windows of `certs`. */
export function chainWindow(certs: readonly CertInfo[]): ValidityWindow {
  let notBefore = new Date(-8.64e15);
  let notAfter = new Date(8.64e15);
  for (const c of certs) {
    if (c.notBefore > notBefore) notBefore = c.notBefore;
    if (c.notAfter < notAfter) notAfter = c.notAfter;
  }
  return { notBefore, notAfter };
}

/**
 * Verifies a chain leaf→…→root: the root is pinned (`ERR_CERT_ROOT`) and self-signed, each
 * certificate is signed by the next one, a CA (`ERR_CERT_CHAIN`), and every certificate is valid at
 * `at` (`ERR_CERT_VALIDITY`). Returns the window in which this verdict holds.
 */
export function verifyChain(
  chain: readonly CertInfo[],
  options: { at: Date; pins: readonly string[]; check: string; minLength?: number },
): ValidityWindow {
  const { check } = options;
  const root = chain[chain.length - 1];
  if (!root || chain.length < (options.minLength ?? 2)) {
    throw new TeeError(
      'ERR_CERT_CHAIN',
      `the chain has ${chain.length} certificates, at least ${options.minLength ?? 2} are needed`,
      {
        check,
        value: String(chain.length),
        expected: `>= ${options.minLength ?? 2}`,
      },
    );
  }
  assertPinnedRoot(root, options.pins, check);
  assertIssuedBy(root, root, check);
  for (let i = 0; i + 1 < chain.length; i++) assertIssuedBy(chain[i]!, chain[i + 1]!, check);
  for (const cert of chain) assertCertValidAt(cert, options.at, check);
  return chainWindow(chain);
}

/** A parsed certificate revocation list (RFC 5280), with what is needed to verify it. */
export interface ParsedCrl {
  readonly der: Buffer;
  readonly sha256: string;
  /** The signed TBSCertList, header included. */
  readonly tbs: Buffer;
  readonly issuerRaw: Buffer;
  readonly issuerCn: string | null;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  /** Revoked serial numbers, normalized with {@link normalizeSerial}. */
  readonly revoked: ReadonlySet<string>;
  /** Signature algorithm OID, e.g. `1.2.840.10045.4.3.2` (ecdsa-with-SHA256). */
  readonly signatureAlgorithm: string;
  /** The signature as carried (DER ECDSA-Sig-Value for ECDSA). */
  readonly signature: Buffer;
}

const SIGNATURE_HASHES: Readonly<Record<string, string>> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

function algorithmOid(node: DerNode | undefined, what: string): string {
  return decodeOid(expectTag(derChildren(expectTag(node, DER.SEQUENCE, what))[0], DER.OID, what).content);
}

function revokedSerials(node: DerNode | undefined): Set<string> {
  const out = new Set<string>();
  if (!node || node.tag !== DER.SEQUENCE) return out;
  for (const entry of derChildren(node)) {
    out.add(
      normalizeSerial(
        expectTag(derChildren(entry)[0], DER.INTEGER, 'revoked serial').content.toString('hex'),
      ),
    );
  }
  return out;
}

function crlFields(buf: Buffer): ParsedCrl {
  const top = derChildren(expectTag(parseDer(buf, 'CRL'), DER.SEQUENCE, 'CertificateList'));
  const tbs = expectTag(top[0], DER.SEQUENCE, 'TBSCertList');
  const f = derChildren(tbs);
  const off = f[0]?.tag === DER.INTEGER ? 1 : 0;
  const innerAlg = algorithmOid(f[off], 'TBSCertList signature');
  const issuer = expectTag(f[off + 1], DER.SEQUENCE, 'CRL issuer');
  const thisUpdate = readTime(f[off + 2], 'thisUpdate');
  const nextUpdate = readTime(f[off + 3], 'nextUpdate (required by RFC 5280 and Intel)');
  const signatureAlgorithm = algorithmOid(top[1], 'CRL signatureAlgorithm');
  const sig = expectTag(top[2], DER.BIT_STRING, 'CRL signature');
  if (innerAlg !== signatureAlgorithm || sig.content[0] !== 0) {
    throw new TeeError('ERR_COLLATERAL_MALFORMED', 'CRL: inconsistent signature algorithm or bit string', {
      check: 'der-parse',
    });
  }
  return {
    der: buf,
    sha256: sha256Hex(buf),
    tbs: tbs.raw,
    issuerRaw: issuer.raw,
    issuerCn: nameCommonName(issuer),
    thisUpdate,
    nextUpdate,
    revoked: revokedSerials(f[off + 4]),
    signatureAlgorithm,
    signature: sig.content.subarray(1),
  };
}

/** Parses a DER CRL; malformed input gives `ERR_COLLATERAL_MALFORMED`. */
export function parseCrl(der: Uint8Array, what = 'CRL', check = 'crl-parse'): ParsedCrl {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  try {
    return crlFields(buf);
  } catch (err) {
    if (err instanceof TeeError)
      throw new TeeError(
        'ERR_COLLATERAL_MALFORMED',
        `${what} is not a valid CRL: ${err.message}`,
        { check },
        { cause: err },
      );
    throw err;
  }
}

/** Throws `ERR_CRL_SIGNATURE` unless `issuer` is the CRL's issuer and signed it. */
export function verifyCrlSignature(crl: ParsedCrl, issuer: CertInfo, check: string): void {
  const hash = SIGNATURE_HASHES[crl.signatureAlgorithm];
  const fail = (why: string): never => {
    throw new TeeError('ERR_CRL_SIGNATURE', `the CRL of "${crl.issuerCn ?? '?'}" ${why}`, {
      check,
      value: crl.issuerCn ?? '?',
      expected: issuer.subjectCn ?? '?',
    });
  };
  if (!crl.issuerRaw.equals(issuer.subjectRaw)) fail(`is not issued by "${issuer.subjectCn ?? '?'}"`);
  if (hash === undefined) fail(`uses an unsupported signature algorithm ${crl.signatureAlgorithm}`);
  let ok = false;
  try {
    ok = cryptoVerify(hash!, crl.tbs, issuer.x509.publicKey, crl.signature);
  } catch {
    ok = false;
  }
  if (!ok) fail(`has an invalid signature (not signed by "${issuer.subjectCn ?? '?'}")`);
}

/** Throws `ERR_CRL_VALIDITY` unless thisUpdate ≤ `at` ≤ nextUpdate. */
export function assertCrlValidAt(crl: ParsedCrl, at: Date, check: string): void {
  if (at < crl.thisUpdate || at > crl.nextUpdate) {
    throw new TeeError(
      'ERR_CRL_VALIDITY',
      `the CRL of "${crl.issuerCn ?? '?'}" is not valid at ${at.toISOString()} (thisUpdate ${crl.thisUpdate.toISOString()}, nextUpdate ${crl.nextUpdate.toISOString()}); fetch a current CRL`,
      {
        check,
        value: at.toISOString(),
        expected: `${crl.thisUpdate.toISOString()}..${crl.nextUpdate.toISOString()}`,
      },
    );
  }
}

/** True when `cert` is listed on `crl` (same issuer and serial). */
export function isRevoked(cert: CertInfo, crl: ParsedCrl): boolean {
  return cert.issuerRaw.equals(crl.issuerRaw) && crl.revoked.has(cert.serial);
}

/** Throws `ERR_CERT_REVOKED` when `cert` is listed on `crl`. */
export function assertNotRevoked(cert: CertInfo, crl: ParsedCrl, check: string): void {
  if (isRevoked(cert, crl)) {
    throw new TeeError(
      'ERR_CERT_REVOKED',
      `certificate "${cert.subjectCn ?? '?'}" (serial ${cert.serial}) is revoked by the CRL of "${crl.issuerCn ?? '?'}"`,
      { check, value: cert.serial, expected: 'a serial not on the CRL' },
    );
  }
}

/** Verifies a CRL completely: issuer signature, then validity at `at`; returns its window. */
export function verifyCrl(crl: ParsedCrl, issuer: CertInfo, at: Date, check: string): ValidityWindow {
  verifyCrlSignature(crl, issuer, check);
  assertCrlValidAt(crl, at, check);
  return { notBefore: crl.thisUpdate, notAfter: crl.nextUpdate };
}
