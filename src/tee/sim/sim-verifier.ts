import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { CheckRunner, finishVerification } from '../appraisal.ts';
import { fromHex, toHex } from '../bytes.ts';
import { TeeError } from '../errors.ts';
import type { EvidenceVerifier, ParsedEvidence, VerificationResult, VerifyOptions } from '../types.ts';
import {
  isSimEvidence,
  type ParsedSimEvidence,
  parseSimEvidence,
  simKeyFingerprint,
  simSigningInput,
} from './sim-evidence.ts';

/** Options of {@link createSimVerifier}. */
export interface SimVerifierOptions {
  /**
   * Sim platform keys to accept: raw Ed25519 public keys (32 bytes or 64 hex digits, as in
   * `SimBackend.platformKey`) or fingerprints `sha256:<hex>`. When given, evidence signed by any other
   * sim platform is refused with ERR_SIM_PLATFORM_KEY. When absent, any sim platform is accepted.
   */
  readonly trustedPlatformKeys?: readonly (string | Uint8Array)[];
}

/**
 * Creates the verifier of `sim-v1` evidence (name `sim`, platform `sim`). Checks, in order:
 * `sim-signature` (ERR_SIM_SIGNATURE), `sim-platform-key` when trusted keys are configured
 * (ERR_SIM_PLATFORM_KEY); then the common appraisal, which refuses all sim evidence with
 * ERR_SIMULATION unless `allowSimulation` is set. Genuine sim evidence has TCB status `UpToDate`.
 * SIMULATION evidence protects nothing, whatever this verifier says about it.
 */
export function createSimVerifier(options: SimVerifierOptions = {}): EvidenceVerifier {
  const trusted =
    options.trustedPlatformKeys === undefined ? null : options.trustedPlatformKeys.map(toFingerprint);
  return {
    name: 'sim',
    canVerify: (evidence) => evidence instanceof Uint8Array && isSimEvidence(evidence),
    inspect: (evidence) => toParsedEvidence(parseSimEvidence(evidence)),
    verify: async (evidence, verifyOptions) => verifySim(evidence, verifyOptions, trusted),
  };
}

async function verifySim(
  evidence: Uint8Array,
  options: VerifyOptions,
  trusted: readonly string[] | null,
): Promise<VerificationResult> {
  if (
    options === null ||
    typeof options !== 'object' ||
    !(options.at instanceof Date) ||
    Number.isNaN(options.at.getTime())
  ) {
    throw new TypeError('verify needs options.at, a valid Date');
  }
  options.signal?.throwIfAborted();
  const sim = parseSimEvidence(evidence);
  const parsed = toParsedEvidence(sim);
  const runner = new CheckRunner();
  runner.run('sim-signature', () => checkSignature(sim));
  if (trusted !== null) runner.run('sim-platform-key', () => checkTrusted(sim, trusted));
  return finishVerification(
    parsed,
    runner,
    { tcbStatus: runner.ok ? 'UpToDate' : 'Unknown', advisories: [] },
    options,
  );
}

function checkSignature(sim: ParsedSimEvidence): void {
  let key: KeyObject;
  try {
    key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(sim.platformKey).toString('base64url') },
      format: 'jwk',
    });
  } catch {
    throw new TeeError(
      'ERR_SIM_SIGNATURE',
      'the sim platform key in the evidence is not a valid Ed25519 public key',
      {
        check: 'sim-signature',
        value: toHex(sim.platformKey),
      },
    );
  }
  if (!verify(null, simSigningInput(sim.signed), key, sim.signature)) {
    throw new TeeError(
      'ERR_SIM_SIGNATURE',
      'the sim evidence signature does not verify with its platform key: the evidence was altered or forged',
      {
        check: 'sim-signature',
        value: toHex(sim.signature).slice(0, 32),
        expected: 'an Ed25519 signature by the platform key',
      },
    );
  }
}

function checkTrusted(sim: ParsedSimEvidence, trusted: readonly string[]): void {
  const fingerprint = simKeyFingerprint(sim.platformKey);
  if (!trusted.includes(fingerprint)) {
    throw new TeeError(
      'ERR_SIM_PLATFORM_KEY',
      `the sim evidence comes from sim platform ${fingerprint}, which is not among the trusted sim platform keys; add it to trustedPlatformKeys if that platform is yours`,
      { check: 'sim-platform-key', value: fingerprint, expected: trusted.join('|') },
    );
  }
}

function toParsedEvidence(sim: ParsedSimEvidence): ParsedEvidence {
  return {
    platform: 'sim',
    format: 'sim-v1',
    measurement: toHex(sim.measurement),
    signer: toHex(sim.signer),
    productId: sim.productId,
    svn: sim.svn,
    debug: sim.debug,
    reportData: toHex(sim.reportData),
    details: { simPlatformKey: simKeyFingerprint(sim.platformKey), simulation: true },
  };
}

function toFingerprint(key: string | Uint8Array): string {
  if (key instanceof Uint8Array && key.length === 32) return simKeyFingerprint(key);
  if (typeof key === 'string') {
    const text = key.trim().toLowerCase();
    if (/^sha256:[0-9a-f]{64}$/.test(text)) return text;
    if (/^[0-9a-f]{64}$/.test(text)) return simKeyFingerprint(fromHex(text));
  }
  throw new TypeError(
    'trustedPlatformKeys entries must be raw Ed25519 public keys (32 bytes or 64 hex digits) or sha256:<hex> fingerprints',
  );
}
