/**
 * The contract every {@link TeeBackend} passes. Run it with {@link runBackendContract} once per
 * implementation (see `backends.test.ts`).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isTeeError, type TeeErrorCode } from '../../src/tee/errors.ts';
import type { Sealer, TeeBackend } from '../../src/tee/types.ts';

/** A backend prepared for the contract, with what the contract cannot know by itself. */
export interface BackendUnderTest {
  readonly backend: TeeBackend;
  /**
   * Asserts that `evidence` is accepted (by the matching verifier, where one exists in this context)
   * or at least parses, and that it carries exactly `reportData`.
   */
  assertEvidence(evidence: Uint8Array, reportData: Uint8Array): Promise<void>;
  /** A sealer on the same platform for another measurement; null when the backend cannot seal. */
  readonly otherMeasurementSealer: (() => Promise<Sealer>) | null;
  close(): Promise<void>;
}

/** Asserts that `promise` rejects with a TeeError of `code`. */
export async function rejectsWithCode(promise: Promise<unknown>, code: TeeErrorCode): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(isTeeError(err), `expected a TeeError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** Asserts that `fn` throws a TeeError of `code`. */
export function throwsWithCode(fn: () => unknown, code: TeeErrorCode): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isTeeError(err), `expected a TeeError ${code}, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return true;
  });
}

/** Runs the backend contract against the backend `makeBackend` prepares. */
export function runBackendContract(name: string, makeBackend: () => Promise<BackendUnderTest>): void {
  describe(`TeeBackend contract: ${name}`, () => {
    let sut: BackendUnderTest;
    before(async () => {
      sut = await makeBackend();
    });
    after(async () => {
      await sut.close();
    });

    it('binds exactly the 64 report-data bytes given', async () => {
      const reportData = randomBytes(64);
      const evidence = await sut.backend.getEvidence(reportData);
      assert.ok(evidence instanceof Uint8Array && evidence.length > 64);
      await sut.assertEvidence(evidence, reportData);
    });

    it('refuses report data that is not 64 bytes with a TypeError', async () => {
      for (const bad of [new Uint8Array(0), new Uint8Array(63), new Uint8Array(65), 'x'.repeat(64), null]) {
        await assert.rejects(sut.backend.getEvidence(bad as Uint8Array), TypeError);
      }
    });

    it('gives different evidence when the report data differs', async () => {
      const a = randomBytes(64);
      const b = Buffer.from(a);
      b[63] = (b[63] ?? 0) ^ 1;
      const ea = await sut.backend.getEvidence(a);
      const eb = await sut.backend.getEvidence(b);
      assert.notDeepEqual(Buffer.from(ea), Buffer.from(eb));
      await sut.assertEvidence(ea, a);
      await sut.assertEvidence(eb, b);
    });

    it('rejects with an AbortError when the signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(sut.backend.getEvidence(randomBytes(64), { signal: controller.signal }), {
        name: 'AbortError',
      });
    });

    it('names a platform and says whether it simulates', () => {
      assert.ok(['sgx', 'tdx', 'sev-snp', 'sim'].includes(sut.backend.platform));
      assert.equal(sut.backend.simulation, sut.backend.platform === 'sim');
    });

    it('seals so that only the same measurement unseals, or says ERR_BACKEND_UNAVAILABLE when it cannot seal', async () => {
      if (sut.otherMeasurementSealer === null) {
        await rejectsWithCode(sut.backend.sealer(), 'ERR_BACKEND_UNAVAILABLE');
        return;
      }
      const sealer = await sut.backend.sealer();
      const other = await sut.otherMeasurementSealer();
      checkSealer(sealer, other);
    });
  });
}

function checkSealer(sealer: Sealer, other: Sealer): void {
  const plaintext = randomBytes(1000);
  const ad = Buffer.from('job-42');
  const blob = sealer.seal(plaintext, ad);
  assert.deepEqual(Buffer.from(sealer.unseal(blob, ad)), plaintext);
  assert.deepEqual(Buffer.from(sealer.unseal(sealer.seal(new Uint8Array(0)))), Buffer.alloc(0));
  assert.notDeepEqual(Buffer.from(sealer.seal(plaintext, ad)), Buffer.from(blob), 'nonces must differ');
  // Nonce (byte 6), first ciphertext byte (18), last tag byte.
  for (const at of [6, 17, 18, blob.length - 1]) {
    const altered = Buffer.from(blob);
    altered[at] = (altered[at] ?? 0) ^ 0x01;
    throwsWithCode(() => sealer.unseal(altered, ad), 'ERR_SEAL_INTEGRITY');
  }
  throwsWithCode(() => sealer.unseal(blob, Buffer.from('job-43')), 'ERR_SEAL_INTEGRITY');
  throwsWithCode(() => sealer.unseal(blob), 'ERR_SEAL_INTEGRITY');
  throwsWithCode(() => other.unseal(blob, ad), 'ERR_SEAL_INTEGRITY');
  throwsWithCode(() => sealer.unseal(other.seal(plaintext, ad), ad), 'ERR_SEAL_INTEGRITY');
  throwsWithCode(() => sealer.unseal(blob.subarray(0, 20), ad), 'ERR_SEAL_FORMAT');
}
