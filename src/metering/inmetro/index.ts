// Public face of INMETRO signatures over stored readings and of the audit's verification core.
// Formats and choices: docs/inmetro-signatures.md.
export {
  AUDIT_REASONS,
  type AuditFinding,
  type AuditOptions,
  type AuditReason,
  type AuditReport,
  auditReadings,
  DEFAULT_INTERVAL_MS,
  type StoredReading,
} from './audit.ts';
export { type FormatAuditOptions, formatAuditReport } from './audit-format.ts';
export {
  type BatchToSign,
  InmetroBatchSigner,
  type InmetroBatchSignerOptions,
  READING_TAG,
  readingLeaf,
  type SignedBatchWithProofs,
} from './batch-signer.ts';
export { INMETRO_ERROR_CODES, InmetroError, type InmetroErrorCode, isInmetroError } from './errors.ts';
export { exportInmetroPublicKey, importInmetroPublicKey, inmetroKeyId } from './inmetro-key.ts';
export {
  buildMerkleTree,
  MERKLE_HASH_LENGTH,
  type MerkleTree,
  merkleLeafHash,
  merkleNodeHash,
  merkleProof,
  merkleRoot,
  verifyMerkleProof,
} from './merkle.ts';
export {
  BATCH_TAG,
  type BatchId,
  batchSigningPayload,
  decodeSignedBatch,
  encodeSignedBatch,
  SIGNATURE_LENGTH,
  type SignedBatch,
  verifyBatchSignature,
} from './signed-batch.ts';
