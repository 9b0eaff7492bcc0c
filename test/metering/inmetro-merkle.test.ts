import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  buildMerkleTree,
  merkleLeafHash,
  merkleNodeHash,
  merkleProof,
  merkleRoot,
  verifyMerkleProof,
} from '../../src/metering/inmetro/index.ts';

const sha = (...parts: Uint8Array[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => Buffer.from(s, 'hex');

// RFC 6962 reference, written from the RFC's text (MTH and PATH by the largest-power-of-two split).
const split = (n: number) => 2 ** Math.ceil(Math.log2(n) - 1);
function refRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0]!;
  const k = split(leaves.length);
  return sha(Buffer.of(1), refRoot(leaves.slice(0, k)), refRoot(leaves.slice(k)));
}
function refPath(m: number, leaves: Buffer[]): Buffer[] {
  if (leaves.length === 1) return [];
  const k = split(leaves.length);
  return m < k
    ? [...refPath(m, leaves.slice(0, k)), refRoot(leaves.slice(k))]
    : [...refPath(m - k, leaves.slice(k)), refRoot(leaves.slice(0, k))];
}

// Certificate Transparency / transparency-dev reference leaves, roots and inclusion proofs.
const CT_LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
]
  .map(unhex)
  .map((d) => merkleLeafHash(d));
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

describe('Merkle tree (RFC 6962)', () => {
  const [a, b, c, d, e] = ['a', 'b', 'c', 'd', 'e'].map((s) =>
    merkleLeafHash(Buffer.from(s)),
  ) as Buffer[] as [Buffer, Buffer, Buffer, Buffer, Buffer];

  it('hashes leaves as SHA-256(0x00 ‖ data) and nodes as SHA-256(0x01 ‖ left ‖ right)', () => {
    assert.deepEqual(merkleLeafHash(Buffer.from('a')), sha(Buffer.of(0), Buffer.from('a')));
    assert.deepEqual(merkleNodeHash(a, b), sha(Buffer.of(1), a, b));
  });

  it('gives hand-computed roots and proofs for 1, 2, 3 and 5 leaves', () => {
    assert.deepEqual(merkleRoot([a]), a);
    assert.equal(merkleProof([a], 0).length, 0);
    const ab = sha(Buffer.of(1), a, b);
    assert.deepEqual(merkleRoot([a, b]), ab);
    assert.deepEqual(merkleRoot([a, b, c]), sha(Buffer.of(1), ab, c));
    assert.deepEqual(merkleProof([a, b, c], 0), Buffer.concat([b, c]));
    assert.deepEqual(merkleProof([a, b, c], 2), ab);
    const abcd = sha(Buffer.of(1), ab, sha(Buffer.of(1), c, d));
    assert.deepEqual(merkleRoot([a, b, c, d, e]), sha(Buffer.of(1), abcd, e));
    assert.deepEqual(merkleProof([a, b, c, d, e], 4), abcd);
    assert.deepEqual(merkleProof([a, b, c, d, e], 3), Buffer.concat([c, ab, e]));
  });

  it('reproduces the Certificate Transparency reference roots for sizes 1 to 8', () => {
    for (let n = 1; n <= 8; n++)
      assert.equal(hex(merkleRoot(CT_LEAVES.slice(0, n))), CT_ROOTS[n - 1], `size ${n}`);
  });

  it('reproduces the Certificate Transparency reference inclusion proofs', () => {
    const p0 = [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ].join('');
    const p5 = [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ].join('');
    assert.equal(hex(merkleProof(CT_LEAVES, 0)), p0);
    assert.equal(hex(merkleProof(CT_LEAVES, 5)), p5);
    const root = unhex(CT_ROOTS[7]!);
    assert.ok(verifyMerkleProof(CT_LEAVES[0]!, 0, 8, unhex(p0), root));
    assert.ok(verifyMerkleProof(CT_LEAVES[5]!, 5, 8, unhex(p5), root));
  });

  it('matches the RFC shape for sizes 1 to 17: every proof verifies, and wrong index, leaf, root or count fail', () => {
    const all = Array.from({ length: 17 }, (_, i) => merkleLeafHash(Buffer.of(i, i * 7)));
    for (let n = 1; n <= 17; n++) {
      const leaves = all.slice(0, n);
      const tree = buildMerkleTree(leaves);
      const root = refRoot(leaves);
      assert.deepEqual(tree.root, root, `root of ${n}`);
      assert.deepEqual(merkleRoot(leaves), root);
      const other = merkleLeafHash(Buffer.from('other'));
      for (let i = 0; i < n; i++) {
        const proof = tree.proofs[i]!;
        const where = `leaf ${i} of ${n}`;
        assert.deepEqual(proof, Buffer.concat(refPath(i, leaves)), where);
        assert.deepEqual(merkleProof(leaves, i), proof, where);
        assert.ok(verifyMerkleProof(leaves[i]!, i, n, proof, root), where);
        assert.ok(!verifyMerkleProof(other, i, n, proof, root), `${where}: other leaf`);
        assert.ok(!verifyMerkleProof(leaves[i]!, i, n, proof, other), `${where}: other root`);
        for (let j = 0; j < n; j++) {
          if (j !== i) assert.ok(!verifyMerkleProof(leaves[i]!, j, n, proof, root), `${where} at index ${j}`);
        }
        assert.ok(!verifyMerkleProof(leaves[i]!, i, 0, proof, root), `${where}: count 0`);
        assert.ok(!verifyMerkleProof(leaves[i]!, i, i, proof, root), `${where}: count = index`);
        for (let m = i + 1; m <= 17; m++) {
          // A count with another path shape must fail; the signed batch binds the count to the root.
          const shapeDiffers = refPath(i, all.slice(0, m)).length * 32 !== proof.length;
          if (m !== n && shapeDiffers)
            assert.ok(!verifyMerkleProof(leaves[i]!, i, m, proof, root), `${where}: count ${m}`);
        }
        if (proof.length > 0) {
          const flipped = Buffer.from(proof);
          flipped[flipped.length - 1]! ^= 1;
          assert.ok(!verifyMerkleProof(leaves[i]!, i, n, flipped, root), `${where}: flipped bit`);
          assert.ok(!verifyMerkleProof(leaves[i]!, i, n, proof.subarray(32), root), `${where}: truncated`);
          assert.ok(
            !verifyMerkleProof(leaves[i]!, i, n, proof.subarray(1), root),
            `${where}: not 32-byte aligned`,
          );
        }
        assert.ok(
          !verifyMerkleProof(leaves[i]!, i, n, Buffer.concat([proof, other]), root),
          `${where}: extended`,
        );
      }
    }
  });

  it('refuses an empty tree, leaves that are not 32-byte hashes and indexes outside the tree', () => {
    assert.throws(() => merkleRoot([]), TypeError);
    assert.throws(() => merkleRoot([Buffer.alloc(31)]), /32-byte leaf hash/);
    assert.throws(() => merkleProof([Buffer.alloc(32)], 1), /outside the tree/);
    assert.ok(!verifyMerkleProof(Buffer.alloc(32), -1, 2, Buffer.alloc(32), Buffer.alloc(32)));
    assert.ok(!verifyMerkleProof(Buffer.alloc(32), 0.5, 2, Buffer.alloc(32), Buffer.alloc(32)));
  });
});
