/**
 * `DATA/up.json`: what the supervisor of a running deployment publishes for `securecloud status`
 * (its pid, each service's pid, ports, state, restarts, attestation, and the simulator's last rounds).
 * Written atomically; removed on a graceful stop. Holds no secret.
 */

import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RoundStats } from '../metering/simulator/simulator.ts';

/** Kinds of service a deployment runs. */
export type ServiceKind = 'cas' | 'cascadb' | 'scbr-router' | 'mdc' | 'aggregator' | 'simulator';

/** Life-cycle states of a supervised service. */
export type ServiceState =
  | 'starting'
  | 'running'
  | 'restarting'
  | 'stopping'
  | 'stopped'
  | 'completed'
  | 'failed';

/** One supervised service, as published. */
export interface ServiceRecord {
  readonly name: string;
  readonly kind: ServiceKind;
  readonly pid: number | null;
  readonly state: ServiceState;
  readonly restarts: number;
  /** True once the CAS granted this process (CAS: its own evidence verified). */
  readonly attested: boolean;
  readonly instanceId: string | null;
  readonly platform: string | null;
  readonly simulation: boolean;
  readonly ports: readonly number[];
  /** HTTPS `/healthz` URL (CAS root as trust anchor), if the service has one. */
  readonly healthUrl: string | null;
  readonly startedAt: string | null;
  /** How the last process ended (`exit code 1`, `signal SIGKILL`). */
  readonly lastExit: string | null;
  readonly logFile: string;
}

/**
 * One simulator round: the `round` JSON line of `meters simulate` (the fleet's {@link RoundStats}
 * with the interval as an ISO time `at`), plus when it arrived.
 */
export interface RoundRecord extends Omit<RoundStats, 'intervalEnd'> {
  readonly at: string;
  readonly receivedAt: string;
}

/** Sums over every round since the deployment started. */
export interface RoundTotals {
  readonly rounds: number;
  readonly sent: number;
  readonly stored: number;
  readonly duplicates: number;
  readonly unacknowledged: number;
  readonly refusals: Readonly<Record<string, number>>;
}

/** The content of `DATA/up.json`. */
export interface UpState {
  readonly version: 1;
  readonly supervisorPid: number;
  readonly startedAt: string;
  readonly updatedAt: string;
  readonly name: string;
  readonly dataDir: string;
  readonly deploymentFile: string | null;
  readonly tee: string;
  readonly simulation: boolean;
  readonly host: string;
  readonly casUrl: string;
  readonly casRoot: string;
  readonly ownerKey: string;
  readonly services: readonly ServiceRecord[];
  /** The last rounds (at most {@link MAX_ROUNDS_KEPT}). */
  readonly rounds: readonly RoundRecord[];
  readonly totals: RoundTotals;
}

/** Rounds kept in the state file. */
export const MAX_ROUNDS_KEPT = 50;

/** `DATA/up.json`. */
export const stateFilePath = (dataDir: string): string => join(dataDir, 'up.json');

/** Writes the state atomically (temporary file, rename). */
export async function writeUpState(state: UpState): Promise<void> {
  const path = stateFilePath(state.dataDir);
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

/** Removes the state file (graceful stop). */
export async function removeUpState(dataDir: string): Promise<void> {
  await rm(stateFilePath(dataDir), { force: true });
}

/** The state file, or null when there is none or it is not one of ours. */
export async function readUpState(dataDir: string): Promise<UpState | null> {
  let text: string;
  try {
    text = await readFile(stateFilePath(dataDir), 'utf8');
  } catch {
    return null;
  }
  try {
    const v = JSON.parse(text) as Partial<UpState>;
    if (v.version !== 1 || typeof v.supervisorPid !== 'number' || !Array.isArray(v.services)) return null;
    return v as UpState;
  } catch {
    return null;
  }
}

/** True when a process with this pid exists (signal 0). */
export function isProcessAlive(pid: number | null | undefined): boolean {
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The state of the deployment running on `dataDir`, or null when none runs (no state file, or its
 * supervisor is gone: a stale file, left by a crash).
 */
export async function runningDeployment(dataDir: string): Promise<UpState | null> {
  const state = await readUpState(dataDir);
  return state !== null && isProcessAlive(state.supervisorPid) ? state : null;
}

/** Adds a round to the totals. */
export function addRound(t: RoundTotals, r: RoundRecord): RoundTotals {
  const refusals: Record<string, number> = { ...t.refusals };
  for (const [k, n] of Object.entries(r.refusals)) refusals[k] = (refusals[k] ?? 0) + n;
  return {
    rounds: t.rounds + 1,
    sent: t.sent + r.sent,
    stored: t.stored + r.stored,
    duplicates: t.duplicates + r.duplicates,
    unacknowledged: t.unacknowledged + r.unacknowledged,
    refusals,
  };
}

/** Totals of no round. */
export const NO_ROUNDS: RoundTotals = {
  rounds: 0,
  sent: 0,
  stored: 0,
  duplicates: 0,
  unacknowledged: 0,
  refusals: {},
};

/**
 * Reports per second over the last rounds: reports sent between the first and the last of them,
 * divided by the wall time between them (one round: its own duration). 0 without rounds.
 */
export function reportsPerSecond(rounds: readonly RoundRecord[], window = 10): number {
  const last = rounds.slice(-window);
  if (last.length === 0) return 0;
  if (last.length === 1) {
    const r = last[0]!;
    return r.seconds > 0 ? r.sent / r.seconds : 0;
  }
  const first = Date.parse(last[0]!.receivedAt);
  const end = Date.parse(last.at(-1)!.receivedAt);
  const span = (end - first) / 1000;
  const sent = last.slice(1).reduce((s, r) => s + r.sent, 0);
  return span > 0 ? sent / span : 0;
}
