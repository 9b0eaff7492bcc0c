// INMETRO signatures over stored readings: signed Merkle batches (500 and 5,000 readings; 64, 256 for the
// storage trade-off) against one Ed25519 signature per reading, measured in the same run. Per reading:
// µs to sign, µs to verify one reading (proof + batch signature, and with the batch signature already
// verified), bytes stored beside the block. Prints JSON with ratios per-reading-signature / Merkle.
// Usage: npm run bench -- inmetro [--readings N]
import { sign, verify } from 'node:crypto';
import { createSigningKeyPair, encodeInstantaneousResponse } from '../src/metering/index.ts';
import {
  encodeSignedBatch,
  InmetroBatchSigner,
  READING_TAG,
  readingLeaf,
  verifyBatchSignature,
  verifyMerkleProof,
} from '../src/metering/inmetro/index.ts';
import { sampleReport, seed, T0 } from '../test/metering/protocol-fixture.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const READINGS = Number(arg('--readings')) || 10_000;
const BATCH_SIZES = [64, 256, 500, 5000];
const KEY = createSigningKeyPair(seed('bench/inmetro'));

// Real 0x14 blocks from many meters, as one MDC commit would see them.
const blocks = Array.from({ length: READINGS }, (_, i) =>
  encodeInstantaneousResponse({
    ...sampleReport(String(10_000_000 + (i % 5000)), T0 + Math.floor(i / 5000) * 900_000),
    demand: Math.fround(i),
  }),
);

const ROUNDS = 3;
const SAMPLE = 2000;

/**
 * µs per item of `fn`: the best of {@link ROUNDS} rounds of up to {@link SAMPLE} calls spread over
 * `items`, after a warm-up. The best round is the one least disturbed by other work on the machine.
 */
function perItem(items: number, fn: (i: number) => void): number {
  const calls = Math.min(items, SAMPLE);
  const stride = Math.max(1, Math.floor(items / calls));
  for (let i = 0; i < Math.min(200, items); i++) fn(i);
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    const t = performance.now();
    for (let k = 0; k < calls; k++) fn((k * stride + round) % items);
    best = Math.min(best, ((performance.now() - t) * 1000) / calls);
  }
  return best;
}
const round = (x: number) => Math.round(x * 100) / 100;

function perReadingSignatures() {
  const message = (b: Uint8Array) => Buffer.concat([READING_TAG, b]);
  const signatures = blocks.map((b) => sign(null, message(b), KEY.privateKey));
  const signUs = perItem(blocks.length, (i) => sign(null, message(blocks[i]!), KEY.privateKey));
  const verifyUs = perItem(blocks.length, (i) => {
    if (!verify(null, message(blocks[i]!), KEY.publicKey, signatures[i]!)) throw new Error('bad signature');
  });
  return { signUs: round(signUs), verifyUs: round(verifyUs), bytesPerReading: 64 };
}

function merkleBatches(size: number) {
  const signer = new InmetroBatchSigner({ privateKey: KEY.privateKey, signer: 'mdc-bench' });
  const count = Math.floor(blocks.length / size);
  const slices = Array.from({ length: count }, (_, k) => blocks.slice(k * size, (k + 1) * size));
  let signed = slices.map((s, k) => signer.sign({ batchId: k, createdAt: T0, blocks: s }));
  const n = count * size;
  let signUs = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    const t = performance.now();
    signed = slices.map((s, k) => signer.sign({ batchId: k, createdAt: T0, blocks: s }));
    signUs = Math.min(signUs, ((performance.now() - t) * 1000) / n);
  }
  const where = (i: number) => ({ batch: signed[Math.floor(i / size)]!, leaf: i % size });
  const proofOk = (i: number) => {
    const { batch, leaf } = where(i);
    return verifyMerkleProof(readingLeaf(blocks[i]!), leaf, batch.count, batch.proofs[leaf]!, batch.root);
  };
  // A single-meter audit meets a new batch at almost every reading: the batch signature is not cached.
  const verifyUs = perItem(n, (i) => {
    if (!proofOk(i) || !verifyBatchSignature(where(i).batch, KEY.publicKey)) throw new Error('bad proof');
  });
  const verifyCachedUs = perItem(n, (i) => {
    if (!proofOk(i)) throw new Error('bad proof');
  });
  const proofBytes = signed.reduce((s, b) => s + b.proofs.reduce((p, x) => p + x.length, 0), 0) / n;
  const { proofs: _p, ...first } = signed[0]!;
  const batchRecordBytes = encodeSignedBatch(first).length;
  // Beside the block each row stores its proof, batch id (8) and leaf index (4); the batch record is shared.
  const bytesPerReading = proofBytes + 12 + batchRecordBytes / size;
  return {
    batchSize: size,
    batches: count,
    signUs: round(signUs),
    verifyUs: round(verifyUs),
    verifyCachedUs: round(verifyCachedUs),
    proofBytes: round(proofBytes),
    batchRecordBytes,
    bytesPerReading: round(bytesPerReading),
  };
}

const started = performance.now();
const perReading = perReadingSignatures();
const merkle = BATCH_SIZES.map(merkleBatches).map((m) => ({
  ...m,
  ratio: {
    sign: round(perReading.signUs / m.signUs),
    verify: round(perReading.verifyUs / m.verifyUs),
    verifyCached: round(perReading.verifyUs / m.verifyCachedUs),
    bytes: round(perReading.bytesPerReading / m.bytesPerReading),
  },
}));
console.log(
  JSON.stringify(
    {
      bench: 'inmetro',
      node: process.version,
      readings: READINGS,
      method: `best of ${ROUNDS} rounds (signing: every batch; per-reading work: ${SAMPLE} readings per round)`,
      note: 'µs and bytes per reading; ratio = per-reading Ed25519 / Merkle batch (> 1: Merkle is cheaper)',
      perReadingSignature: perReading,
      merkle,
      seconds: round((performance.now() - started) / 1000),
    },
    null,
    2,
  ),
);
