/**
 * `securecloud status`: reads `DATA/up.json` of the running deployment, asks each service's
 * `/healthz`, the MDCs' `/v1/stats` (with the audit token the owner key reads from the CAS), and
 * combines them with the simulator's rounds.
 */
import { readFile } from 'node:fs/promises';
import { readAuditToken } from './bootstrap.ts';
import { DeployError } from './errors.ts';
import { getJson } from './https-json.ts';
import {
  isProcessAlive,
  readUpState,
  reportsPerSecond,
  type ServiceRecord,
  type UpState,
} from './state-file.ts';

/** One service in a status report. */
export interface ServiceStatus extends ServiceRecord {
  /** The process exists. */
  readonly alive: boolean;
  /** `/healthz` answered (null: the service has no health endpoint, or is not running). */
  readonly healthy: boolean | null;
}

/** Counters of a status report. */
export interface StatusCounters {
  /** Readings in the MDC databases (null when no MDC answered). */
  readonly readingsStored: number | null;
  /** Meter sessions held by the MDCs (meters connected). */
  readonly metersConnected: number | null;
  readonly reportsPerSecond: number;
  /** Refusals by reason, from the MDCs (or the simulator's receipts when no MDC answered). */
  readonly refusals: Readonly<Record<string, number>>;
  readonly rounds: number;
  readonly restarts: number;
}

/** What `securecloud status --json` prints. */
export interface StatusReport {
  readonly name: string;
  readonly dataDir: string;
  readonly supervisorPid: number;
  readonly startedAt: string;
  readonly tee: string;
  readonly simulation: boolean;
  readonly casUrl: string;
  readonly services: readonly ServiceStatus[];
  readonly counters: StatusCounters;
}

/**
 * The status of the deployment running on `dataDir`.
 *
 * @throws DeployError `ERR_NOT_RUNNING` when none runs.
 */
export async function collectStatus(dataDir: string, o: { timeoutMs?: number } = {}): Promise<StatusReport> {
  const state = await readUpState(dataDir);
  if (state === null || !isProcessAlive(state.supervisorPid))
    throw new DeployError(
      'ERR_NOT_RUNNING',
      state === null
        ? `no deployment runs on ${dataDir} (no up.json there): start one with \`securecloud up\``
        : `no deployment runs on ${dataDir}: its supervisor (pid ${state.supervisorPid}) is gone; \`securecloud up\` starts it again`,
    );
  const timeoutMs = o.timeoutMs ?? 3000;
  const rootPem = await readFile(state.casRoot, 'utf8').catch(() => '');
  const token = await readToken(state, rootPem);
  const services = await Promise.all(
    state.services.map(async (s): Promise<ServiceStatus> => {
      const alive = isProcessAlive(s.pid);
      if (s.healthUrl === null || !alive || rootPem === '') return { ...s, alive, healthy: null };
      const service = s.kind === 'mdc' ? 'mdc' : s.kind;
      const healthy = await getJson(s.healthUrl, { ca: rootPem, service, timeoutMs }).then(
        () => true,
        () => false,
      );
      return { ...s, alive, healthy };
    }),
  );
  let readingsStored: number | null = null;
  let metersConnected: number | null = null;
  let refusals: Record<string, number> | null = null;
  for (const s of services) {
    if (s.kind !== 'mdc' || !s.alive || s.healthUrl === null || token === null) continue;
    const stats = (await getJson(s.healthUrl.replace(/\/healthz$/, '/v1/stats'), {
      ca: rootPem,
      service: 'mdc',
      token,
      timeoutMs,
    }).catch(() => null)) as {
      readings?: number;
      sessions?: number;
      refusals?: Record<string, number>;
    } | null;
    if (stats === null) continue;
    readingsStored = (readingsStored ?? 0) + (stats.readings ?? 0);
    metersConnected = (metersConnected ?? 0) + (stats.sessions ?? 0);
    refusals ??= {};
    for (const [k, n] of Object.entries(stats.refusals ?? {})) refusals[k] = (refusals[k] ?? 0) + n;
  }
  return {
    name: state.name,
    dataDir: state.dataDir,
    supervisorPid: state.supervisorPid,
    startedAt: state.startedAt,
    tee: state.tee,
    simulation: state.simulation,
    casUrl: state.casUrl,
    services,
    counters: {
      readingsStored,
      metersConnected,
      reportsPerSecond: Math.round(reportsPerSecond(state.rounds)),
      refusals: refusals ?? state.totals.refusals,
      rounds: state.totals.rounds,
      restarts: state.services.reduce((n, s) => n + s.restarts, 0),
    },
  };
}

async function readToken(state: UpState, rootPem: string): Promise<string | null> {
  if (rootPem === '') return null;
  try {
    const owner = await readFile(state.ownerKey, 'utf8');
    return await readAuditToken(state.casUrl, rootPem, owner);
  } catch {
    return null;
  }
}
