/**
 * The signed batch record: what the MDC signs once per stored batch of readings, and its canonical
 * byte encoding (big-endian, fixed offsets, one length-prefixed field last). Layout and test vector:
 * docs/inmetro-signatures.md.
 */
import { type KeyObject, verify } from 'node:crypto';
import { InmetroError } from './errors.ts';
import { inmetroKeyId } from './inmetro-key.ts';
import { MERKLE_HASH_LENGTH } from './merkle.ts';

/** Batch ids are unsigned 64-bit integers; SQL drivers hand them over as numbers or bigints. */
export type BatchId = bigint | number;

/** A batch of stored readings, signed by the MDC with the INMETRO key. */
export interface SignedBatch {
  /** The batch's id (uint64), unique per signer: readings name it. */
  readonly batchId: BatchId;
  /** Who signed: the MDC instance id, 1 to 255 UTF-8 bytes. */
  readonly signer: string;
  /** When the batch was signed, UTC milliseconds. */
  readonly createdAt: number;
  /** Number of readings (leaves), 1 to 2^32 - 1. */
  readonly count: number;
  /** The RFC 6962 Merkle root over the readings' leaf hashes, in batch order. */
  readonly root: Uint8Array;
  /** {@link inmetroKeyId} of the signing key: 64 lowercase hex digits. */
  readonly keyId: string;
  /** Ed25519 signature (64 bytes) over {@link batchSigningPayload}. */
  readonly signature: Uint8Array;
}

/** The domain tag that starts every payload: `securecloud/inmetro/batch/v1` and a NUL byte. */
export const BATCH_TAG = Buffer.from('securecloud/inmetro/batch/v1\0', 'latin1');
/** Length of an Ed25519 signature. */
export const SIGNATURE_LENGTH = 64;

const AT_BATCH_ID = BATCH_TAG.length; // 29
const AT_CREATED = AT_BATCH_ID + 8; // 37
const AT_COUNT = AT_CREATED + 8; // 45
const AT_ROOT = AT_COUNT + 4; // 49
const AT_KEY_ID = AT_ROOT + MERKLE_HASH_LENGTH; // 81
const AT_SIGNER_LENGTH = AT_KEY_ID + 32; // 113
const AT_SIGNER = AT_SIGNER_LENGTH + 1; // 114
const U64_MAX = (1n << 64n) - 1n;
const HEX64 = /^[0-9a-f]{64}$/;

/**
 * What is wrong with the fields of `batch` (all but the signature), or undefined when they can be
 * encoded. Used by encoders (which throw) and verifiers (which say false or report the reason).
 */
export function batchFieldProblem(batch: Omit<SignedBatch, 'signature'>): string | undefined {
  const id = batch.batchId;
  if (
    typeof id === 'number'
      ? !Number.isSafeInteger(id) || id < 0
      : typeof id !== 'bigint' || id < 0n || id > U64_MAX
  )
    return `batchId ${String(id)} is not an unsigned 64-bit integer`;
  const signerBytes = typeof batch.signer === 'string' ? Buffer.byteLength(batch.signer, 'utf8') : 0;
  if (signerBytes < 1 || signerBytes > 255) return `signer is ${signerBytes} UTF-8 bytes, expected 1 to 255`;
  if (!Number.isSafeInteger(batch.createdAt) || batch.createdAt < 0)
    return `createdAt ${batch.createdAt} is not a non-negative integer of milliseconds`;
  if (!Number.isInteger(batch.count) || batch.count < 1 || batch.count > 0xffff_ffff)
    return `count ${batch.count} is not between 1 and 2^32 - 1`;
  if (!(batch.root instanceof Uint8Array) || batch.root.length !== MERKLE_HASH_LENGTH)
    return `root is ${batch.root?.length ?? 0} bytes, expected 32`;
  if (typeof batch.keyId !== 'string' || !HEX64.test(batch.keyId))
    return `keyId ${JSON.stringify(batch.keyId)} is not 64 lowercase hex digits`;
  return undefined;
}

/**
 * The exact bytes the INMETRO key signs for `batch`: tag (29) ‖ batchId u64 ‖ createdAt u64 ‖ count
 * u32 ‖ root (32) ‖ keyId (32) ‖ signer length u8 ‖ signer UTF-8, integers big-endian. Fields that do
 * not fit are a TypeError.
 */
