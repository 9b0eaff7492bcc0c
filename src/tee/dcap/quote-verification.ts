import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { CheckRunner, type TcbVerdict } from '../appraisal.ts';
import { TeeError } from '../errors.ts';
import {
  assertCertValidAt,
  assertIssuedBy,
  assertNotRevoked,
  type CertInfo,
  type ParsedCrl,
} from '../pki.ts';
import type { DcapCollateral } from '../types.ts';
import type { CollateralVerifier } from './collateral-verifier.ts';
import { type PckExtensions, parsePckExtensions } from './pck-extensions.ts';
import {
  ATT_KEY_ECDSA_P256,
  CERT_DATA_PCK_CHAIN,
  type DcapQuote,
  INTEL_QE_VENDOR_ID,
  type QeReportData,
} from './quote.ts';
import { checkTcbCollateral } from './tcb-checks.ts';

const PCK_LEAF_CN = 'Intel SGX PCK Certificate';
const PCK_CA_CNS = ['Intel SGX PCK Platform CA', 'Intel SGX PCK Processor CA'];
const SPKI_P256_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d03010703420004', 'hex');

const CERT_DATA_NAMES: Readonly<Record<number, string>> = {
  1: 'PPID in clear text',
  2: 'PPID encrypted with RSA-2048-OAEP',
  3: 'PPID encrypted with RSA-3072-OAEP',
  4: 'PCK leaf certificate only',
  6: 'QE report certification data',
  7: 'platform manifest',
};

/** What one verification established, for the result. */
export interface QuoteVerificationOutcome {
  readonly runner: CheckRunner;
  readonly verdict: TcbVerdict;
  readonly fmspc: string | null;
}

function fail(
  code: TeeError['code'],
  check: string,
  message: string,
  value?: string,
  expected?: string,
): never {
  throw new TeeError(code, message, {
    check,
    ...(value !== undefined ? { value } : {}),
    ...(expected !== undefined ? { expected } : {}),
  });
}

/** One verification of one quote: the checks in order, with the state they share. */
class QuoteVerification {
  readonly runner = new CheckRunner();
  readonly #q: DcapQuote;
  readonly #at: Date;
  readonly #dcap: DcapCollateral | undefined;
  readonly #cv: CollateralVerifier;
  #chain: CertInfo[] = [];
  #ext: PckExtensions | null = null;
  #rootCrl: ParsedCrl | null = null;

  constructor(quote: DcapQuote, at: Date, dcap: DcapCollateral | undefined, cv: CollateralVerifier) {
    this.#q = quote;
    this.#at = at;
    this.#dcap = dcap;
    this.#cv = cv;
  }

