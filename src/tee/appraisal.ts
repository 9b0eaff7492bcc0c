import { isTeeError, type TeeErrorCode } from './errors.ts';
import {
  type CheckOutcome,
  DEFAULT_ACCEPTED_TCB,
  type ParsedEvidence,
  type Refusal,
  type TcbStatus,
  type VerificationResult,
  type VerifyOptions,
} from './types.ts';

/**
 * Runs the authenticity checks of one verification in order and records each outcome. The first
 * failing check becomes the refusal; later checks are skipped (a forged quote needs no TCB verdict).
 */
export class CheckRunner {
  readonly #checks: CheckOutcome[] = [];
  #refusal: Refusal | null = null;

  /** True while no check has failed. */
  get ok(): boolean {
    return this.#refusal === null;
  }

  get refusal(): Refusal | null {
    return this.#refusal;
  }

  get checks(): readonly CheckOutcome[] {
    return this.#checks;
  }

  /**
   * Runs `fn` as check `check` unless an earlier check failed. A thrown TeeError is recorded as the
   * refusal and `undefined` returned; any other exception is a bug and propagates.
   */
  run<T>(check: string, fn: () => T): T | undefined {
    if (!this.ok) return undefined;
    try {
      const value = fn();
      this.#checks.push({ check, ok: true });
      return value;
    } catch (err) {
      if (!isTeeError(err)) throw err;
      this.fail(err.detail.check ?? check, err.code, err.message, err.detail.value, err.detail.expected);
      return undefined;
    }
  }

  /**
   * Records a check that could not be performed (its input is missing) without refusing: the
   * outcome is `ok: false, skipped: true` and `message` says what was not checked and why.
   */
  skip(check: string, message: string): void {
    if (this.ok) this.#checks.push({ check, ok: false, skipped: true, message });
  }

  /** Records a failed check directly. */
  fail(check: string, code: TeeErrorCode, message: string, value?: string, expected?: string): void {
    this.#checks.push({ check, ok: false, code, message });
    if (this.#refusal === null) {
      this.#refusal = {
        code,
        check,
        message,
        ...(value !== undefined ? { value } : {}),
        ...(expected !== undefined ? { expected } : {}),
      };
    }
  }
}

/** What the authenticity phase established about the platform's TCB. */
export interface TcbVerdict {
  readonly tcbStatus: TcbStatus;
  readonly advisories: readonly string[];
}

/**
 * Finishes a verification: appraises genuine evidence against the options (simulation, debug, TCB
 * status) and builds the normalized {@link VerificationResult}.
 */
export function finishVerification(
  parsed: ParsedEvidence,
  runner: CheckRunner,
  verdict: TcbVerdict,
  options: VerifyOptions,
): VerificationResult {
  const genuine = runner.ok;
  if (genuine) {
    if (parsed.platform === 'sim' && !options.allowSimulation) {
      runner.fail(
        'simulation',
        'ERR_SIMULATION',
        'SIMULATION evidence from the software sim backend protects nothing; it is refused unless simulation is explicitly allowed (--allow-simulation / policy allowSimulation: true)',
        'sim',
        'sgx, tdx or sev-snp',
      );
    } else if (parsed.debug && !options.allowDebug) {
      runner.fail(
        'debug',
        'ERR_DEBUG',
        `the ${parsed.platform} evidence comes from a DEBUG ${parsed.platform === 'sev-snp' ? 'guest' : parsed.platform === 'tdx' ? 'TD' : 'enclave'} whose memory the host can read; it is refused unless debug is explicitly allowed (--allow-debug / policy allowDebug: true)`,
        'debug=true',
        'debug=false',
      );
    } else {
      const accepted = options.acceptTcb ?? DEFAULT_ACCEPTED_TCB;
      if (!accepted.includes(verdict.tcbStatus)) {
        const adv = verdict.advisories.length > 0 ? ` (advisories: ${verdict.advisories.join(', ')})` : '';
        const remedy =
          verdict.tcbStatus === 'Unknown'
            ? 'supply TCB collateral (--collateral) so that the TCB can be judged'
            : 'update the platform (microcode/BIOS/TCB recovery) or accept this status explicitly (--accept STATUS / policy tcb.accept)';
        runner.fail(
          'tcb-status',
          'ERR_TCB_STATUS',
          `TCB status ${verdict.tcbStatus}${adv} is not accepted; accepted: ${accepted.join(', ')}; ${remedy}`,
          verdict.tcbStatus,
          accepted.join('|'),
        );
      }
    }
  }
  return {
    ...parsed,
    genuine,
    accepted: genuine && runner.ok,
    tcbStatus: verdict.tcbStatus,
    advisories: verdict.advisories,
    simulation: parsed.platform === 'sim',
    refusal: runner.refusal,
    checks: runner.checks,
  };
}
