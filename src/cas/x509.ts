/**
 * X.509 certificate creation: the adapter over `@peculiar/asn1-x509` (the only file that imports
 * `@peculiar/asn1-*`). Encoding is the library's; signatures are Node's (OpenSSL). Keys: P-256
 * (ECDSA with SHA-256) or Ed25519.
 */
import { createHash, createPublicKey, type KeyObject, randomBytes, sign, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  id_kp_serverAuth,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';

const OID_COMMON_NAME = '2.5.4.3';
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_ED25519 = '1.3.101.112';
const DAY_MS = 86_400_000;
/** Certificates start this much in the past, so that peers with a slightly slow clock accept them. */
const CLOCK_SKEW_MS = 5 * 60_000;

interface Draft {
  readonly issuer: Name;
  readonly subjectCn: string;
  readonly publicKey: KeyObject;
  readonly signingKey: KeyObject;
  readonly serial: Uint8Array;
  readonly validFrom: Date;
  readonly validDays: number;
  readonly extensions: Extension[];
  /** DER SPKI of `publicKey`, when the caller already exported it. */
  readonly spki?: Buffer;
}

/**
 * A self-signed CA certificate (basicConstraints CA, pathLen 0; keyCertSign, cRLSign) for a P-256 key.
 * Returns PEM.
 */
export function createSelfSignedCa(subjectCn: string, key: KeyObject, validDays: number): string {
  assertSigningKey(key, ['p256']);
  return selfSigned(subjectCn, key, validDays, [
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: true, pathLenConstraint: 0 })),
    extension(
      id_ce_keyUsage,
      true,
      keyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature),
    ),
  ]);
}

/** A certificate whose issuer is its subject, signed by its own key; adds the subject key id. */
function selfSigned(subjectCn: string, key: KeyObject, validDays: number, extensions: Extension[]): string {
  const publicKey = createPublicKey(key);
  return finish({
    issuer: commonName(subjectCn),
    subjectCn,
    publicKey,
    signingKey: key,
    serial: randomSerial(),
    validFrom: new Date(Date.now() - CLOCK_SKEW_MS),
    validDays,
    extensions: [
      ...extensions,
      extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyId(publicKey))),
    ],
  });
}

/** What {@link issueCertificate} needs. */
export interface IssueOptions {
  readonly issuerPem: string;
  /** The issuer's private key; must match the public key of `issuerPem`. */
  readonly issuerKey: KeyObject;
  readonly subjectCn: string;
  readonly publicKey: KeyObject;
  readonly dnsNames?: readonly string[];
  readonly uris?: readonly string[];
  /** IP address SANs (additive to the spec'd API: a CAS reached at 127.0.0.1 needs one). */
  readonly ipAddresses?: readonly string[];
  readonly validFrom: Date;
  readonly validDays: number;
  /** Positive serial number, at most 20 bytes. */
  readonly serial: Buffer;
  readonly isCa?: false;
  /** `server-client`: extended key usage serverAuth + clientAuth; `client`: clientAuth only. */
  readonly usage: 'server-client' | 'client';
}

/** A CA ready to issue: its certificate parsed and its key checked once, not per certificate. */
export interface Issuer {
  issue(o: Omit<IssueOptions, 'issuerPem' | 'issuerKey'>): string;
}

/**
 * Prepares `issuerPem` + `issuerKey` for issuing many certificates: parses the issuer, checks that
 * the key matches it and derives the authority key identifier once (they dominate the cost of
 * issuing otherwise).
 */
export function createIssuer(issuerPem: string, issuerKey: KeyObject): Issuer {
  assertSigningKey(issuerKey, ['p256', 'ed25519']);
  const issuerCert = new X509Certificate(issuerPem);
  const issuerSpki = issuerCert.publicKey.export({ type: 'spki', format: 'der' });
  if (!createPublicKey(issuerKey).export({ type: 'spki', format: 'der' }).equals(issuerSpki)) {
    throw new TypeError('issuerKey does not match the public key of issuerPem');
  }
  const issuer = AsnConvert.parse(issuerCert.raw, Certificate).tbsCertificate.subject;
  const authorityKeyId = keyId(issuerCert.publicKey);
  return {
    issue: (o) => {
      const spki = o.publicKey.export({ type: 'spki', format: 'der' });
      const names = [
        ...(o.dnsNames ?? []).map((dNSName) => new GeneralName({ dNSName })),
        ...(o.ipAddresses ?? []).map((ip) => new GeneralName({ iPAddress: assertIp(ip) })),
        ...(o.uris ?? []).map((uniformResourceIdentifier) => new GeneralName({ uniformResourceIdentifier })),
      ];
      const eku = o.usage === 'server-client' ? [id_kp_serverAuth, id_kp_clientAuth] : [id_kp_clientAuth];
      const extensions = [
        extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
        extension(id_ce_keyUsage, true, keyUsage(KeyUsageFlags.digitalSignature)),
        extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage(eku)),
        extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyId(spki))),
        extension(
          id_ce_authorityKeyIdentifier,
          false,
          new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(authorityKeyId) }),
        ),
      ];
      if (names.length > 0)
        extensions.push(extension(id_ce_subjectAltName, false, new SubjectAlternativeName(names)));
      return finish({ ...o, issuer, signingKey: issuerKey, extensions, spki });
    },
  };
}

