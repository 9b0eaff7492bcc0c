/**
 * Stable codes of the CAS. Attestation refusals use the lower-case kebab codes that the policy
 * owner reads in the audit log and in metrics; everything else uses `ERR_*` codes.
 */
export const ATTESTATION_REFUSALS = [
  'evidence-invalid', // the evidence is not genuine (the TEE verifier's refusal is in `detail`)
  'measurement-not-accepted',
  'platform-not-accepted',
  'simulation-not-allowed',
  'debug-not-allowed',
  'tcb-status-not-accepted',
  'nonce-unknown-or-replayed',
  'binding-mismatch', // report data is not SHA-256(public key ‖ nonce)
  'too-many-instances',
  'service-unknown', // no such service in the policy in force
  'no-policy', // no policy has been applied yet
  'secret-not-provided', // a user-provided secret granted to the service has not been uploaded yet
] as const;

/** Why an attestation was refused. */
export type AttestationRefusal = (typeof ATTESTATION_REFUSALS)[number];

export const CAS_ERROR_CODES = [
  'ERR_POLICY_INVALID', // a policy document fails validation (detail.path says where)
  'ERR_POLICY_PREDECESSOR', // predecessor is not the hash of the policy in force
  'ERR_POLICY_SIGNATURE', // an update is unsigned, badly signed, or not enough signers
  'ERR_UNAUTHORIZED', // the caller is not a known user / service
  'ERR_FORBIDDEN', // the caller's role does not allow the action
  'ERR_SECRET_UNKNOWN',
  'ERR_SECRET_NOT_WRITABLE', // only user-provided secrets can be uploaded
  'ERR_SECRET_NOT_READABLE', // user-provided secrets are write-only
  'ERR_STATE_TAMPERED', // the sealed state does not unseal / verify
  'ERR_STATE_IO',
  'ERR_AUDIT_TAMPERED', // the audit log chain or signatures are broken
  'ERR_ATTESTATION_REFUSED', // see `refusal`
  'ERR_BAD_REQUEST', // malformed request (size, JSON, fields)
  'ERR_CAS_UNREACHABLE', // client side: the CAS did not answer
  'ERR_CAS_IDENTITY', // client side: the CAS's own evidence or certificate did not verify
  'ERR_NOT_FOUND', // no such endpoint, or no such instance (its lease expired: attest again)
  'ERR_INTERNAL', // the server failed; its log has the details under the request id
  'ERR_CONFLICT', // the request clashes with existing state (a CURVE key registered by another instance)
] as const;

export type CasErrorCode = (typeof CAS_ERROR_CODES)[number];

/** Error raised by the CAS and its clients. Never carries secret values. */
export class CasError extends Error {
  override readonly name = 'CasError';
  readonly code: CasErrorCode;
  /** For `ERR_ATTESTATION_REFUSED`: the refusal code. */
  readonly refusal: AttestationRefusal | undefined;
  /** Where: a policy path (`services.mdc.accept[0].measurement`), a field, a check. */
  readonly path: string | undefined;

  constructor(
    code: CasErrorCode,
    message: string,
    options: { refusal?: AttestationRefusal; path?: string; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.refusal = options.refusal;
    this.path = options.path;
  }
}

/** True when `value` is a {@link CasError}, optionally with the given code. */
export function isCasError(value: unknown, code?: CasErrorCode): value is CasError {
  return value instanceof CasError && (code === undefined || value.code === code);
}
