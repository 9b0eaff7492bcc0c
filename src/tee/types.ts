import type { TeeErrorCode } from './errors.ts';

/** The TEE platform that produced a piece of evidence. */
export type Platform = 'sgx' | 'tdx' | 'sev-snp' | 'sim';

/** Every platform, in a stable order. */
export const PLATFORMS = ['sgx', 'tdx', 'sev-snp', 'sim'] as const satisfies readonly Platform[];

/**
 * TCB status, with Intel's names (used for every platform; SEV-SNP and sim evidence that passes its
 * checks is `UpToDate`). `Unknown` means no TCB collateral was available to judge the platform.
 */
export type TcbStatus =
  | 'UpToDate'
  | 'SWHardeningNeeded'
  | 'ConfigurationNeeded'
  | 'ConfigurationAndSWHardeningNeeded'
  | 'OutOfDate'
  | 'OutOfDateConfigurationNeeded'
  | 'Revoked'
  | 'Unknown';

export const TCB_STATUSES = [
  'UpToDate',
  'SWHardeningNeeded',
  'ConfigurationNeeded',
  'ConfigurationAndSWHardeningNeeded',
  'OutOfDate',
  'OutOfDateConfigurationNeeded',
  'Revoked',
  'Unknown',
] as const satisfies readonly TcbStatus[];

/** TCB statuses accepted when the caller does not say otherwise. */
export const DEFAULT_ACCEPTED_TCB: readonly TcbStatus[] = ['UpToDate', 'SWHardeningNeeded'];

/** True when `value` names a TCB status. */
export function isTcbStatus(value: string): value is TcbStatus {
  return (TCB_STATUSES as readonly string[]).includes(value);
}

/** Why a piece of evidence was refused: which check, which value, what was expected. */
export interface Refusal {
  readonly code: TeeErrorCode;
  readonly check: string;
  readonly message: string;
  readonly value?: string;
  readonly expected?: string;
}

/**
 * The one normalized result of verifying evidence from any platform. Hex strings are lower case.
 * `genuine` says the evidence is authentic (signatures, chains, revocation, collateral);
 * `accepted` says it is genuine *and* its appraisal (TCB status, debug, simulation) passes.
 */
export interface VerificationResult extends ParsedEvidence {
  readonly genuine: boolean;
  readonly accepted: boolean;
  readonly tcbStatus: TcbStatus;
  readonly advisories: readonly string[];
  /** True for `sim` evidence: it protects nothing. */
  readonly simulation: boolean;
  /** The first refusal, if any (the reason). */
  readonly refusal: Refusal | null;
  /** Every check performed, in order, with its outcome. */
  readonly checks: readonly CheckOutcome[];
}

/** The outcome of one verification step. */
export interface CheckOutcome {
  readonly check: string;
  readonly ok: boolean;
  readonly code?: TeeErrorCode;
  readonly message?: string;
  /** The check was not performed (e.g. its collateral was not supplied); `ok` is then false. */
  readonly skipped?: true;
}

/** The identity fields parsed out of evidence, without any verification. */
export interface ParsedEvidence {
  readonly platform: Platform;
  /** The evidence format, e.g. `sgx-quote-v3`, `tdx-quote-v4`, `sev-snp-report-v2`, `sim-v1`. */
  readonly format: string;
  /** The main measurement: MRENCLAVE (sgx), MRTD (tdx), MEASUREMENT (sev-snp), sim measurement. */
  readonly measurement: string;
  /** Signer identity: MRSIGNER (sgx), author key digest (sev-snp), sim signer; null where there is none. */
  readonly signer: string | null;
  readonly productId: number | null;
  readonly svn: number | null;
  /** Debuggable enclave / TD / guest: the host can read its memory. */
  readonly debug: boolean;
  /** 64 bytes of report data, hex. */
  readonly reportData: string;
  /** Platform-specific fields (mrenclave, mrsigner, mrtd, rtmr0..3, mrseam, policy, fmspc, …). */
  readonly details: Readonly<Record<string, string | number | boolean | null>>;
}

