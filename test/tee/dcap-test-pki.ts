// Test-only helpers: a minimal DER writer to build X.509 certificates and CRLs signed with keys made
// by node:crypto, so that chains, revocation and a whole private "Intel-like" PKI can be tested.
import { type KeyObject, sign } from 'node:crypto';
import { freshKeyPair } from '../../src/crypto/index.ts';

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One DER element. */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

export const seq = (...c: Buffer[]) => tlv(0x30, ...c);
export const set = (...c: Buffer[]) => tlv(0x31, ...c);
export const octets = (b: Buffer) => tlv(0x04, b);
export const bitString = (b: Buffer) => tlv(0x03, Buffer.from([0]), b);
export const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
export const explicit = (n: number, inner: Buffer) => tlv(0xa0 + n, inner);

/** A non-negative INTEGER. */
export function int(value: bigint | number): Buffer {
  let hex = BigInt(value).toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  let b = Buffer.from(hex, 'hex');
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

export function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const out = [a! * 40 + b!];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

export function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${iso}Z`));
}

/** A Name with a CN and an O. */
export function name(cn: string, o = 'Intel Corporation'): Buffer {
  return seq(set(seq(oid('2.5.4.3'), utf8(cn))), set(seq(oid('2.5.4.10'), utf8(o))));
}

const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

export function newKey(): { publicKey: KeyObject; privateKey: KeyObject } {
  return freshKeyPair('p256');
}

/** An Extension { extnID, critical?, extnValue }. */
export function extension(id: string, value: Buffer, critical = false): Buffer {
  return seq(oid(id), ...(critical ? [tlv(0x01, Buffer.from([0xff]))] : []), octets(value));
}

export interface CertSpec {
  readonly subject: Buffer;
  readonly issuer: Buffer;
  readonly serial: bigint;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly publicKey: KeyObject;
  readonly signingKey: KeyObject;
  readonly ca?: boolean;
  readonly extensions?: readonly Buffer[];
}

/** A v3 certificate signed with ECDSA-SHA256. */
export function makeCert(spec: CertSpec): Buffer {
  const exts = [
    ...(spec.ca ? [extension('2.5.29.19', seq(tlv(0x01, Buffer.from([0xff]))), true)] : []),
    ...(spec.extensions ?? []),
  ];
  const tbs = seq(
    explicit(0, int(2)),
    int(spec.serial),
    ECDSA_SHA256,
    spec.issuer,
    seq(time(spec.notBefore), time(spec.notAfter)),
    spec.subject,
    spec.publicKey.export({ format: 'der', type: 'spki' }),
    ...(exts.length > 0 ? [explicit(3, seq(...exts))] : []),
  );
  return seq(tbs, ECDSA_SHA256, bitString(sign('sha256', tbs, spec.signingKey)));
}

export interface CrlSpec {
  readonly issuer: Buffer;
  readonly signingKey: KeyObject;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly revoked?: readonly bigint[];
}

/** A v2 CRL signed with ECDSA-SHA256. */
export function makeCrl(spec: CrlSpec): Buffer {
  const revoked = spec.revoked ?? [];
  const tbs = seq(
    int(1),
    ECDSA_SHA256,
    spec.issuer,
    time(spec.thisUpdate),
    time(spec.nextUpdate),
    ...(revoked.length > 0 ? [seq(...revoked.map((s) => seq(int(s), time(spec.thisUpdate))))] : []),
  );
  return seq(tbs, ECDSA_SHA256, bitString(sign('sha256', tbs, spec.signingKey)));
}

/** PEM of DER certificates, 64 characters a line. */
export function toPem(...ders: Buffer[]): string {
  return ders
    .map(
      (d) =>
        `-----BEGIN CERTIFICATE-----\n${d.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n`,
    )
    .join('');
}

/** A CA hierarchy root → intermediate → leaf, valid 2020..2040 unless told otherwise. */
export function makeHierarchy(
  options: { rootCn?: string; caCn?: string; leafCn?: string; leafExtensions?: Buffer[] } = {},
) {
  const notBefore = new Date('2020-01-01T00:00:00Z');
  const notAfter = new Date('2040-01-01T00:00:00Z');
  const rootKey = newKey();
  const caKey = newKey();
  const leafKey = newKey();
  const rootName = name(options.rootCn ?? 'Test Root CA');
  const caName = name(options.caCn ?? 'Test Intermediate CA');
  const leafName = name(options.leafCn ?? 'Test Leaf');
  const root = makeCert({
    subject: rootName,
    issuer: rootName,
    serial: 1n,
    notBefore,
    notAfter,
    publicKey: rootKey.publicKey,
    signingKey: rootKey.privateKey,
    ca: true,
  });
  const ca = makeCert({
    subject: caName,
    issuer: rootName,
    serial: 0x1234n,
    notBefore,
    notAfter,
    publicKey: caKey.publicKey,
    signingKey: rootKey.privateKey,
    ca: true,
  });
  const leaf = makeCert({
    subject: leafName,
    issuer: caName,
    serial: 0xfb49c65c519657993n,
    notBefore,
    notAfter,
    publicKey: leafKey.publicKey,
    signingKey: caKey.privateKey,
    ...(options.leafExtensions ? { extensions: options.leafExtensions } : {}),
  });
  return { root, ca, leaf, rootKey, caKey, leafKey, rootName, caName, leafName, notBefore, notAfter };
}
