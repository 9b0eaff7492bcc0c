import type { VerificationResult } from '../tee/index.ts';
import type { AttestationRefusal } from './errors.ts';
import type { AcceptEntry, ServicePolicy } from './policy-types.ts';

/** Why a service policy does not accept genuine evidence. */
export interface AppraisalRefusal {
  readonly refusal: AttestationRefusal;
  /** What was found, what the policy expects, and which policy line to change. */
  readonly message: string;
}

/**
 * Judges genuine evidence against one service's policy, in the protocol's order: platform,
 * simulation, debug, measurement (any `accept` entry), TCB status and advisories. Returns null when
 * the policy accepts the evidence. `service` names the policy section in messages.
 *
 * @example
 * const verdict = appraise(policy.services.mdc, result, 'mdc');
 * if (verdict) console.log(verdict.refusal, verdict.message);
 */
export function appraise(
  policy: ServicePolicy,
  result: VerificationResult,
  service = 'SERVICE',
): AppraisalRefusal | null {
  const at = `services.${service}`;
  if (!policy.platforms.includes(result.platform)) {
    return {
      refusal: 'platform-not-accepted',
      message: `evidence from platform ${result.platform} is not accepted; ${at}.platforms lists ${policy.platforms.join(', ')}`,
    };
  }
  if (result.simulation && !policy.allowSimulation) {
    return {
      refusal: 'simulation-not-allowed',
      message: `SIMULATION evidence (sim backend, protects nothing) is refused; set ${at}.allowSimulation: true only for tests`,
    };
  }
  if (result.debug && !policy.allowDebug) {
    return {
      refusal: 'debug-not-allowed',
      message: `the evidence comes from a DEBUG ${result.platform} TEE whose memory the host can read; ${at}.allowDebug is false`,
    };
  }
  if (!policy.accept.some((entry) => matches(entry, result))) {
    const identity = `measurement ${result.measurement}, signer ${result.signer ?? '-'}, productId ${result.productId ?? '-'}, svn ${result.svn ?? '-'}`;
    return {
      refusal: 'measurement-not-accepted',
      message: `no entry of ${at}.accept matches the evidence (${identity}); add its measurement to ${at}.accept if this build is yours`,
    };
  }
  return appraiseTcb(policy, result, at);
}

function matches(entry: AcceptEntry, result: VerificationResult): boolean {
  if ('measurement' in entry) return entry.measurement.toLowerCase() === result.measurement.toLowerCase();
  return (
    result.signer !== null &&
    entry.signer.toLowerCase() === result.signer.toLowerCase() &&
    result.productId === entry.productId &&
    result.svn !== null &&
    result.svn >= entry.minSvn
  );
}

function appraiseTcb(policy: ServicePolicy, result: VerificationResult, at: string): AppraisalRefusal | null {
  const statusOk = policy.tcb.accept.includes(result.tcbStatus);
  const untolerated = result.advisories.filter((a) => !policy.tcb.advisories.includes(a));
  if (statusOk && untolerated.length === 0) return null;
  const advisories = result.advisories.length > 0 ? result.advisories.join(', ') : 'none';
  const changes: string[] = [];
  if (!statusOk) changes.push(`add ${result.tcbStatus} to ${at}.tcb.accept`);
  if (untolerated.length > 0) changes.push(`add ${untolerated.join(', ')} to ${at}.tcb.advisories`);
  const remedy =
    result.tcbStatus === 'Unknown'
      ? 'send TCB collateral with the evidence so that the TCB can be judged, or '
      : 'update the platform (microcode, BIOS, TCB recovery), or accept the risk: ';
  return {
    refusal: 'tcb-status-not-accepted',
    message:
      `TCB status ${result.tcbStatus} with advisories ${advisories} is not accepted ` +
      `(${at}.tcb.accept: ${policy.tcb.accept.join(', ') || 'none'}; tolerated advisories: ${policy.tcb.advisories.join(', ') || 'none'}); ` +
      `${remedy}${changes.join(' and ')}`,
  };
}
