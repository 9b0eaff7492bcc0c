import { X509Certificate } from 'node:crypto';
import { DER, decodeInteger, readDer } from '../der.ts';
import { TeeError } from '../errors.ts';
import { type CertInfo, readCertInfo } from './cert-info.ts';
import { isSnpProduct, type SnpProduct, type SnpTcb } from './tcb.ts';

const AMD_ARC = '1.3.6.1.4.1.3704.1';

/** AMD's X.509 extensions of VCEK and VLEK certificates (VCEK/KDS interface specification). */
export const AMD_VEK_OIDS = {
  structVersion: `${AMD_ARC}.1`,
  productName: `${AMD_ARC}.2`,
  blSpl: `${AMD_ARC}.3.1`,
  teeSpl: `${AMD_ARC}.3.2`,
  snpSpl: `${AMD_ARC}.3.3`,
  ucodeSpl: `${AMD_ARC}.3.8`,
  fmcSpl: `${AMD_ARC}.3.9`,
  hwId: `${AMD_ARC}.4`,
  cspId: `${AMD_ARC}.5`,
} as const;

/** A VCEK or VLEK certificate with its AMD extensions decoded. */
export interface SnpVek {
  readonly kind: 'vcek' | 'vlek';
  readonly der: Buffer;
  readonly cert: X509Certificate;
  readonly info: CertInfo;
  /** The productName extension as written, e.g. `Milan-B0`, `Turin`. */
  readonly productName: string;
  readonly product: SnpProduct;
  readonly structVersion: number | null;
  /** The SPLs the key was derived for (`raw` is 0: certificates carry components, not a u64). */
  readonly tcb: SnpTcb;
  /** hwID (VCEK only): 64 bytes on Milan/Genoa, 8 on Turin. */
  readonly hwId: Buffer | null;
  /** CSP id (VLEK only). */
  readonly cspId: string | null;
}

function extensionError(message: string, value?: string): TeeError {
  return new TeeError('ERR_CERT_EXTENSION', message, {
    check: 'vcek-extensions',
    ...(value !== undefined ? { value } : {}),
  });
}

function readInteger(info: CertInfo, oid: string, name: string, required: boolean): number | null {
  const value = info.extensions.get(oid);
  if (!value) {
    if (required) throw extensionError(`the VCEK has no ${name} extension (${oid})`);
    return null;
  }
  const node = readDer(value, 0, `VCEK ${name}`);
  if (node.tag !== DER.INTEGER || node.raw.length !== value.length || node.content.length > 2) {
    throw extensionError(`the VCEK ${name} extension is not a small INTEGER`, value.toString('hex'));
  }
  const n = Number(decodeInteger(node.content));
  if (n > 255) throw extensionError(`the VCEK ${name} extension is out of range`, String(n));
  return n;
}

function readString(info: CertInfo, oid: string): string | null {
  const value = info.extensions.get(oid);
  if (!value) return null;
  const node = readDer(value, 0, 'VCEK string extension');
  if (node.tag !== DER.IA5_STRING && node.tag !== DER.UTF8_STRING) {
    throw extensionError(`the VCEK extension ${oid} is not a string`, value.toString('hex'));
  }
  return node.content.toString('latin1');
}

function readProduct(info: CertInfo): { productName: string; product: SnpProduct } {
  const productName = readString(info, AMD_VEK_OIDS.productName);
  if (productName === null) throw extensionError('the VCEK has no productName extension');
  const product = productName.split('-')[0] ?? '';
  if (!isSnpProduct(product)) {
    throw new TeeError('ERR_CERT_EXTENSION', `VCEK product ${JSON.stringify(productName)} is not supported`, {
      check: 'vcek-product',
      value: productName,
      expected: 'Milan-*, Genoa-*, Turin-*',
    });
  }
  return { productName, product };
}

function readKind(info: CertInfo): 'vcek' | 'vlek' {
  if (info.subjectCn === 'SEV-VCEK') return 'vcek';
  if (info.subjectCn === 'SEV-VLEK') return 'vlek';
  throw new TeeError(
    'ERR_COLLATERAL_MISMATCH',
    `the certificate given as VCEK has subject CN ${JSON.stringify(info.subjectCn)}, not SEV-VCEK or SEV-VLEK`,
    { check: 'vcek-subject', value: info.subjectCn, expected: 'SEV-VCEK|SEV-VLEK' },
  );
}

function readTcb(info: CertInfo, product: SnpProduct): SnpTcb {
  const spl = (oid: string, name: string): number => readInteger(info, oid, name, true)!;
  return {
    raw: 0n,
    fmc: product === 'Turin' ? spl(AMD_VEK_OIDS.fmcSpl, 'fmcSPL') : null,
    bootloader: spl(AMD_VEK_OIDS.blSpl, 'blSPL'),
    tee: spl(AMD_VEK_OIDS.teeSpl, 'teeSPL'),
    snp: spl(AMD_VEK_OIDS.snpSpl, 'snpSPL'),
    microcode: spl(AMD_VEK_OIDS.ucodeSpl, 'ucodeSPL'),
  };
}

function parseX509(der: Buffer): X509Certificate {
  try {
    return new X509Certificate(der);
  } catch (err) {
    throw new TeeError(
      'ERR_COLLATERAL_MALFORMED',
      'the VCEK is not a DER X.509 certificate',
      { check: 'vcek-parse' },
      {
        cause: err,
      },
    );
  }
}

/**
 * Parses a VCEK or VLEK certificate (DER) and its AMD extensions. Throws `ERR_COLLATERAL_MALFORMED`
 * for a bad certificate, `ERR_COLLATERAL_MISMATCH` when it is not a VCEK/VLEK, `ERR_CERT_EXTENSION`
 * for a missing or malformed extension (the hwID must be 64 bytes, or 8 on Turin).
 */
export function parseSnpVek(der: Uint8Array): SnpVek {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const info = readCertInfo(buf, 'VCEK');
  const cert = parseX509(buf);
  const kind = readKind(info);
  const { productName, product } = readProduct(info);
  const hwId = info.extensions.get(AMD_VEK_OIDS.hwId) ?? null;
  const hwIdLength = product === 'Turin' ? 8 : 64;
  if (kind === 'vcek' && (hwId === null || hwId.length !== hwIdLength)) {
    throw extensionError(
      `the VCEK hwID extension must hold ${hwIdLength} bytes for ${product}`,
      hwId === null ? 'absent' : `${hwId.length} bytes`,
    );
  }
  return {
    kind,
    der: buf,
    cert,
    info,
    productName,
    product,
    structVersion: readInteger(info, AMD_VEK_OIDS.structVersion, 'structVersion', false),
    tcb: readTcb(info, product),
    hwId: kind === 'vcek' ? hwId : null,
    cspId: readString(info, AMD_VEK_OIDS.cspId),
  };
}
