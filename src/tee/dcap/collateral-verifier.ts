import { verify as cryptoVerify } from 'node:crypto';
import { TeeError, type TeeErrorCode } from '../errors.ts';
import {
  type CertInfo,
  type ParsedCrl,
  type PkiSource,
  parseCertificate,
  parseCrl,
  sha256Hex,
  splitPemChain,
  type ValidityWindow,
  verifyChain,
  verifyCrl,
} from '../pki.ts';
import { assertCollateralWindow } from './json-fields.ts';
import { parseQeIdentity, type QeIdentity } from './qe-identity.ts';
import { parseTcbInfo, type TcbInfo } from './tcb-info.ts';
import { ALWAYS, intersect, WindowCache } from './window-cache.ts';

/** The subject CN of the certificate that signs TCB Info and QE Identity. */
export const TCB_SIGNING_CN = 'Intel SGX TCB Signing';

/** One signed collateral document: the exact signed text, its raw signature and its issuer chain. */
export interface SignedJson {
  readonly text: string;
  readonly signature: Uint8Array;
  readonly issuerChain: string;
}

/** A verified signed document and the certificate that signed it (for revocation lookups). */
export interface Verified<T> {
  readonly value: T;
  readonly signer: CertInfo;
}

interface SignedKind<T> {
  readonly what: string;
  readonly prefix: string;
  readonly code: TeeErrorCode;
  parse(text: string): T & { issueDate: Date; nextUpdate: Date };
}

const TCB_INFO: SignedKind<TcbInfo> = {
  what: 'TCB Info',
  prefix: 'tcb-info',
  code: 'ERR_TCB_INFO_SIGNATURE',
  parse: parseTcbInfo,
};
const QE_IDENTITY: SignedKind<QeIdentity> = {
  what: 'QE Identity',
  prefix: 'qe-identity',
  code: 'ERR_QE_IDENTITY_SIGNATURE',
  parse: parseQeIdentity,
};

/**
 * Verifies the collateral-derived parts of a DCAP verification and caches each verdict for the
 * window in which it holds (see {@link WindowCache}): certificate parsing, CA chains up to the pinned
 * root, CRL signatures and windows, and the signatures, issuer chains and windows of TCB Info and QE
 * Identity. One instance lives inside one verifier.
 */
export class CollateralVerifier {
  readonly #pins: readonly string[];
  readonly #certs: WindowCache<CertInfo>;
  readonly #chains: WindowCache<ValidityWindow>;
  readonly #parsedCrls: WindowCache<ParsedCrl>;
  readonly #crls: WindowCache<ParsedCrl>;
  readonly #tcbInfos: WindowCache<Verified<TcbInfo>>;
  readonly #qeIdentities: WindowCache<Verified<QeIdentity>>;

  constructor(options: { pins: readonly string[]; cache: boolean; maxEntries?: number }) {
    this.#pins = options.pins;
    const o = {
      enabled: options.cache,
      ...(options.maxEntries !== undefined ? { maxEntries: options.maxEntries } : {}),
    };
    this.#certs = new WindowCache(o);
    this.#chains = new WindowCache(o);
    this.#parsedCrls = new WindowCache(o);
    this.#crls = new WindowCache(o);
    this.#tcbInfos = new WindowCache(o);
    this.#qeIdentities = new WindowCache(o);
  }

  get pins(): readonly string[] {
    return this.#pins;
  }

