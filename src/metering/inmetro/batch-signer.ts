import { type KeyObject, sign } from 'node:crypto';
import { RESPONSE_LENGTH } from '../protocol/index.ts';
import { assertEd25519, inmetroKeyId } from './inmetro-key.ts';
import { buildMerkleTree, merkleLeafHash } from './merkle.ts';
import { type BatchId, batchFieldProblem, batchSigningPayload, type SignedBatch } from './signed-batch.ts';

/** The domain tag hashed before every stored block: `securecloud/inmetro/reading/v1` and a NUL byte. */
export const READING_TAG = Buffer.from('securecloud/inmetro/reading/v1\0', 'latin1');

/**
 * The Merkle leaf hash of a stored reading: SHA-256(0x00 ‖ "securecloud/inmetro/reading/v1\0" ‖ block),
 * the RFC 6962 leaf hash of the tag followed by the 258-byte NBR 14522 response block, which itself
 * carries the meter serial and the interval's timestamp. Another length is a TypeError.
 */
export function readingLeaf(block: Uint8Array): Buffer {
  if (block.length !== RESPONSE_LENGTH) {
    throw new TypeError(
      `a stored reading is a ${RESPONSE_LENGTH}-byte response block, got ${block.length} bytes`,
    );
  }
  return merkleLeafHash(READING_TAG, block);
}

/** Options of {@link InmetroBatchSigner}. */
export interface InmetroBatchSignerOptions {
  /** The INMETRO Ed25519 private key, as handed over by the CAS. */
  readonly privateKey: KeyObject;
  /** Who signs: the MDC instance id (1 to 255 UTF-8 bytes), recorded in every batch. */
  readonly signer: string;
}

/** A batch of readings to sign, in the order they are stored (leaf i is `blocks[i]`). */
export interface BatchToSign {
  readonly batchId: BatchId;
  /** UTC milliseconds, usually the commit time. */
  readonly createdAt: number;
  /** The 258-byte 0x14 response blocks, at least one. */
  readonly blocks: readonly Uint8Array[];
}

/** A signed batch and, for each block, its audit path (`proofs[i]` goes with `blocks[i]`, leaf index i). */
export type SignedBatchWithProofs = SignedBatch & { readonly batchId: bigint; readonly proofs: Buffer[] };

/**
 * Signs batches of stored readings with the INMETRO key: one Ed25519 signature per batch over the
 * RFC 6962 Merkle root of the readings' {@link readingLeaf} hashes, plus one audit path per reading,
 * so that each reading verifies offline with the INMETRO public key alone.
 *
 * @example
 * const signer = new InmetroBatchSigner({ privateKey, signer: 'mdc-1' });
 * const batch = signer.sign({ batchId: 7n, createdAt: Date.now(), blocks });
 * // store blocks[i] with (batch.batchId, i, batch.proofs[i]); store the batch without `proofs`
 */
export class InmetroBatchSigner {
  readonly #privateKey: KeyObject;
  /** The MDC instance id recorded in every batch. */
  readonly signer: string;
  /** {@link inmetroKeyId} of the key. */
  readonly keyId: string;

  constructor(options: InmetroBatchSignerOptions) {
    assertEd25519(options.privateKey, 'private');
    this.#privateKey = options.privateKey;
    this.signer = options.signer;
    this.keyId = inmetroKeyId(options.privateKey);
    const problem = batchFieldProblem({
      batchId: 0,
      signer: options.signer,
      createdAt: 0,
      count: 1,
      root: Buffer.alloc(32),
      keyId: this.keyId,
    });
    if (problem !== undefined) throw new TypeError(`InmetroBatchSigner: ${problem}`);
  }

  /** Hashes, builds the tree, signs its root once and returns the batch with every reading's proof. */
  sign(batch: BatchToSign): SignedBatchWithProofs {
    const leaves = batch.blocks.map(readingLeaf);
    if (leaves.length === 0) throw new TypeError('cannot sign an empty batch of readings');
    if (typeof batch.batchId === 'number' && !Number.isSafeInteger(batch.batchId)) {
      throw new TypeError(`cannot sign the batch: batchId ${batch.batchId} is not an integer`);
    }
    const tree = buildMerkleTree(leaves);
    const body = {
      batchId: BigInt(batch.batchId),
      signer: this.signer,
      createdAt: batch.createdAt,
      count: tree.count,
      root: tree.root,
      keyId: this.keyId,
    };
    const signature = sign(null, batchSigningPayload(body), this.#privateKey);
    return { ...body, signature, proofs: tree.proofs };
  }
}
