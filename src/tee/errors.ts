/**
 * Stable error codes of the TEE context. Every refusal of evidence carries one of these, so that
 * callers (the CAS, the CLI, tests) can react to the reason without parsing messages.
 */
export const TEE_ERROR_CODES = [
  // Input shape
  'ERR_EVIDENCE_FORMAT', // unknown or unsupported evidence format / version
  'ERR_EVIDENCE_TRUNCATED', // fewer bytes than the format requires
  'ERR_EVIDENCE_MALFORMED', // a field has an impossible value
  // Collateral
  'ERR_COLLATERAL_MISSING', // a check needs collateral that was not supplied
  'ERR_COLLATERAL_MALFORMED', // collateral could not be parsed
  'ERR_COLLATERAL_EXPIRED', // collateral outside its validity window (issueDate/nextUpdate)
  'ERR_COLLATERAL_MISMATCH', // collateral is for another FMSPC / product / QE
  // Signatures and chains
  'ERR_QUOTE_SIGNATURE', // signature over header+body by the attestation key
  'ERR_QE_REPORT_SIGNATURE', // QE report signature by the PCK key
  'ERR_QE_BINDING', // QE report data does not bind the attestation key and auth data
  'ERR_CERT_CHAIN', // chain does not build / a signature in the chain is invalid
  'ERR_CERT_ROOT', // chain ends in a root that is not pinned
  'ERR_CERT_VALIDITY', // a certificate is not valid at the verification time
  'ERR_CERT_REVOKED', // a certificate is on a CRL
  'ERR_CRL_SIGNATURE', // a CRL is not signed by its issuer
  'ERR_CRL_VALIDITY', // a CRL is outside thisUpdate/nextUpdate
  'ERR_CERT_EXTENSION', // PCK / VCEK extension missing or malformed
  'ERR_TCB_INFO_SIGNATURE',
  'ERR_QE_IDENTITY_SIGNATURE',
  'ERR_QE_IDENTITY_MISMATCH', // QE MRSIGNER / ISVPRODID / attributes / miscselect differ
  'ERR_TCB_LEVEL_NOT_FOUND', // no TCB level of the TCB Info matches the platform
  'ERR_TDX_MODULE_IDENTITY', // MRSIGNERSEAM / SEAMATTRIBUTES do not match TCB Info
  'ERR_REPORT_SIGNATURE', // SEV-SNP report signature by the VCEK
  'ERR_REPORTED_TCB', // SEV-SNP reported TCB differs from the VCEK extensions
  'ERR_CHIP_ID_MISMATCH', // SEV-SNP report CHIP_ID differs from the VCEK hwID (a VCEK of another chip)
  'ERR_SIM_SIGNATURE', // sim evidence signature
  'ERR_SIM_PLATFORM_KEY', // sim evidence signed by a sim platform key that is not trusted
  // Appraisal (genuine evidence, but not acceptable)
  'ERR_TCB_STATUS', // final TCB status not in the accepted set
  'ERR_DEBUG', // debug enclave / TD / guest when debug is not allowed
  'ERR_SIMULATION', // sim evidence when simulation is not allowed
  'ERR_POLICY_FLAGS', // SEV-SNP guest policy flags not acceptable
  'ERR_MEASUREMENT', // measurement differs from the expected one
  'ERR_REPORT_DATA', // report data differs from the expected one
  // Backends and sealing
  'ERR_BACKEND_UNAVAILABLE', // the TEE device / directory does not exist or is unusable
  'ERR_BACKEND_IO', // the device answered in an unexpected way
  'ERR_BACKEND_RACE', // configfs-tsm generation changed under us
  'ERR_SEAL_INTEGRITY', // sealed blob altered, or sealed for another measurement
  'ERR_SEAL_FORMAT',
  'ERR_MEASURE_IO',
] as const;

/** One of the stable error codes of the TEE context. */
export type TeeErrorCode = (typeof TEE_ERROR_CODES)[number];

/** Detail that explains a refusal: which check, which value, what was expected. */
export interface TeeErrorDetail {
  /** The check that failed, e.g. `pck-chain`, `tcb-info-signature`. */
  readonly check?: string;
  /** The value found (never a secret). */
  readonly value?: string;
  /** What was expected instead. */
  readonly expected?: string;
}

/** Error raised by the TEE context. Its `code` is stable; its message says what to do. */
export class TeeError extends Error {
  override readonly name = 'TeeError';
  readonly code: TeeErrorCode;
  readonly detail: TeeErrorDetail;

  constructor(
    code: TeeErrorCode,
    message: string,
    detail: TeeErrorDetail = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.detail = detail;
  }
}

/** True when `value` is a {@link TeeError}, optionally with the given code. */
export function isTeeError(value: unknown, code?: TeeErrorCode): value is TeeError {
  return value instanceof TeeError && (code === undefined || value.code === code);
}
