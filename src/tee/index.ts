/**
 * The TEE runtime: measurement of a service, evidence backends (sim, Gramine-SGX, configfs-tsm),
 * sealing, and verification of SGX, TDX, SEV-SNP and sim evidence into one normalized result.
 * Other contexts import only from this file.
 */
export { CheckRunner, finishVerification, type TcbVerdict } from './appraisal.ts';
export { fromHex, isAllZero, toHex } from './bytes.ts';
export { classifyCollateral, loadCollateralFiles, mergeCollateral } from './collateral-files.ts';
export { createDcapVerifier, type DcapVerifierOptions } from './dcap/verifier.ts';
export {
  type CreateTeeBackendOptions,
  createTeeBackend,
  type DetectedBackend,
  type DetectOptions,
  detectTeeBackend,
  type TeeBackendChoice,
  type TeeBackendSelection,
} from './detect.ts';
export { isTeeError, TEE_ERROR_CODES, TeeError, type TeeErrorCode, type TeeErrorDetail } from './errors.ts';
export { decodeEvidenceFile, readEvidenceFile } from './evidence-file.ts';
export { createGramineBackend, type GramineBackendOptions } from './gramine/gramine-backend.ts';
export {
  type MeasuredFile,
  type MeasureOptions,
  measureService,
  type ServiceMeasurement,
} from './measure.ts';
export { type ClosableSealer, createAeadSealer } from './seal.ts';
export { createSimBackend, type SimBackend, type SimBackendOptions } from './sim/sim-backend.ts';
export { createSimVerifier, type SimVerifierOptions } from './sim/sim-verifier.ts';
export {
  SNP_POLICY_FLAGS,
  type SnpPolicyFlag,
  type SnpPolicyRequirements,
} from './snp/policy.ts';
export { createSnpVerifier, type SnpVerifierOptions } from './snp/verifier.ts';
export { createTsmBackend, type TsmBackendOptions } from './tsm/tsm-backend.ts';
export {
  type CheckOutcome,
  type Collateral,
  type DcapCollateral,
  DEFAULT_ACCEPTED_TCB,
  type EvidenceVerifier,
  isTcbStatus,
  type ParsedEvidence,
  PLATFORMS,
  type Platform,
  type Refusal,
  type Sealer,
  type SnpCollateral,
  TCB_STATUSES,
  type TcbStatus,
  type TeeBackend,
  type TeeBackendName,
  type VerificationResult,
  type VerifyOptions,
} from './types.ts';
export {
  createDefaultVerifierSet,
  createEvidenceVerifierSet,
  type DefaultVerifierOptions,
  type EvidenceVerifierSet,
  inspectEvidence,
  selectVerifier,
  verifyEvidence,
} from './verify.ts';
