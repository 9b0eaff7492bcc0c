/**
 * The Configuration and Attestation Service (CAS): signed policies, generated secrets, its own CA,
 * a signed audit log, sealed state; the attestation protocol (server and client). Other contexts
 * import only from this file.
 */
export { type AppraisalRefusal, appraise } from './appraise.ts';
export type { AttestInput } from './attestation.ts';
export { type AuditEntry, type AuditEntryInput, AuditLog, verifyAuditLog } from './audit-log.ts';
export { BusKeyRegistry, isZ85Key } from './bus-keys.ts';
export { CasCa, serviceIdentityOf, serviceUri } from './ca.ts';
export { type CasLogger, createJsonLogger, type LogFields, silentLogger } from './cas-log.ts';
export type { CasMetrics } from './cas-metrics.ts';
export { type CallerKey, CasService, type CasServiceOptions } from './cas-service.ts';
export {
  type AttestRequest,
  type AuditRecord,
  type CasClient,
  type CasClientOptions,
  type CasEvidence,
  createCasClient,
  splitKeyFile,
} from './client.ts';
export {
  ATTESTATION_REFUSALS,
  type AttestationRefusal,
  CAS_ERROR_CODES,
  CasError,
  type CasErrorCode,
  isCasError,
} from './errors.ts';
export { findUserByPublicKey, parsePolicy, permissionsOf, policyHash } from './policy.ts';
export { CHANNEL_NAME, channelRolesOf } from './policy-channels.ts';
export type {
  AcceptEntry,
  Permission,
  Policy,
  SecretSpec,
  SecretType,
  ServicePolicy,
  UserPolicy,
} from './policy-types.ts';
export {
  CHANNEL_ROLES,
  type ChannelPolicy,
  type ChannelRole,
} from './policy-types.ts';
export {
  type AttestGrant,
  bindingReportData,
  CAS_TLS_NAME,
  type CasEvidenceAnswer,
  type CasStatus,
  type ChannelKeyEntry,
  type ChannelKeysAnswer,
  type CurveKeyRequest,
  DEFAULT_LEASE_SECONDS,
  MAX_AUDIT_PAGE,
  MAX_BODY_BYTES,
  MAX_EVIDENCE_BYTES,
  NONCE_TTL_SECONDS,
  type NonceAnswer,
  type PolicyRecord,
  type PolicySignature,
  type SecretGrant,
} from './protocol.ts';
export {
  CAS_ERROR_STATUS,
  type CasServer,
  type CasServerOptions,
  casErrorReply,
  startCasServer,
} from './server.ts';
export { generateRecoveryKeyPair } from './state-recovery.ts';
export { StateStore, type StateStoreOptions } from './state-store.ts';
export {
  renderTemplate,
  SECRET_FIELDS,
  SELF_FIELDS,
  SELF_PRIVATE_KEY_PLACEHOLDER,
  templateSecretNames,
} from './template.ts';
export { generateUserKey, loadUserKey, signPolicy, verifyPolicySignature } from './user-keys.ts';
