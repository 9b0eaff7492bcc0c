import assert from 'node:assert/strict';
import { createDecipheriv, createSecretKey, hkdfSync, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { isTeeError } from '../../src/tee/errors.ts';
import {
  createAeadSealer,
  deriveGramineSealKey,
  deriveSimSealKey,
  SEAL_KEY_IDS,
  SEAL_SALT,
} from '../../src/tee/seal.ts';
import { throwsWithCode } from './backend-contract.ts';

const secret = Buffer.alloc(32, 7);
const measurement = Buffer.alloc(32, 0xab);

function simSealer(m: Uint8Array = measurement) {
  return createAeadSealer(SEAL_KEY_IDS.sim, deriveSimSealKey(secret, m));
}

describe('sealed-blob format', () => {
  it('writes magic, version, key id, a 12-byte nonce, the ciphertext and a 16-byte tag', () => {
    const blob = Buffer.from(simSealer().seal(Buffer.from('hello')));
    assert.equal(blob.subarray(0, 4).toString('latin1'), 'SCSL');
    assert.equal(blob[4], 1);
    assert.equal(blob[5], SEAL_KEY_IDS.sim);
    assert.equal(blob.length, 18 + 5 + 16);
  });

  it('derives the sim key as documented: HKDF-SHA256(secret, salt, "securecloud-seal-v1" ‖ measurement)', () => {
    const key = Buffer.from(
      hkdfSync(
        'sha256',
        secret,
        SEAL_SALT,
        Buffer.concat([Buffer.from('securecloud-seal-v1'), measurement]),
        32,
      ),
    );
    const blob = Buffer.from(simSealer().seal(Buffer.from('known answer'), Buffer.from('ad')));
    const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(6, 18));
    decipher.setAAD(Buffer.concat([blob.subarray(0, 18), Buffer.from('ad')]));
    decipher.setAuthTag(blob.subarray(blob.length - 16));
    const plain = Buffer.concat([decipher.update(blob.subarray(18, blob.length - 16)), decipher.final()]);
    assert.equal(plain.toString(), 'known answer');
  });

  it('derives the Gramine key from the 16-byte _sgx_mrenclave key and refuses other sizes', () => {
    const key = randomBytes(16);
    const sealer = createAeadSealer(SEAL_KEY_IDS['gramine-sgx-mrenclave'], deriveGramineSealKey(key));
    const again = createAeadSealer(SEAL_KEY_IDS['gramine-sgx-mrenclave'], deriveGramineSealKey(key));
    assert.equal(Buffer.from(again.unseal(sealer.seal(Buffer.from('x')))).toString(), 'x');
    assert.throws(() => deriveGramineSealKey(randomBytes(32)), TypeError);
    assert.throws(() => deriveSimSealKey(randomBytes(16), measurement), TypeError);
  });

  it('refuses every single-bit change of a blob', () => {
    const sealer = simSealer();
    const blob = Buffer.from(sealer.seal(randomBytes(40), Buffer.from('ad')));
    for (let i = 0; i < blob.length; i++) {
      const altered = Buffer.from(blob);
      altered[i] = (altered[i] ?? 0) ^ 0x80;
      assert.throws(
        () => sealer.unseal(altered, Buffer.from('ad')),
        (err: unknown) => isTeeError(err) && ['ERR_SEAL_INTEGRITY', 'ERR_SEAL_FORMAT'].includes(err.code),
        `byte ${i}`,
      );
    }
  });

  it('says ERR_SEAL_INTEGRITY for another measurement, other associated data and another key id', () => {
    const blob = simSealer().seal(Buffer.from('secret'), Buffer.from('a'));
    throwsWithCode(() => simSealer(Buffer.alloc(32, 1)).unseal(blob, Buffer.from('a')), 'ERR_SEAL_INTEGRITY');
    throwsWithCode(() => simSealer().unseal(blob, Buffer.from('b')), 'ERR_SEAL_INTEGRITY');
    const gramine = createAeadSealer(
      SEAL_KEY_IDS['gramine-sgx-mrenclave'],
      deriveGramineSealKey(randomBytes(16)),
    );
    throwsWithCode(() => gramine.unseal(blob, Buffer.from('a')), 'ERR_SEAL_INTEGRITY');
  });

  it('says ERR_SEAL_FORMAT for short blobs, a wrong magic, version or unknown key id', () => {
    const sealer = simSealer();
    const blob = Buffer.from(sealer.seal(Buffer.from('x')));
    throwsWithCode(() => sealer.unseal(blob.subarray(0, 33)), 'ERR_SEAL_FORMAT');
    throwsWithCode(() => sealer.unseal(new Uint8Array(0)), 'ERR_SEAL_FORMAT');
    for (const [at, value] of [
      [0, 0x41],
      [4, 2],
      [5, 99],
    ] as const) {
      const bad = Buffer.from(blob);
      bad[at] = value;
      throwsWithCode(() => sealer.unseal(bad), 'ERR_SEAL_FORMAT');
    }
  });

  it('uses a fresh nonce for every seal', () => {
    const sealer = simSealer();
    const nonces = new Set(
      Array.from({ length: 50 }, () =>
        Buffer.from(sealer.seal(Buffer.from('same')))
          .subarray(6, 18)
          .toString('hex'),
      ),
    );
    assert.equal(nonces.size, 50);
  });

  it('throws a TypeError on misuse and after close', () => {
    const sealer = simSealer();
    assert.throws(() => sealer.seal('text' as unknown as Uint8Array), TypeError);
    assert.throws(() => sealer.unseal(Buffer.alloc(40), 'ad' as unknown as Uint8Array), TypeError);
    assert.throws(() => createAeadSealer(SEAL_KEY_IDS.sim, createSecretKey(randomBytes(16))), TypeError);
    sealer.close();
    assert.throws(() => sealer.seal(Buffer.from('x')), TypeError);
  });
});
