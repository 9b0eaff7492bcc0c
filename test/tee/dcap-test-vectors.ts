// Test-only helpers for the DCAP tests: the shared vectors, collateral loading, quote
// re-serialization, and a private "Intel-like" PKI that re-signs a real quote and its collateral.
import assert from 'node:assert/strict';
import { createHash, type KeyObject, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { classifyCollateralFile, mergeDcapCollateral } from '../../src/tee/dcap/collateral-file.ts';
import { SGX_EXTENSION_OID } from '../../src/tee/dcap/pck-extensions.ts';
import { parseQuote } from '../../src/tee/dcap/quote.ts';
import { isTeeError, type TeeErrorCode } from '../../src/tee/errors.ts';
import { parsePemChain, sha256Hex } from '../../src/tee/pki.ts';
import type { DcapCollateral, VerificationResult } from '../../src/tee/types.ts';
import { extension, makeCert, makeCrl, name, newKey, toPem } from './dcap-test-pki.ts';

export const VECTORS = new URL('../../../shared/vectors/', import.meta.url);

export function vector(path: string): Buffer {
  return readFileSync(new URL(path, VECTORS));
}

/** Classifies and merges collateral files of the vectors folder. */
export function collateral(...paths: string[]): DcapCollateral {
  return mergeDcapCollateral(paths.map((p) => classifyCollateralFile(vector(p), p)));
}

export const SGX_AT = new Date('2025-06-20T00:00:00Z');

/** The dcap-qvl SGX quote with its collateral. */
export const sgxVector = () => ({
  quote: vector('dcap-qvl/sgx_quote'),
  dcap: collateral('dcap-qvl/sgx_quote_collateral.json'),
  at: SGX_AT,
});
/** The dcap-qvl TDX v4 quote with its collateral. */
export const tdxVector = () => ({
  quote: vector('dcap-qvl/tdx_quote'),
  dcap: collateral('dcap-qvl/tdx_quote_collateral.json'),
  at: SGX_AT,
});

/** Asserts that a result was refused with `code` (at `check` when given). */
export function assertRefused(result: VerificationResult, code: TeeErrorCode, check?: string): void {
  assert.ok(result.refusal, 'expected a refusal');
  assert.equal(result.refusal.code, code, result.refusal.message);
  if (check !== undefined) assert.equal(result.refusal.check, check);
  assert.equal(result.accepted, false);
}

/** Asserts a TeeError with one of `codes`. */
export function assertTeeError(err: unknown, codes: readonly TeeErrorCode[]): void {
  assert.ok(isTeeError(err), `expected a TeeError, got ${err instanceof Error ? err.stack : String(err)}`);
  assert.ok(codes.includes(err.code), `unexpected code ${err.code}: ${err.message}`);
}

const u16 = (n: number) => Buffer.from([n & 0xff, n >> 8]);
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

/** The parts of a quote that can be replaced before re-serializing it. */
export interface QuoteParts {
  version: number;
  signedData: Buffer;
  signature: Buffer;
  attestationKey: Buffer;
  qeReport: Buffer;
  qeSignature: Buffer;
  authData: Buffer;
  certType: number;
  certData: Buffer;
}

export function quoteParts(bytes: Buffer): QuoteParts {
  const q = parseQuote(bytes);
  assert.ok(q.qe);
  return {
    version: q.version,
    signedData: Buffer.from(q.signedData),
    signature: Buffer.from(q.signature),
    attestationKey: Buffer.from(q.attestationKey),
    qeReport: Buffer.from(q.qe.report),
    qeSignature: Buffer.from(q.qe.signature),
    authData: Buffer.from(q.qe.authData),
    certType: q.certificationType,
    certData: Buffer.from(q.certificationData),
  };
}

/** Serializes quote parts (v3 layout, or v4/v5 with certification data type 6 nesting the chain). */
export function serializeQuote(p: QuoteParts): Buffer {
  const qe = Buffer.concat([
    p.qeReport,
    p.qeSignature,
    u16(p.authData.length),
    p.authData,
    u16(p.certType),
    u32(p.certData.length),
    p.certData,
  ]);
  const body = p.version === 3 ? qe : Buffer.concat([u16(6), u32(qe.length), qe]);
  const sig = Buffer.concat([p.signature, p.attestationKey, body]);
  return Buffer.concat([p.signedData, u32(sig.length), sig]);
}

/** The quote with its PCK chain replaced by `pem`. */
export function withChain(bytes: Buffer, pem: string): Buffer {
  return serializeQuote({ ...quoteParts(bytes), certData: Buffer.from(pem, 'latin1') });
}

/** The DER certificates of the PCK chain of a quote. */
export function pckChainDer(bytes: Buffer): Buffer[] {
  return parsePemChain(quoteParts(bytes).certData.toString('latin1'), 'chain', 'evidence').map((c) =>
    Buffer.from(c.der),
  );
}

const p1363 = (data: Buffer, key: KeyObject) => sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });

function rawPoint(key: KeyObject): Buffer {
  const jwk = key.export({ format: 'jwk' });
  return Buffer.concat([Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
}

/** Options of {@link fakeIntel}: what to revoke, and edits of the signed documents. */
export interface FakeIntelOptions {
  revokeLeaf?: boolean;
  revokeCa?: boolean;
  revokeTcbSigner?: boolean;
  editTcbInfo?: (text: string) => string;
  editQeIdentity?: (text: string) => string;
  /** Re-encode an SGX v3 quote as a v4 quote (SGX body, certification data type 6). */
  asVersion4?: boolean;
}

/**
 * Re-signs a real quote and its collateral with a private PKI that mimics Intel's (same names, a
 * fresh root): a new attestation key, QE report binding and signatures, a PCK certificate keeping the
 * real SGX extension, TCB Info / QE Identity signed by a fake "Intel SGX TCB Signing", and CRLs.
 */
export function fakeIntel(real: { quote: Buffer; dcap: DcapCollateral }, options: FakeIntelOptions = {}) {
  const parts = quoteParts(real.quote);
  if (options.asVersion4) {
    parts.version = 4;
    parts.signedData.writeUInt16LE(4, 0);
  }
  const [realLeaf, realCa] = parsePemChain(parts.certData.toString('latin1'), 'chain', 'evidence');
  const [rootKey, caKey, leafKey, tcbKey, attKey] = [newKey(), newKey(), newKey(), newKey(), newKey()];
  const notBefore = new Date('2020-01-01T00:00:00Z');
  const notAfter = new Date('2040-01-01T00:00:00Z');
  const rootName = name('Intel SGX Root CA');
  const caName = name(realCa!.subjectCn!);
  const cert = (
    subject: Buffer,
    issuer: Buffer,
    serial: bigint,
    key: { publicKey: KeyObject },
    signer: KeyObject,
    extra = {},
  ) =>
    makeCert({
      subject,
      issuer,
      serial,
      notBefore,
      notAfter,
      publicKey: key.publicKey,
      signingKey: signer,
      ...extra,
    });
  const root = cert(rootName, rootName, 1n, rootKey, rootKey.privateKey, { ca: true });
  const ca = cert(caName, rootName, 2n, caKey, rootKey.privateKey, { ca: true });
  const tcbSigner = cert(name('Intel SGX TCB Signing'), rootName, 3n, tcbKey, rootKey.privateKey);
  const sgxExt = extension(SGX_EXTENSION_OID, realLeaf!.extensions.get(SGX_EXTENSION_OID)!);
  const leaf = cert(name('Intel SGX PCK Certificate'), caName, 0x4242n, leafKey, caKey.privateKey, {
    extensions: [sgxExt],
  });

  const attestationKey = rawPoint(attKey.publicKey);
  const qeReport = Buffer.from(parts.qeReport);
  createHash('sha256').update(attestationKey).update(parts.authData).digest().copy(qeReport, 320);
  qeReport.fill(0, 352, 384);
  const quote = serializeQuote({
    ...parts,
    attestationKey,
    qeReport,
    qeSignature: p1363(qeReport, leafKey.privateKey),
    signature: p1363(parts.signedData, attKey.privateKey),
    certData: Buffer.from(toPem(leaf, ca, root), 'latin1'),
  });
  const tcbInfo = (options.editTcbInfo ?? ((t) => t))(real.dcap.tcbInfo!);
  const qeIdentity = (options.editQeIdentity ?? ((t) => t))(real.dcap.qeIdentity!);
  const crlWindow = {
    thisUpdate: new Date('2025-01-01T00:00:00Z'),
    nextUpdate: new Date('2026-01-01T00:00:00Z'),
  };
  const dcap: DcapCollateral = {
    tcbInfo,
    tcbInfoSignature: p1363(Buffer.from(tcbInfo), tcbKey.privateKey),
    tcbInfoIssuerChain: toPem(tcbSigner, root),
    qeIdentity,
    qeIdentitySignature: p1363(Buffer.from(qeIdentity), tcbKey.privateKey),
    qeIdentityIssuerChain: toPem(tcbSigner, root),
    pckCrl: makeCrl({
      issuer: caName,
      signingKey: caKey.privateKey,
      ...crlWindow,
      revoked: options.revokeLeaf ? [0x4242n] : [],
    }),
    pckCrlIssuerChain: toPem(ca, root),
    rootCaCrl: makeCrl({
      issuer: rootName,
      signingKey: rootKey.privateKey,
      ...crlWindow,
      revoked: [...(options.revokeCa ? [2n] : []), ...(options.revokeTcbSigner ? [3n] : [])],
    }),
  };
  return { quote, dcap, rootSha256: sha256Hex(root), root, rootKey, rootName };
}