  run(): QuoteVerificationOutcome {
    const r = this.runner;
    r.run('quote-header', () => this.#header());
    const qe = r.run('certification-data', () => this.#certificationData());
    r.run('pck-chain', () => this.#pckChain());
    r.run('pck-extension', () => {
      this.#ext = parsePckExtensions(this.#chain[0]!);
    });
    this.#revocation();
    r.run('qe-report-signature', () => this.#qeReportSignature(qe!));
    r.run('qe-binding', () => this.#qeBinding(qe!));
    r.run('quote-signature', () => this.#quoteSignature());
    const verdict: TcbVerdict = r.ok
      ? checkTcbCollateral({
          runner: r,
          quote: this.#q,
          qe: qe!.body,
          pck: this.#ext!,
          at: this.#at,
          dcap: this.#dcap,
          cv: this.#cv,
          rootCrl: this.#rootCrl,
        })
      : { tcbStatus: 'Unknown', advisories: [] };
    return { runner: r, verdict, fmspc: this.#ext?.fmspc ?? null };
  }

  #header(): void {
    const q = this.#q;
    if (q.attestationKeyType !== ATT_KEY_ECDSA_P256) {
      fail(
        'ERR_EVIDENCE_FORMAT',
        'quote-header',
        `attestation key type ${q.attestationKeyType} is not supported; only 2 (ECDSA-256 with P-256) is`,
        String(q.attestationKeyType),
        '2',
      );
    }
    if (q.qeVendorId !== INTEL_QE_VENDOR_ID) {
      fail(
        'ERR_EVIDENCE_FORMAT',
        'quote-header',
        `QE vendor id ${q.qeVendorId} is not Intel's; only quotes from Intel's QE are supported`,
        q.qeVendorId,
        INTEL_QE_VENDOR_ID,
      );
    }
  }

  #certificationData(): QeReportData {
    const q = this.#q;
    const type = q.certificationType;
    const name = CERT_DATA_NAMES[type] ?? 'unknown';
    if (!q.qe || type !== CERT_DATA_PCK_CHAIN) {
      fail(
        'ERR_EVIDENCE_FORMAT',
        'certification-data',
        `certification data type ${type} (${name}) carries no PCK certificate chain, so the quote cannot be verified offline ` +
          '(Intel SYNTHETIC sample quotes look like this); use a quote whose certification data is type 5, the PCK certificate chain',
        String(type),
        '5 (PCK certificate chain)',
      );
    }
    const text = q.certificationData.toString('latin1');
    if (!text.includes('-----BEGIN CERTIFICATE-----')) {
      fail(
        'ERR_EVIDENCE_MALFORMED',
        'certification-data',
        `certification data type 5 must hold a PEM PCK certificate chain; it holds ${q.certificationData.length} bytes of other data ` +
          '(Intel SYNTHETIC sample TDX quotes carry DER test certificates here); use a quote from real hardware',
        `${q.certificationData.length} bytes, not PEM`,
        'PEM chain',
      );
    }
    this.#chain = this.#cv.pemChain(text, 'PCK chain in the quote', 'evidence', 'certification-data');
    return q.qe;
  }

  #pckChain(): void {
    const [leaf, ca, root] = this.#chain;
    if (this.#chain.length !== 3 || !leaf || !ca || !root) {
      fail(
        'ERR_CERT_CHAIN',
        'pck-chain',
        `the PCK chain has ${this.#chain.length} certificates; expected 3 (PCK certificate, PCK CA, root)`,
        String(this.#chain.length),
        '3',
      );
    }
    this.#cv.caChain([ca, root], this.#at, 'pck-chain', 2);
    if (!PCK_CA_CNS.includes(ca.subjectCn ?? '') || leaf.subjectCn !== PCK_LEAF_CN) {
      fail(
        'ERR_CERT_CHAIN',
        'pck-chain',
        `the PCK chain is "${leaf.subjectCn}" under "${ca.subjectCn}"; expected "${PCK_LEAF_CN}" under an Intel PCK CA`,
        `${leaf.subjectCn} < ${ca.subjectCn}`,
        `${PCK_LEAF_CN} < ${PCK_CA_CNS.join('|')}`,
      );
    }
    assertIssuedBy(leaf, ca, 'pck-chain');
    assertCertValidAt(leaf, this.#at, 'pck-chain');
  }

  #revocation(): void {
    const r = this.runner;
    const dcap = this.#dcap;
    if (dcap?.rootCaCrl) {
      const der = dcap.rootCaCrl;
      r.run('root-ca-crl', () => {
        const [, ca, root] = this.#chain;
        this.#rootCrl = this.#cv.crl(der, root!, this.#at, 'root-ca-crl');
        assertNotRevoked(ca!, this.#rootCrl, 'pck-ca-revocation');
      });
    } else {
      r.skip(
        'root-ca-crl',
        'no root CA CRL supplied: revocation of the PCK CA certificate was NOT checked (supply the root CA CRL as collateral)',
      );
    }
    if (dcap?.pckCrl) {
      const der = dcap.pckCrl;
      r.run('pck-crl', () => this.#pckCrl(der, dcap.pckCrlIssuerChain));
    } else {
      r.skip(
        'pck-crl',
        'no PCK CRL supplied: revocation of the PCK certificate was NOT checked (supply the PCK CRL as collateral)',
      );
    }
  }

  #pckCrl(der: Uint8Array, issuerChain: string | undefined): void {
    const [leaf, ca] = this.#chain as [CertInfo, CertInfo];
    const parsed = this.#cv.parsedCrl(der, 'pck-crl');
    if (!parsed.issuerRaw.equals(leaf.issuerRaw)) {
      fail(
        'ERR_COLLATERAL_MISMATCH',
        'pck-crl',
        `the PCK CRL is issued by "${parsed.issuerCn}" but the PCK certificate by "${leaf.issuerCn}"; supply the CRL of the PCK certificate's CA`,
        parsed.issuerCn ?? '?',
        leaf.issuerCn ?? '?',
      );
    }
    let issuer = ca;
    if (issuerChain !== undefined) {
      const chain = this.#cv.pemChain(
        issuerChain,
        'PCK CRL issuer chain',
        'collateral',
        'pck-crl-issuer-chain',
      );
      this.#cv.caChain(chain, this.#at, 'pck-crl-issuer-chain', 2);
      issuer = chain[0]!;
      if (this.#rootCrl) assertNotRevoked(issuer, this.#rootCrl, 'pck-ca-revocation');
    }
    const crl = this.#cv.crl(der, issuer, this.#at, 'pck-crl');
    assertNotRevoked(leaf, crl, 'pck-revocation');
  }

  #qeReportSignature(qe: QeReportData): void {
    const leaf = this.#chain[0]!;
    if (!verifyP256(leaf.x509.publicKey, qe.report, qe.signature)) {
      fail(
        'ERR_QE_REPORT_SIGNATURE',
        'qe-report-signature',
        'the QE report signature does not verify with the PCK certificate key: the QE report was altered or not certified by this platform',
        qe.signature.toString('hex').slice(0, 32),
        'a signature by the PCK key',
      );
    }
  }

  #qeBinding(qe: QeReportData): void {
    const want = createHash('sha256').update(this.#q.attestationKey).update(qe.authData).digest();
    const rd = qe.body.reportData;
    if (!rd.subarray(0, 32).equals(want) || rd.subarray(32).some((b) => b !== 0)) {
      fail(
        'ERR_QE_BINDING',
        'qe-binding',
        'the QE report data is not SHA-256(attestation key || QE auth data) followed by 32 zero bytes: the attestation key is not bound to the QE',
        rd.toString('hex'),
        `${want.toString('hex')}${'0'.repeat(64)}`,
      );
    }
  }

  #quoteSignature(): void {
    const q = this.#q;
    let key: KeyObject | null = null;
    try {
      key = createPublicKey({
        key: Buffer.concat([SPKI_P256_PREFIX, q.attestationKey]),
        format: 'der',
        type: 'spki',
      });
    } catch {
      key = null;
    }
    if (!key || !verifyP256(key, q.signedData, q.signature)) {
      fail(
        'ERR_QUOTE_SIGNATURE',
        'quote-signature',
        `the quote signature over header and report body does not verify with the attestation key${key ? '' : ' (not a valid P-256 point)'}: the quote was altered`,
        q.signature.toString('hex').slice(0, 32),
        'a signature by the attestation key',
      );
    }
  }
}

function verifyP256(key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    return false;
  }
}

/** Runs every check of a DCAP quote verification, in order, and returns the outcome. */
export function verifyDcapQuote(
  quote: DcapQuote,
  at: Date,
  dcap: DcapCollateral | undefined,
  cv: CollateralVerifier,
): QuoteVerificationOutcome {
  return new QuoteVerification(quote, at, dcap, cv).run();
}
