// INMETRO batch signing: leaves, the signed batch format, its documented test vector and key helpers.
// To print the vectors after a deliberate format change: PRINT_VECTORS=1 node --import tsx --test this file.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { freshKeyPair } from '../../src/crypto/index.ts';
import { createSigningKeyPair, encodeInstantaneousResponse, rawPublicKey } from '../../src/metering/index.ts';
import {
  batchSigningPayload,
  decodeSignedBatch,
  encodeSignedBatch,
  exportInmetroPublicKey,
  InmetroBatchSigner,
  importInmetroPublicKey,
  inmetroKeyId,
  isInmetroError,
  merkleLeafHash,
  readingLeaf,
  type SignedBatch,
  verifyBatchSignature,
  verifyMerkleProof,
} from '../../src/metering/inmetro/index.ts';
import { sampleReport, seed, T0 } from './protocol-fixture.ts';

const QUARTER = 900_000;
const INMETRO = createSigningKeyPair(seed('securecloud/inmetro/test-vector'));
const VECTOR_BLOCKS = [
  encodeInstantaneousResponse(sampleReport('00012345', T0)),
  encodeInstantaneousResponse(sampleReport('00012345', T0 + QUARTER)),
  encodeInstantaneousResponse(sampleReport('00067890', T0)),
];
const VECTOR_CREATED_AT = Date.UTC(2026, 0, 15, 12, 16, 0);

function vectorBatch() {
  const signer = new InmetroBatchSigner({ privateKey: INMETRO.privateKey, signer: 'mdc-1' });
  return signer.sign({ batchId: 1n, createdAt: VECTOR_CREATED_AT, blocks: VECTOR_BLOCKS });
}

function computeVectors(): Record<string, Uint8Array> {
  const batch = vectorBatch();
  return {
    'inmetro-public-key': rawPublicKey(INMETRO.publicKey),
    'reading-leaf-0': readingLeaf(VECTOR_BLOCKS[0]!),
    'batch-root': batch.root,
    'proof-0': batch.proofs[0]!,
    'proof-2': batch.proofs[2]!,
    'batch-payload': batchSigningPayload(batch),
    'batch-signature': batch.signature,
  };
}

function docVectors(): Map<string, string> {
  const doc = readFileSync(new URL('../../docs/inmetro-signatures.md', import.meta.url), 'utf8');
  const found = new Map<string, string>();
  for (const m of doc.matchAll(/<!-- vector: ([a-z0-9-]+) -->\s*```text\n([0-9a-f\s]+)```/g)) {
    found.set(m[1] ?? '', (m[2] ?? '').replace(/\s+/g, ''));
  }
  return found;
}

describe('INMETRO documented test vectors', () => {
  const vectors = computeVectors();
  if (process.env.PRINT_VECTORS) {
    for (const [name, bytes] of Object.entries(vectors)) {
      const hex = Buffer.from(bytes)
        .toString('hex')
        .replace(/(.{64})/g, '$1\n')
        .trim();
      console.log(`<!-- vector: ${name} -->\n\`\`\`text\n${hex}\n\`\`\`\n`);
    }
  }
  const documented = docVectors();
  for (const [name, bytes] of Object.entries(vectors)) {
    it(`reproduces the documented ${name} vector`, () => {
      assert.equal(documented.get(name), Buffer.from(bytes).toString('hex'), `vector ${name}`);
    });
  }
});

describe('readingLeaf', () => {
  it('is the RFC 6962 leaf hash of the tag and the 258-byte block', () => {
    const block = VECTOR_BLOCKS[0]!;
    const expected = createHash('sha256')
      .update(Buffer.of(0))
      .update('securecloud/inmetro/reading/v1\0')
      .update(block)
      .digest();
    assert.deepEqual(readingLeaf(block), expected);
    assert.deepEqual(
      readingLeaf(block),
      merkleLeafHash(Buffer.from('securecloud/inmetro/reading/v1\0'), block),
    );
  });

  it('refuses a block that is not 258 bytes', () => {
    assert.throws(() => readingLeaf(new Uint8Array(66)), /258-byte response block, got 66/);
  });
});

