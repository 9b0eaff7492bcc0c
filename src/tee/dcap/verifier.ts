import { finishVerification } from '../appraisal.ts';
import type { EvidenceVerifier, ParsedEvidence, VerificationResult, VerifyOptions } from '../types.ts';
import { CollateralVerifier } from './collateral-verifier.ts';
import { looksLikeDcapQuote, quoteFmspc, toParsedEvidence } from './evidence.ts';
import { DEFAULT_DCAP_ROOTS } from './intel-root.ts';
import { parseQuote } from './quote.ts';
import { verifyDcapQuote } from './quote-verification.ts';

/** Options of {@link createDcapVerifier}. */
export interface DcapVerifierOptions {
  /**
   * Cache collateral-derived verdicts inside the verifier (default true): parsed certificates and
   * CRLs, verified CA chains, CRL signatures, TCB Info and QE Identity signatures and issuer chains.
   * Each verdict is reused only for verification times inside the window it was established for.
   */
  readonly cache?: boolean;
  /** Maximum entries per cache (default 256; the oldest entry is dropped). */
  readonly maxCacheEntries?: number;
  /**
   * SHA-256 (hex, lower case) of the DER of the trusted root certificates. Default: the Intel SGX
   * Root CA only. Override only for a private test PKI.
   */
  readonly trustedRoots?: readonly string[];
}

function assertVerifyOptions(options: VerifyOptions): void {
  if (!options || !(options.at instanceof Date) || Number.isNaN(options.at.getTime())) {
    throw new TypeError('options.at must be a valid Date: the verification time is an explicit input');
  }
}

/**
 * Creates the Intel DCAP verifier (`dcap`) for SGX quotes v3 (and v4/v5 with an SGX body) and TDX
 * quotes v4/v5 with ECDSA P-256 attestation keys and a PCK certificate chain in the quote.
 *
 * It checks the quote header, the PCK chain up to the pinned Intel SGX Root CA, the root CA and PCK
 * CRLs when supplied, the QE report signature and binding, the quote signature, and, with TCB Info
 * and QE Identity collateral, their signatures and windows, the QE identity, the TDX module and the
 * TCB level (Intel's algorithm), giving the final TCB status and advisories. Without TCB collateral
 * the quote can be genuine but its TCB status is `Unknown`.
 *
 * @example
 * const verifier = createDcapVerifier();
 * const result = await verifier.verify(quote, { at: new Date(), collateral: { dcap } });
 * if (!result.accepted) console.error(result.refusal?.message);
 */
export function createDcapVerifier(options: DcapVerifierOptions = {}): EvidenceVerifier {
  const pins = [...(options.trustedRoots ?? DEFAULT_DCAP_ROOTS)].map((p) => p.toLowerCase());
  if (pins.length === 0 || pins.some((p) => !/^[0-9a-f]{64}$/.test(p))) {
    throw new TypeError('trustedRoots must be SHA-256 digests in hex (64 digits)');
  }
  const cv = new CollateralVerifier({
    pins,
    cache: options.cache ?? true,
    ...(options.maxCacheEntries !== undefined ? { maxEntries: options.maxCacheEntries } : {}),
  });
  return {
    name: 'dcap',
    canVerify: (evidence: Uint8Array): boolean => looksLikeDcapQuote(evidence),
    inspect(evidence: Uint8Array): ParsedEvidence {
      const quote = parseQuote(evidence);
      return toParsedEvidence(quote, quoteFmspc(quote));
    },
    async verify(evidence: Uint8Array, verifyOptions: VerifyOptions): Promise<VerificationResult> {
      assertVerifyOptions(verifyOptions);
      verifyOptions.signal?.throwIfAborted();
      const quote = parseQuote(evidence);
      const outcome = verifyDcapQuote(quote, verifyOptions.at, verifyOptions.collateral?.dcap, cv);
      const parsed = toParsedEvidence(quote, outcome.fmspc ?? quoteFmspc(quote));
      return finishVerification(parsed, outcome.runner, outcome.verdict, verifyOptions);
    },
  };
}