export function batchSigningPayload(batch: Omit<SignedBatch, 'signature'>): Buffer {
  const problem = batchFieldProblem(batch);
  if (problem !== undefined) throw new TypeError(`cannot encode the signed batch: ${problem}`);
  const signer = Buffer.from(batch.signer, 'utf8');
  const out = Buffer.alloc(AT_SIGNER + signer.length);
  BATCH_TAG.copy(out, 0);
  out.writeBigUInt64BE(BigInt(batch.batchId), AT_BATCH_ID);
  out.writeBigUInt64BE(BigInt(batch.createdAt), AT_CREATED);
  out.writeUInt32BE(batch.count, AT_COUNT);
  out.set(batch.root, AT_ROOT);
  out.write(batch.keyId, AT_KEY_ID, 'hex');
  out.writeUInt8(signer.length, AT_SIGNER_LENGTH);
  signer.copy(out, AT_SIGNER);
  return out;
}

/**
 * True when `batch.signature` is a valid Ed25519 signature by `publicKey` over the batch's payload and
 * `batch.keyId` names that key. Malformed fields give false, never an exception.
 */
export function verifyBatchSignature(batch: SignedBatch, publicKey: KeyObject): boolean {
  return batchSignatureProblem(batch, publicKey) === undefined;
}

/** Why the signature of `batch` does not verify under `publicKey` (`wrong-key` or `bad-signature`), if it does not. */
export function batchSignatureProblem(
  batch: SignedBatch,
  publicKey: KeyObject,
): { kind: 'wrong-key' | 'bad-signature'; detail: string } | undefined {
  const problem = batchFieldProblem(batch);
  if (problem !== undefined) return { kind: 'bad-signature', detail: problem };
  const expected = inmetroKeyId(publicKey);
  if (batch.keyId !== expected) {
    return {
      kind: 'wrong-key',
      detail: `batch ${batch.batchId} was signed with key ${batch.keyId.slice(0, 16)}…, the audit key is ${expected.slice(0, 16)}…`,
    };
  }
  const sig = batch.signature;
  let ok = false;
  if (sig instanceof Uint8Array && sig.length === SIGNATURE_LENGTH) {
    try {
      ok = verify(null, batchSigningPayload(batch), publicKey, sig);
    } catch {
      ok = false;
    }
  }
  if (ok) return undefined;
  return {
    kind: 'bad-signature',
    detail: `the Ed25519 signature of batch ${batch.batchId} does not verify over its fields (root, count, createdAt, signer or signature altered)`,
  };
}

/** The portable form of a signed batch (for offline export): payload ‖ 64-byte signature. */
export function encodeSignedBatch(batch: SignedBatch): Buffer {
  if (!(batch.signature instanceof Uint8Array) || batch.signature.length !== SIGNATURE_LENGTH) {
    throw new TypeError(`cannot encode the signed batch: the signature is not ${SIGNATURE_LENGTH} bytes`);
  }
  return Buffer.concat([batchSigningPayload(batch), batch.signature]);
}

/** Reads {@link encodeSignedBatch}'s form; a bad length, tag or field is an `ERR_INMETRO_BATCH_MALFORMED`. */
export function decodeSignedBatch(bytes: Uint8Array): SignedBatch {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const malformed = (what: string) =>
    new InmetroError(
      'ERR_INMETRO_BATCH_MALFORMED',
      `the encoded signed batch ${what}; expected the layout of docs/inmetro-signatures.md (securecloud/inmetro/batch/v1)`,
    );
  if (b.length < AT_SIGNER + 1 + SIGNATURE_LENGTH) throw malformed(`is ${b.length} bytes, too short`);
  if (!b.subarray(0, BATCH_TAG.length).equals(BATCH_TAG)) throw malformed('does not start with its tag');
  const signerLength = b.readUInt8(AT_SIGNER_LENGTH);
  const total = AT_SIGNER + signerLength + SIGNATURE_LENGTH;
  if (b.length !== total) throw malformed(`is ${b.length} bytes, its signer length says ${total}`);
  const signerBytes = b.subarray(AT_SIGNER, AT_SIGNER + signerLength);
  const signer = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let signerText: string;
  try {
    signerText = signer.decode(signerBytes);
  } catch (cause) {
    throw new InmetroError('ERR_INMETRO_BATCH_MALFORMED', 'the signer of the encoded batch is not UTF-8', {
      cause,
    });
  }
  const batch: SignedBatch = {
    batchId: b.readBigUInt64BE(AT_BATCH_ID),
    createdAt: Number(b.readBigUInt64BE(AT_CREATED)),
    count: b.readUInt32BE(AT_COUNT),
    root: Uint8Array.from(b.subarray(AT_ROOT, AT_ROOT + MERKLE_HASH_LENGTH)),
    keyId: b.toString('hex', AT_KEY_ID, AT_KEY_ID + 32),
    signer: signerText,
    signature: Uint8Array.from(b.subarray(total - SIGNATURE_LENGTH, total)),
  };
  const problem = batchFieldProblem(batch);
  if (problem !== undefined) throw malformed(`has a bad field: ${problem}`);
  return batch;
}
