import { X509Certificate } from 'node:crypto';
import { TeeError } from '../errors.ts';
import type { SnpCollateral } from '../types.ts';
import { readCertInfo } from './cert-info.ts';

/** The role of an AMD certificate in an SEV-SNP chain. */
export type SnpCertRole = keyof SnpCollateral;

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

function malformed(name: string, message: string, value?: string): TeeError {
  return new TeeError('ERR_COLLATERAL_MALFORMED', `${name}: ${message}`, {
    check: 'snp-collateral',
    ...(value !== undefined ? { value } : {}),
  });
}

/**
 * The role of an AMD SEV-SNP certificate from its subject common name: `SEV-VCEK`/`SEV-VLEK` is a
 * leaf (`vcek`), `SEV-Milan`, `SEV-VLEK-Genoa`… an ASK or ASVK (`ask`), `ARK-Turin`… a root (`ark`);
 * null for anything else.
 */
export function snpCertRole(subjectCn: string): SnpCertRole | null {
  if (subjectCn === 'SEV-VCEK' || subjectCn === 'SEV-VLEK') return 'vcek';
  if (/^SEV-(VLEK-)?(Milan|Genoa|Turin)$/.test(subjectCn)) return 'ask';
  if (/^ARK-(Milan|Genoa|Turin)$/.test(subjectCn)) return 'ark';
  return null;
}

function pemCertificates(text: string, name: string): Buffer[] {
  const out: Buffer[] = [];
  for (const m of text.matchAll(PEM_BLOCK)) {
    if (m[1] !== 'CERTIFICATE') {
      throw malformed(name, `PEM block "${m[1]}" is not supported here; only CERTIFICATE blocks are`, m[1]);
    }
    const body = (m[2] ?? '').replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) throw malformed(name, 'a PEM certificate is not valid base64');
    out.push(Buffer.from(body, 'base64'));
  }
  if (out.length === 0) throw malformed(name, 'no PEM certificate found');
  return out;
}

function isPem(bytes: Buffer): boolean {
  return /^\s*-----BEGIN /.test(bytes.subarray(0, 64).toString('latin1'));
}

function roleOf(der: Buffer, name: string): SnpCertRole {
  const info = readCertInfo(der, name);
  try {
    new X509Certificate(der);
  } catch (err) {
    throw new TeeError(
      'ERR_COLLATERAL_MALFORMED',
      `${name}: not an X.509 certificate`,
      { check: 'snp-collateral' },
      {
        cause: err,
      },
    );
  }
  const role = snpCertRole(info.subjectCn);
  if (role === null) {
    throw malformed(
      name,
      `certificate ${JSON.stringify(info.subjectCn)} is not an AMD SEV-SNP VCEK/VLEK, ASK or ARK`,
      info.subjectCn,
    );
  }
  return role;
}

/**
 * Classifies one collateral file for SEV-SNP: DER or PEM certificates (a PEM may hold several, such
 * as AMD's `cert_chain` with ASK then ARK), each placed by its subject CN as `vcek` (VCEK or VLEK),
 * `ask` (ASK or ASVK) or `ark`. Throws `ERR_COLLATERAL_MALFORMED` for anything else or for two
 * certificates with the same role.
 *
 * @example
 * const snp = { ...classifySnpCollateralFile(vcekDer), ...classifySnpCollateralFile(chainPem) };
 */
export function classifySnpCollateralFile(
  bytes: Uint8Array,
  name = 'SEV-SNP collateral file',
): Partial<SnpCollateral> {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ders = isPem(buf) ? pemCertificates(buf.toString('latin1'), name) : [buf];
  const out: { -readonly [K in SnpCertRole]?: Uint8Array } = {};
  for (const der of ders) {
    const role = roleOf(der, name);
    if (out[role]) throw malformed(name, `holds two certificates for the ${role.toUpperCase()} role`, role);
    out[role] = der;
  }
  return out;
}