describe('InmetroBatchSigner', () => {
  it('signs a batch whose every reading verifies with its proof and the INMETRO public key', () => {
    const batch = vectorBatch();
    assert.equal(batch.count, 3);
    assert.equal(batch.batchId, 1n);
    assert.equal(batch.signer, 'mdc-1');
    assert.equal(batch.keyId, createHash('sha256').update(rawPublicKey(INMETRO.publicKey)).digest('hex'));
    assert.equal(batch.signature.length, 64);
    assert.ok(verifyBatchSignature(batch, INMETRO.publicKey));
    VECTOR_BLOCKS.forEach((block, i) => {
      assert.ok(verifyMerkleProof(readingLeaf(block), i, batch.count, batch.proofs[i]!, batch.root));
    });
  });

  it('lays the signed payload out as documented: tag, u64 id, u64 time, u32 count, root, key id, signer', () => {
    const batch = vectorBatch();
    const p = batchSigningPayload(batch);
    assert.equal(p.subarray(0, 29).toString('latin1'), 'securecloud/inmetro/batch/v1\0');
    assert.equal(p.readBigUInt64BE(29), 1n);
    assert.equal(Number(p.readBigUInt64BE(37)), VECTOR_CREATED_AT);
    assert.equal(p.readUInt32BE(45), 3);
    assert.deepEqual(p.subarray(49, 81), Buffer.from(batch.root));
    assert.equal(p.subarray(81, 113).toString('hex'), batch.keyId);
    assert.equal(p[113], 5);
    assert.equal(p.subarray(114).toString('utf8'), 'mdc-1');
    assert.equal(p.length, 119);
  });

  it('refuses a batch whose fields were altered, a wrong key, or a foreign key id', () => {
    const batch = vectorBatch();
    const other = createSigningKeyPair(seed('not-inmetro'));
    const altered: SignedBatch[] = [
      { ...batch, batchId: 2n },
      { ...batch, createdAt: batch.createdAt + 1 },
      { ...batch, count: 4 },
      { ...batch, root: Buffer.alloc(32) },
      { ...batch, signer: 'mdc-2' },
      { ...batch, keyId: inmetroKeyId(other.publicKey) },
      { ...batch, signature: Buffer.from(batch.signature).fill(0, 0, 1) },
      { ...batch, signature: batch.signature.subarray(1) },
      { ...batch, root: batch.root.subarray(1) },
      { ...batch, batchId: -1 },
    ];
    for (const b of altered) assert.equal(verifyBatchSignature(b, INMETRO.publicKey), false);
    assert.equal(verifyBatchSignature(batch, other.publicKey), false);
    assert.equal(
      verifyBatchSignature({ ...batch, batchId: 1 }, INMETRO.publicKey),
      true,
      'number ids are the same id',
    );
  });

  it('refuses misuse: an empty batch, a public key, a signer name out of bounds', () => {
    const signer = new InmetroBatchSigner({ privateKey: INMETRO.privateKey, signer: 'mdc-1' });
    assert.throws(() => signer.sign({ batchId: 1, createdAt: 0, blocks: [] }), /empty batch/);
    assert.throws(() => signer.sign({ batchId: 1.5, createdAt: 0, blocks: VECTOR_BLOCKS }), TypeError);
    assert.throws(() => signer.sign({ batchId: 1, createdAt: -1, blocks: VECTOR_BLOCKS }), /createdAt/);
    assert.throws(
      () => new InmetroBatchSigner({ privateKey: INMETRO.publicKey, signer: 'x' }),
      (e) => isInmetroError(e, 'ERR_INMETRO_KEY'),
    );
    assert.throws(
      () => new InmetroBatchSigner({ privateKey: INMETRO.privateKey, signer: '' }),
      /signer is 0/,
    );
    assert.throws(
      () => new InmetroBatchSigner({ privateKey: INMETRO.privateKey, signer: 'x'.repeat(256) }),
      TypeError,
    );
  });
});

describe('signed batch encoding', () => {
  it('round-trips payload ‖ signature and still verifies', () => {
    const batch = vectorBatch();
    const bytes = encodeSignedBatch(batch);
    assert.equal(bytes.length, 119 + 64);
    const back = decodeSignedBatch(bytes);
    assert.deepEqual(back, {
      batchId: 1n,
      createdAt: VECTOR_CREATED_AT,
      count: 3,
      root: new Uint8Array(batch.root),
      keyId: batch.keyId,
      signer: 'mdc-1',
      signature: new Uint8Array(batch.signature),
    });
    assert.ok(verifyBatchSignature(back, INMETRO.publicKey));
  });

  it('refuses a truncated, extended, mistagged or malformed encoding with ERR_INMETRO_BATCH_MALFORMED', () => {
    const bytes = encodeSignedBatch(vectorBatch());
    const malformed = (e: unknown) => isInmetroError(e, 'ERR_INMETRO_BATCH_MALFORMED');
    assert.throws(() => decodeSignedBatch(bytes.subarray(0, 100)), malformed);
    assert.throws(() => decodeSignedBatch(bytes.subarray(0, bytes.length - 1)), malformed);
    assert.throws(() => decodeSignedBatch(Buffer.concat([bytes, Buffer.of(0)])), malformed);
    const v2 = Buffer.from(bytes);
    v2[27] = 0x32; // "v2"
    assert.throws(() => decodeSignedBatch(v2), malformed);
    const zeroCount = Buffer.from(bytes);
    zeroCount.writeUInt32BE(0, 45);
    assert.throws(() => decodeSignedBatch(zeroCount), /count 0/);
    const badUtf8 = Buffer.from(bytes);
    badUtf8[114] = 0xff;
    assert.throws(() => decodeSignedBatch(badUtf8), malformed);
  });
});

describe('INMETRO key helpers', () => {
  it('exports and imports the public key as PEM SPKI and as 32 raw bytes', () => {
    const pem = exportInmetroPublicKey(INMETRO.publicKey, 'pem');
    assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n/);
    assert.equal(exportInmetroPublicKey(INMETRO.privateKey, 'pem'), pem, 'the public half of a private key');
    const raw = exportInmetroPublicKey(INMETRO.publicKey, 'raw');
    assert.equal(raw.length, 32);
    for (const key of [importInmetroPublicKey(pem), importInmetroPublicKey(raw)]) {
      assert.ok(key.equals(INMETRO.publicKey));
      assert.equal(inmetroKeyId(key), inmetroKeyId(INMETRO.privateKey));
    }
  });

  it('refuses garbage, a wrong length and a key of another algorithm with ERR_INMETRO_KEY', () => {
    const keyError = (e: unknown) => isInmetroError(e, 'ERR_INMETRO_KEY');
    assert.throws(() => importInmetroPublicKey('not a key'), keyError);
    assert.throws(() => importInmetroPublicKey(new Uint8Array(31)), keyError);
    const x25519 = freshKeyPair('x25519').publicKey.export({ format: 'pem', type: 'spki' }).toString();
    assert.throws(() => importInmetroPublicKey(x25519), /expected an Ed25519 public key/);
  });
});