/**
 * Collateral for verification, already loaded from files. Each verifier takes the parts it needs
 * and says `ERR_COLLATERAL_MISSING` for a part it needs but did not get.
 */
export interface Collateral {
  /** Intel DCAP collateral (TCB Info, QE Identity, CRLs, issuer chains). */
  readonly dcap?: DcapCollateral;
  /** AMD SEV-SNP certificates: VCEK (or VLEK) and optionally ASK/ARK. */
  readonly snp?: SnpCollateral;
}

/** Intel DCAP collateral. JSON bodies are kept as the exact signed text. */
export interface DcapCollateral {
  /** Exact text of the `tcbInfo` object as signed by Intel. */
  readonly tcbInfo?: string;
  /** Raw ECDSA signature (r‖s, 64 bytes) over `tcbInfo`. */
  readonly tcbInfoSignature?: Uint8Array;
  /** PEM chain: TCB Signing cert, then the root. */
  readonly tcbInfoIssuerChain?: string;
  /** Exact text of the `enclaveIdentity` (QE Identity) object as signed by Intel. */
  readonly qeIdentity?: string;
  readonly qeIdentitySignature?: Uint8Array;
  readonly qeIdentityIssuerChain?: string;
  /** DER of the PCK CRL (Processor or Platform CA). */
  readonly pckCrl?: Uint8Array;
  /** PEM chain: PCK CA (Processor / Platform), then the root. */
  readonly pckCrlIssuerChain?: string;
  /** DER of the root CA CRL. */
  readonly rootCaCrl?: Uint8Array;
}

/** AMD SEV-SNP certificates (DER). */
export interface SnpCollateral {
  readonly vcek?: Uint8Array;
  readonly ask?: Uint8Array;
  readonly ark?: Uint8Array;
}

/** What a verifier is asked to appraise, besides authenticity. */
export interface VerifyOptions {
  /** The verification time: every validity window is checked against it. Required. */
  readonly at: Date;
  readonly collateral?: Collateral;
  /** TCB statuses to accept. Default {@link DEFAULT_ACCEPTED_TCB}. */
  readonly acceptTcb?: readonly TcbStatus[];
  /** Accept debug enclaves / TDs / guests. Default false. */
  readonly allowDebug?: boolean;
  /** Accept `sim` evidence. Default false. */
  readonly allowSimulation?: boolean;
  readonly signal?: AbortSignal;
}

/** A plugin point: verifies one family of evidence formats. */
export interface EvidenceVerifier {
  readonly name: string;
  /** Cheap sniffing: true when `evidence` looks like this verifier's format. */
  canVerify(evidence: Uint8Array): boolean;
  /** Parses without verifying. Throws a TeeError on malformed input. */
  inspect(evidence: Uint8Array): ParsedEvidence;
  /**
   * Verifies. Evidence that parses but fails a check gives a result with `refusal` set; evidence
   * that cannot be parsed at all throws a TeeError (`ERR_EVIDENCE_*`); misuse throws a TypeError.
   */
  verify(evidence: Uint8Array, options: VerifyOptions): Promise<VerificationResult>;
}

/** A plugin point: produces evidence on the platform the process runs on. */
export interface TeeBackend {
  readonly name: TeeBackendName;
  readonly platform: Platform;
  /** True for the sim backend. */
  readonly simulation: boolean;
  /** Evidence binding exactly 64 bytes of report data. */
  getEvidence(reportData: Uint8Array, options?: { signal?: AbortSignal }): Promise<Uint8Array>;
  /** A sealer bound to this process's measurement. */
  sealer(): Promise<Sealer>;
}

/** The names of the evidence backends. */
export type TeeBackendName = 'sim' | 'gramine-sgx' | 'tsm';

/** Seals data so that only code with the same measurement (on the same platform) can unseal it. */
export interface Sealer {
  seal(plaintext: Uint8Array, associatedData?: Uint8Array): Uint8Array;
  unseal(sealed: Uint8Array, associatedData?: Uint8Array): Uint8Array;
}
