/**
 * The contract every {@link EvidenceVerifier} passes, whatever its platform. Run it with
 * {@link runVerifierContract} once per implementation (see `verifiers.test.ts`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isTeeError } from '../../src/tee/errors.ts';
import type { EvidenceVerifier, VerifyOptions } from '../../src/tee/types.ts';

/** A verifier with one piece of genuine evidence and the options that make it verify. */
export interface VerifierUnderTest {
  readonly verifier: EvidenceVerifier;
  readonly evidence: Uint8Array;
  /** Options (time, collateral, appraisal) under which `evidence` is genuine. */
  readonly options: VerifyOptions;
  /** A byte offset inside the signed region, whose change must make the evidence not genuine. */
  readonly signedOffset: number;
  /** Evidence of the other formats, which this verifier must not claim. */
  readonly foreign: readonly Uint8Array[];
}

/** Evidence outcome: a result, or the TeeError it threw. Anything else fails the test. */
async function outcome(v: EvidenceVerifier, evidence: Uint8Array, options: VerifyOptions) {
  try {
    return { result: await v.verify(evidence, options) };
  } catch (err) {
    assert.ok(isTeeError(err), `verify threw a non-TeeError: ${String(err)}`);
    assert.match(err.code, /^ERR_EVIDENCE_/);
    return { error: err };
  }
}

/** Registers the contract tests for one verifier. */
export function runVerifierContract(name: string, make: () => Promise<VerifierUnderTest>): void {
  describe(`EvidenceVerifier contract: ${name}`, () => {
    it('recognizes its own evidence and not the other formats', async () => {
      const t = await make();
      assert.equal(t.verifier.canVerify(t.evidence), true);
      for (const other of t.foreign) assert.equal(t.verifier.canVerify(other), false);
      assert.equal(t.verifier.canVerify(new Uint8Array(0)), false);
    });

    it('verifies genuine evidence and reports the same identity as inspect', async () => {
      const t = await make();
      const r = await t.verifier.verify(t.evidence, t.options);
      assert.equal(r.genuine, true, r.refusal?.message);
      assert.equal(r.refusal === null, r.accepted);
      const p = t.verifier.inspect(t.evidence);
      assert.equal(r.platform, p.platform);
      assert.equal(r.measurement, p.measurement);
      assert.equal(r.reportData, p.reportData);
      assert.equal(r.debug, p.debug);
      assert.match(r.reportData, /^[0-9a-f]{128}$/);
      assert.ok(r.checks.length > 0 && r.checks.every((c) => typeof c.check === 'string'));
    });

    it('refuses evidence whose signed bytes were changed, naming the failed check', async () => {
      const t = await make();
      const bad = Buffer.from(t.evidence);
      bad[t.signedOffset]! ^= 0x01;
      const o = await outcome(t.verifier, bad, t.options);
      if (o.result) {
        assert.equal(o.result.genuine, false);
        assert.equal(o.result.accepted, false);
        const refusal = o.result.refusal;
        assert.ok(refusal, 'a refusal must say why');
        assert.ok(refusal.code.startsWith('ERR_'));
        assert.ok(refusal.check.length > 0 && refusal.message.length > 0);
      }
    });

    it('gives a result or an ERR_EVIDENCE_* error for every truncation, never another exception', async () => {
      const t = await make();
      const step = Math.max(1, Math.floor(t.evidence.length / 64));
      for (let n = 0; n < t.evidence.length; n += step) {
        const o = await outcome(t.verifier, t.evidence.subarray(0, n), t.options);
        // Cutting only trailing zero padding leaves the same evidence; cutting anything else must not.
        const cutPaddingOnly = t.evidence.subarray(n).every((b) => b === 0);
        if (o.result && !cutPaddingOnly)
          assert.equal(o.result.accepted, false, `accepted a ${n}-byte truncation`);
      }
    });

    it('throws a TypeError when the verification time is missing', async () => {
      const t = await make();
      await assert.rejects(
        t.verifier.verify(t.evidence, { ...t.options, at: undefined as unknown as Date }),
        TypeError,
      );
    });

    it('refuses genuine evidence outside its validity window or accepts it only within', async () => {
      const t = await make();
      const far = await outcome(t.verifier, t.evidence, {
        ...t.options,
        at: new Date('2099-01-01T00:00:00Z'),
      });
      // sim evidence has no validity window; hardware evidence is bound to certificates that expire.
      if (far.result && far.result.platform !== 'sim') assert.equal(far.result.accepted, false);
    });
  });
}