/** An end-entity certificate signed by the issuer. Returns PEM. Issuing many: {@link createIssuer}. */
export function issueCertificate(o: IssueOptions): string {
  return createIssuer(o.issuerPem, o.issuerKey).issue(o);
}

/**
 * A self-signed user certificate (CN = `name`, extended key usage clientAuth) for a P-256 or
 * Ed25519 key: what identifies a user in a policy and in TLS client authentication.
 */
export function createSelfSignedUserCertificate(name: string, key: KeyObject, validDays: number): string {
  assertSigningKey(key, ['p256', 'ed25519']);
  return selfSigned(name, key, validDays, [
    extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
    extension(id_ce_keyUsage, true, keyUsage(KeyUsageFlags.digitalSignature)),
    extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_clientAuth])),
  ]);
}

function finish(d: Draft): string {
  if (!Number.isInteger(d.validDays) || d.validDays < 1 || d.validDays > 36_500) {
    throw new TypeError('validDays must be an integer 1..36500');
  }
  if (typeof d.subjectCn !== 'string' || d.subjectCn.length < 1 || d.subjectCn.length > 64) {
    throw new TypeError('the subject common name must be 1..64 characters');
  }
  const algorithm = signatureAlgorithm(d.signingKey);
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: serialNumber(d.serial),
    signature: algorithm,
    issuer: d.issuer,
    validity: new Validity({
      notBefore: d.validFrom,
      notAfter: new Date(d.validFrom.getTime() + d.validDays * DAY_MS),
    }),
    subject: commonName(d.subjectCn),
    subjectPublicKeyInfo: AsnConvert.parse(
      d.spki ?? d.publicKey.export({ type: 'spki', format: 'der' }),
      SubjectPublicKeyInfo,
    ),
    extensions: new Extensions(d.extensions),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const digest = d.signingKey.asymmetricKeyType === 'ed25519' ? null : 'sha256';
  const signatureValue = sign(digest, tbsDer, d.signingKey);
  const der = AsnConvert.serialize(
    new Certificate({
      tbsCertificate: tbs,
      signatureAlgorithm: algorithm,
      signatureValue: toArrayBuffer(signatureValue),
    }),
  );
  return toPem(Buffer.from(der));
}

function assertSigningKey(key: KeyObject, allowed: ReadonlyArray<'p256' | 'ed25519'>): void {
  const kind =
    key?.type === 'private' &&
    key.asymmetricKeyType === 'ec' &&
    key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
      ? 'p256'
      : key?.type === 'private' && key.asymmetricKeyType === 'ed25519'
        ? 'ed25519'
        : undefined;
  if (kind === undefined || !allowed.includes(kind)) {
    throw new TypeError(`the signing key must be a private ${allowed.join(' or ')} KeyObject`);
  }
}

function signatureAlgorithm(key: KeyObject): AlgorithmIdentifier {
  // Parameters are absent (not NULL) for both, per RFC 5758 and RFC 8410.
  return new AlgorithmIdentifier({
    algorithm: key.asymmetricKeyType === 'ed25519' ? OID_ED25519 : OID_ECDSA_SHA256,
  });
}

function commonName(cn: string): Name {
  const atv = new AttributeTypeAndValue({
    type: OID_COMMON_NAME,
    value: new AttributeValue({ utf8String: cn }),
  });
  return new Name([new RelativeDistinguishedName([atv])]);
}

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function keyUsage(flags: number): KeyUsage {
  const usage = new KeyUsage();
  usage.fromNumber(flags);
  return usage;
}

/** Key identifier: the first 20 bytes of SHA-256 over the SPKI DER (RFC 7093, method 1 style). */
function keyId(publicKey: KeyObject | Buffer): ArrayBuffer {
  const spki = Buffer.isBuffer(publicKey) ? publicKey : publicKey.export({ type: 'spki', format: 'der' });
  return toArrayBuffer(createHash('sha256').update(spki).digest().subarray(0, 20));
}

/** A random 128-bit positive serial. */
export function randomSerial(): Buffer {
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01;
  return serial;
}

/** DER INTEGER content: positive, minimal, at most 20 bytes. */
function serialNumber(serial: Uint8Array): ArrayBuffer {
  let start = 0;
  while (start < serial.length - 1 && serial[start] === 0) start++;
  const bytes = Buffer.from(serial.subarray(start));
  if (bytes.length === 0 || (bytes.length === 1 && bytes[0] === 0))
    throw new TypeError('the serial number must not be zero');
  const positive = (bytes[0]! & 0x80) !== 0 ? Buffer.concat([Buffer.alloc(1), bytes]) : bytes;
  if (positive.length > 21 || (positive.length === 21 && positive[0] !== 0) || bytes.length > 20) {
    throw new TypeError('the serial number must be at most 20 bytes');
  }
  return toArrayBuffer(positive);
}

function assertIp(ip: string): string {
  if (isIP(ip) === 0) throw new TypeError(`"${ip}" is not an IP address`);
  return ip;
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
}

function toPem(der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
