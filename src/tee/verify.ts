import { createDcapVerifier, type DcapVerifierOptions } from './dcap/verifier.ts';
import { TeeError } from './errors.ts';
import { createSimVerifier, type SimVerifierOptions } from './sim/sim-verifier.ts';
import { createSnpVerifier, type SnpVerifierOptions } from './snp/verifier.ts';
import type { EvidenceVerifier, ParsedEvidence, VerificationResult, VerifyOptions } from './types.ts';

/**
 * Picks the verifier whose format `evidence` has. Throws `ERR_EVIDENCE_FORMAT`, listing the known
 * formats, when none recognizes it.
 */
export function selectVerifier(
  verifiers: readonly EvidenceVerifier[],
  evidence: Uint8Array,
): EvidenceVerifier {
  for (const v of verifiers) if (v.canVerify(evidence)) return v;
  throw new TeeError(
    'ERR_EVIDENCE_FORMAT',
    `unrecognized evidence (${evidence.length} bytes): not ${verifiers.map((v) => v.name).join(', ')} evidence; ` +
      'pass a raw SGX/TDX quote, a SEV-SNP attestation report or sim evidence (binary, .hex, base64 or JSON with a "quote" field)',
    { check: 'format', value: `${evidence.length} bytes` },
  );
}

/** A set of verifiers behind one entry point, sniffing each piece of evidence's format. */
export interface EvidenceVerifierSet {
  readonly verifiers: readonly EvidenceVerifier[];
  inspect(evidence: Uint8Array): ParsedEvidence;
  verify(evidence: Uint8Array, options: VerifyOptions): Promise<VerificationResult>;
}

/** Bundles verifiers; the first whose `canVerify` accepts the evidence handles it. */
export function createEvidenceVerifierSet(verifiers: readonly EvidenceVerifier[]): EvidenceVerifierSet {
  if (verifiers.length === 0) throw new TypeError('at least one verifier is required');
  return {
    verifiers,
    inspect: (evidence) => selectVerifier(verifiers, evidence).inspect(evidence),
    verify: (evidence, options) => {
      if (!(options.at instanceof Date) || Number.isNaN(options.at.getTime())) {
        throw new TypeError('options.at must be a valid Date: the verification time is an explicit input');
      }
      return selectVerifier(verifiers, evidence).verify(evidence, options);
    },
  };
}

/** Options of {@link createDefaultVerifierSet}: each verifier's own options. */
export interface DefaultVerifierOptions {
  readonly dcap?: DcapVerifierOptions;
  readonly snp?: SnpVerifierOptions;
  readonly sim?: SimVerifierOptions;
}

/**
 * The verifiers of every supported format: sim, Intel DCAP (SGX, TDX), AMD SEV-SNP. Long-lived
 * callers (the CAS) create one set and reuse it, so that collateral verdicts stay cached.
 */
export function createDefaultVerifierSet(options: DefaultVerifierOptions = {}): EvidenceVerifierSet {
  return createEvidenceVerifierSet([
    createSimVerifier(options.sim),
    createDcapVerifier(options.dcap),
    createSnpVerifier(options.snp),
  ]);
}

/** Verifies one piece of evidence of any supported format with a fresh default set. */
export function verifyEvidence(evidence: Uint8Array, options: VerifyOptions): Promise<VerificationResult> {
  return createDefaultVerifierSet().verify(evidence, options);
}

/** Parses one piece of evidence of any supported format without verifying it. */
export function inspectEvidence(evidence: Uint8Array): ParsedEvidence {
  return createDefaultVerifierSet().inspect(evidence);
}
