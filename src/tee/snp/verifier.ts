import { CheckRunner, finishVerification } from '../appraisal.ts';
import { isAllZero } from '../bytes.ts';
import type { EvidenceVerifier, SnpCollateral, VerificationResult, VerifyOptions } from '../types.ts';
import {
  assembleSnpChain,
  checkArkPin,
  checkAskProduct,
  checkChainSignatures,
  checkChainValidity,
  createEmbeddedAmdCas,
  type EmbeddedAmdCas,
} from './chain.ts';
import { describeSnpReport, snpReportProduct } from './describe.ts';
import { checkSnpPolicy, decodeSnpPolicy, SNP_POLICY_FLAGS, type SnpPolicyRequirements } from './policy.ts';
import {
  parseSnpReport,
  SNP_REPORT_SIZE,
  SNP_REPORT_VERSIONS,
  SNP_SIG_ALGO_ECDSA_P384_SHA384,
  type SnpReport,
} from './report.ts';
import { checkSnpReportShape } from './report-shape.ts';
import { parseSnpVek, type SnpVek } from './vcek.ts';
import {
  checkChipId,
  checkReportedTcb,
  checkReportSignature,
  checkSigningKeyKind,
  checkVekProduct,
  vekRemedy,
} from './vek-binding.ts';

/** Options of {@link createSnpVerifier}. */
export interface SnpVerifierOptions {
  /**
   * What the guest policy and VMPL must satisfy besides DEBUG (which `VerifyOptions.allowDebug`
   * governs). Default: MIGRATE_MA refused, nothing else required.
   */
  readonly policy?: SnpPolicyRequirements;
}

function assertPolicyOptions(policy: SnpPolicyRequirements): void {
  for (const flag of [...(policy.require ?? []), ...(policy.forbid ?? [])]) {
    if (!(SNP_POLICY_FLAGS as readonly string[]).includes(flag)) {
      throw new TypeError(
        `unknown SEV-SNP policy flag ${JSON.stringify(flag)}; known: ${SNP_POLICY_FLAGS.join(', ')}`,
      );
    }
  }
  const { maxVmpl, minAbi } = policy;
  if (maxVmpl !== undefined && !(Number.isInteger(maxVmpl) && maxVmpl >= 0 && maxVmpl <= 3)) {
    throw new TypeError('policy.maxVmpl must be an integer from 0 to 3');
  }
  if (minAbi && !(Number.isInteger(minAbi.major) && Number.isInteger(minAbi.minor))) {
    throw new TypeError('policy.minAbi must have integer major and minor');
  }
}

function assertVerifyArgs(evidence: unknown, options: VerifyOptions | undefined): void {
  if (!(evidence instanceof Uint8Array)) throw new TypeError('evidence must be a Uint8Array');
  if (!(options?.at instanceof Date) || Number.isNaN(options.at.getTime())) {
    throw new TypeError('options.at must be a valid Date: the verification time is an explicit input');
  }
}

function missingVekMessage(report: SnpReport): string {
  const product = snpReportProduct(report);
  const remedy = vekRemedy(report, {
    product: product ?? 'Milan',
    kind: report.signingKey === 'vlek' ? 'vlek' : 'vcek',
  });
  const note =
    product === null && report.signingKey !== 'vlek' ? ' (for a Genoa host, replace Milan by Genoa)' : '';
  return `no ${report.signingKey === 'vlek' ? 'VLEK' : 'VCEK'} in the collateral, so the report signature cannot be checked; ${remedy}${note}, and pass it with --collateral`;
}

function loadVek(runner: CheckRunner, report: SnpReport, snp: SnpCollateral | undefined): SnpVek | undefined {
  if (!snp?.vcek) {
    runner.fail(
      'vcek-present',
      'ERR_COLLATERAL_MISSING',
      missingVekMessage(report),
      'absent',
      'VCEK or VLEK certificate (DER or PEM)',
    );
    return undefined;
  }
  const vcek = snp.vcek;
  return runner.run('vcek-parse', () => parseSnpVek(vcek));
}