  /** Parses a DER certificate (memoized by digest: parsing does not depend on time). */
  certificate(der: Buffer, what: string, source: PkiSource, check: string): CertInfo {
    return this.#certs.get(sha256Hex(der), ALWAYS.notBefore, () => ({
      value: parseCertificate(der, what, source, check),
      window: ALWAYS,
    }));
  }

  /** Parses a PEM chain, leaf first; parse errors name `check`. */
  pemChain(pem: string, what: string, source: PkiSource, check: string): CertInfo[] {
    return splitPemChain(pem, what, source, check).map((der, i) =>
      this.certificate(der, `${what} certificate #${i}`, source, check),
    );
  }

  /** Verifies a CA chain (…→root) with {@link verifyChain}; the verdict is cached for its window. */
  caChain(chain: readonly CertInfo[], at: Date, check: string, minLength = 1): void {
    const key = `${check}:${chain.map((c) => c.sha256).join(':')}`;
    this.#chains.get(key, at, () => {
      const window = verifyChain(chain, { at, pins: this.#pins, check, minLength });
      return { value: window, window };
    });
  }

  /** Parses a DER CRL (memoized by digest). */
  parsedCrl(der: Uint8Array, check: string): ParsedCrl {
    return this.#parsedCrls.get(sha256Hex(der), ALWAYS.notBefore, () => ({
      value: parseCrl(der, check, check),
      window: ALWAYS,
    }));
  }

  /** Verifies a CRL's signature by `issuer` and its window at `at` (cached). */
  crl(der: Uint8Array, issuer: CertInfo, at: Date, check: string): ParsedCrl {
    const crl = this.parsedCrl(der, check);
    return this.#crls.get(`${crl.sha256}:${issuer.sha256}`, at, () => ({
      value: crl,
      window: verifyCrl(crl, issuer, at, check),
    }));
  }

  /** Verifies signed TCB Info: issuer chain to the pinned root, signature, window. */
  tcbInfo(doc: SignedJson, at: Date): Verified<TcbInfo> {
    return this.#signed(this.#tcbInfos, TCB_INFO, doc, at);
  }

  /** Verifies a signed QE Identity: issuer chain to the pinned root, signature, window. */
  qeIdentity(doc: SignedJson, at: Date): Verified<QeIdentity> {
    return this.#signed(this.#qeIdentities, QE_IDENTITY, doc, at);
  }

  #signed<T>(cache: WindowCache<Verified<T>>, kind: SignedKind<T>, doc: SignedJson, at: Date): Verified<T> {
    const key = sha256Hex(
      `${sha256Hex(doc.text)}:${Buffer.from(doc.signature).toString('hex')}:${sha256Hex(doc.issuerChain)}`,
    );
    return cache.get(key, at, () => {
      const check = `${kind.prefix}-issuer-chain`;
      const chain = this.pemChain(doc.issuerChain, `${kind.what} issuer chain`, 'collateral', check);
      const signer = chain[0]!;
      if (chain.length !== 2 || signer.subjectCn !== TCB_SIGNING_CN) {
        throw new TeeError(
          'ERR_CERT_CHAIN',
          `the ${kind.what} must be signed by "${TCB_SIGNING_CN}" directly under the root; the chain has ${chain.length} certificates, its first is "${signer.subjectCn ?? '?'}"`,
          { check, value: signer.subjectCn ?? '?', expected: TCB_SIGNING_CN },
        );
      }
      const chainWindow = verifyChain(chain, { at, pins: this.#pins, check });
      assertJsonSignature(kind, doc, signer);
      const value = kind.parse(doc.text);
      assertCollateralWindow(kind.what, value.issueDate, value.nextUpdate, at, `${kind.prefix}-window`);
      const window = intersect(chainWindow, { notBefore: value.issueDate, notAfter: value.nextUpdate });
      return { value: { value, signer }, window };
    });
  }
}

function assertJsonSignature<T>(kind: SignedKind<T>, doc: SignedJson, signer: CertInfo): void {
  const check = `${kind.prefix}-signature`;
  let ok = false;
  if (doc.signature.length === 64) {
    try {
      ok = cryptoVerify(
        'sha256',
        Buffer.from(doc.text, 'utf8'),
        { key: signer.x509.publicKey, dsaEncoding: 'ieee-p1363' },
        doc.signature,
      );
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    throw new TeeError(
      kind.code,
      `the ${kind.what} signature (${doc.signature.length} bytes) does not verify with the key of "${signer.subjectCn ?? '?'}"; the document was altered or re-serialized (keep the exact signed text)`,
      {
        check,
        value: Buffer.from(doc.signature).toString('hex').slice(0, 32),
        expected: `a P-256 signature by ${signer.subjectCn ?? '?'}`,
      },
    );
  }
}