function runVekChecks(
  runner: CheckRunner,
  report: SnpReport,
  vek: SnpVek,
  options: VerifyOptions,
  embedded: EmbeddedAmdCas,
): void {
  runner.run('vcek-product', () => checkVekProduct(report, vek));
  runner.run('signing-key', () => checkSigningKeyKind(report, vek));
  const chain = runner.run('chain-parse', () => assembleSnpChain(vek, options.collateral?.snp, embedded));
  if (!chain) return;
  runner.run('ask-product', () => checkAskProduct(chain));
  runner.run('ark-pin', () => checkArkPin(chain));
  runner.run('cert-chain', () => checkChainSignatures(chain));
  runner.run('cert-validity', () => checkChainValidity(chain, options.at));
  if (vek.hwId === null || isAllZero(report.chipId)) {
    runner.skip(
      'chip-id',
      vek.kind === 'vlek' ? 'a VLEK has no hwID to compare' : 'CHIP_ID is masked (all zero)',
    );
  } else {
    runner.run('chip-id', () => checkChipId(report, vek));
  }
  runner.run('reported-tcb', () => checkReportedTcb(report, vek));
  runner.run('report-signature', () => checkReportSignature(report, vek));
}

function appraisePolicy(
  result: VerificationResult,
  runner: CheckRunner,
  report: SnpReport,
  policy: SnpPolicyRequirements,
): VerificationResult {
  if (!result.genuine) return result;
  runner.run('guest-policy', () => checkSnpPolicy(decodeSnpPolicy(report.policy), report.vmpl, policy));
  return {
    ...result,
    accepted: result.accepted && runner.ok,
    refusal: runner.refusal,
    checks: [...runner.checks],
  };
}

/** Cheap sniffing: long enough, a known version, signature algorithm 1. Never throws. */
function looksLikeSnpReport(evidence: Uint8Array): boolean {
  if (!(evidence instanceof Uint8Array) || evidence.length < SNP_REPORT_SIZE) return false;
  const view = new DataView(evidence.buffer, evidence.byteOffset, evidence.byteLength);
  const version = view.getUint32(0, true);
  return (
    (SNP_REPORT_VERSIONS as readonly number[]).includes(version) &&
    view.getUint32(0x34, true) === SNP_SIG_ALGO_ECDSA_P384_SHA384
  );
}

/**
 * Creates the AMD SEV-SNP verifier (`sev-snp`). It checks, in order: the report shape; the VCEK (or
 * VLEK) from the collateral and its product; the chain VCEK ← ASK ← ARK (ASK/ARK from the
 * collateral or embedded), the ARK pinned per product, every certificate valid at `options.at`;
 * CHIP_ID = hwID; REPORTED_TCB = the VCEK's SPLs; the report signature. Genuine reports are then
 * appraised: DEBUG (refused unless `allowDebug`), the guest policy requirements. SEV-SNP has no
 * TCB Info: a report that passes every check is `UpToDate`, with no advisories.
 *
 * @example
 * const verifier = createSnpVerifier({ policy: { forbid: ['smt'], maxVmpl: 0 } });
 * const result = await verifier.verify(report, { at: new Date(), collateral: { snp: { vcek } } });
 */
export function createSnpVerifier(options: SnpVerifierOptions = {}): EvidenceVerifier {
  const policy = options.policy ?? {};
  assertPolicyOptions(policy);
  const embedded = createEmbeddedAmdCas();
  return {
    name: 'sev-snp',
    canVerify: looksLikeSnpReport,
    inspect(evidence) {
      if (!(evidence instanceof Uint8Array)) throw new TypeError('evidence must be a Uint8Array');
      const report = parseSnpReport(evidence);
      return describeSnpReport(report, snpReportProduct(report));
    },
    async verify(evidence, verifyOptions) {
      assertVerifyArgs(evidence, verifyOptions);
      verifyOptions.signal?.throwIfAborted();
      const report = parseSnpReport(evidence);
      const runner = new CheckRunner();
      runner.run('report-shape', () => checkSnpReportShape(report));
      const vek = runner.ok ? loadVek(runner, report, verifyOptions.collateral?.snp) : undefined;
      if (vek) runVekChecks(runner, report, vek, verifyOptions, embedded);
      const parsed = describeSnpReport(report, snpReportProduct(report, vek?.product ?? null));
      const verdict = { tcbStatus: runner.ok ? ('UpToDate' as const) : ('Unknown' as const), advisories: [] };
      return appraisePolicy(
        finishVerification(parsed, runner, verdict, verifyOptions),
        runner,
        report,
        policy,
      );
    },
  };
}
