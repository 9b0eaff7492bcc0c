/**
 * `securecloud up` as a library: prepares the data directory, starts the CAS (recovering its state
 * after a code change), applies the policy, uploads the secrets, starts CascaDB, the SCBR router, the MDC shards, the
 * aggregators and the meter simulator as supervised processes, publishes `DATA/up.json`, and stops
 * everything in order.
 */

import { randomBytes } from 'node:crypto';
import { appendFileSync, readFileSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadUserKey, signPolicy } from '../cas/index.ts';
import { detectTeeBackend, measureService } from '../tee/index.ts';
import {
  applyPolicyAndSecrets,
  casStateNeedsRecovery,
  ensureMeters,
  ensureOwnerKey,
  ensureRecoveryKey,
  runOnce,
  type Say,
  verifyCas,
} from './bootstrap.ts';
import { type Deployment, deploymentPorts } from './deployment-file.ts';
import { buildDeploymentPolicy } from './deployment-policy.ts';
import { DeployError } from './errors.ts';
import { getJson } from './https-json.ts';
import { ManagedService, type ServiceEvent, type ServiceSpec } from './managed-service.ts';
import { assertPortsFree } from './ports.ts';
import {
  aggregatorSpec,
  cascadbSpec,
  casSpec,
  casUrlOf,
  type DataLayout,
  dataLayout,
  mdcSpec,
  type SpecContext,
  scbrRouterSpec,
  simulatorSpec,
} from './service-specs.ts';
import {
  addRound,
  isProcessAlive,
  MAX_ROUNDS_KEPT,
  NO_ROUNDS,
  type RoundRecord,
  type RoundTotals,
  readUpState,
  removeUpState,
  type UpState,
  writeUpState,
} from './state-file.ts';

const SRC = fileURLToPath(new URL('../', import.meta.url));
const BIN_DIR = dirname(fileURLToPath(new URL('../../bin/securecloud', import.meta.url)));

/** The SIMULATION banner. */
export const SIMULATION_BANNER =
  '*** SIMULATION: no SGX, TDX or SEV-SNP here; the sim TEE backend protects nothing ***';

/** Options of {@link startDeployment}. */
export interface StartDeploymentOptions {
  readonly deployment: Deployment;
  /** The file it came from, for the state file and messages. */
  readonly deploymentFile: string | null;
  /** Progress and supervisor messages, one line each. */
  readonly say: Say;
  /** Each simulator round. */
  readonly onRound?: (round: RoundRecord) => void;
}

/** Live counters read from the MDCs. */
export interface LiveCounters {
  /** Readings stored in every shard's database. */
  readonly readingsStored: number;
  /** Meter sessions the MDCs hold (meters connected). */
  readonly sessions: number;
  readonly refusals: Readonly<Record<string, number>>;
  /** Shards that did not answer. */
  readonly unreachable: readonly string[];
}

/** A running deployment. */
export interface RunningDeployment {
  readonly deployment: Deployment;
  readonly simulation: boolean;
  readonly casUrl: string;
  /** The current state (also in DATA/up.json). */
  snapshot(): UpState;
  /** Queries the MDCs' /v1/stats. */
  counters(): Promise<LiveCounters>;
  /** Resolves when the simulator finished its rounds (never when `meters.rounds` is 0). */
  readonly simulatorDone: Promise<void>;
  /** Stops the simulator, aggregators, MDCs, SCBR router, CascaDB and the CAS, in that order; removes up.json. */
  stop(): Promise<void>;
}

/**
 * Starts the deployment and returns once every service is ready.
 *
 * @throws DeployError (ports in use, already running, a service that does not start…); whatever
 * had started is stopped first.
 */
export async function startDeployment(o: StartDeploymentOptions): Promise<RunningDeployment> {
  const d = o.deployment;
  const l = dataLayout(d.dataDir);
  await mkdir(l.logs, { recursive: true, mode: 0o700 });
  o = { ...o, say: supervisorLog(join(l.logs, 'up.log'), o.say) };
  await refuseIfRunning(d, o.say);
  await assertPortsFree(d.host, deploymentPorts(d));
  const tee = d.tee === 'auto' ? (await detectTeeBackend()).name : d.tee;
  const simulation = tee === 'sim';
  if (simulation) o.say(SIMULATION_BANNER);
  o.say(`deployment ${d.name}: data in ${d.dataDir}, TEE ${tee}${simulation ? ' (SIMULATION)' : ''}`);
  const run = new Deployed(d, l, { tee, simulation }, o);
  try {
    await run.start();
    return run;
  } catch (err) {
    await run.stop();
    throw err;
  }
}

/** Also writes every message to `file` as a JSON line with a correlation id for this run. */
function supervisorLog(file: string, say: Say): Say {
  const run = randomBytes(4).toString('hex');
  return (line) => {
    say(line);
    try {
      appendFileSync(
        file,
        `${JSON.stringify({ time: new Date().toISOString(), level: 'info', service: 'up', run, pid: process.pid, msg: line })}\n`,
        { mode: 0o600 },
      );
    } catch {
      // The log is a convenience; the message was shown.
    }
  };
}

async function refuseIfRunning(d: Deployment, say: Say): Promise<void> {
  const prev = await readUpState(d.dataDir);
  if (prev === null) return;
  if (isProcessAlive(prev.supervisorPid) && prev.supervisorPid !== process.pid)
    throw new DeployError(
      'ERR_ALREADY_RUNNING',
      `a deployment already runs on ${d.dataDir} (supervisor pid ${prev.supervisorPid}): see \`securecloud status\`, stop it with Ctrl-C or \`kill ${prev.supervisorPid}\``,
    );
  // A supervisor that died without stopping its services leaves them running: stop them.
  const order = ['simulator', 'aggregator', 'mdc', 'scbr-router', 'cascadb', 'cas'];
  const left = [...prev.services].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  for (const s of left) {
    if (s.pid === null || !isProcessAlive(s.pid) || !isOurs(s.pid)) continue;
    say(`stopping ${s.name} (pid ${s.pid}), left running by a supervisor that is gone`);
    try {
      process.kill(s.pid, 'SIGTERM');
    } catch {
      continue;
    }
    for (let i = 0; i < 100 && isProcessAlive(s.pid); i++) await new Promise((r) => setTimeout(r, 100));
    if (isProcessAlive(s.pid)) process.kill(s.pid, 'SIGKILL');
  }
  await removeUpState(d.dataDir);
}

/** True when `pid` runs the securecloud command (Linux /proc); elsewhere, never touch it. */
function isOurs(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('securecloud');
  } catch {
    return false;
  }
}

class Deployed implements RunningDeployment {
  readonly deployment: Deployment;
  readonly simulation: boolean;
  readonly casUrl: string;
  readonly simulatorDone: Promise<void>;
  readonly #l: DataLayout;
  readonly #ctx: SpecContext;
  readonly #o: StartDeploymentOptions;
  readonly #services: ManagedService[] = [];
  readonly #startedAt = new Date().toISOString();
  #rounds: RoundRecord[] = [];
  #totals: RoundTotals = NO_ROUNDS;
  #token = '';
  #rootPem = '';
  #publishing: Promise<void> = Promise.resolve();
  #publishQueued = false;
  #stopped = false;
  #simulatorDone!: () => void;

  constructor(
    d: Deployment,
    l: DataLayout,
    t: { tee: string; simulation: boolean },
    o: StartDeploymentOptions,
  ) {
    this.deployment = d;
    this.simulation = t.simulation;
    this.casUrl = casUrlOf(d);
    this.#l = l;
    this.#o = o;
    this.#ctx = { deployment: d, layout: l, tee: t.tee, simulation: t.simulation };
    this.simulatorDone = new Promise((resolve) => {
      this.#simulatorDone = resolve;
    });
  }

  #say(line: string): void {
    this.#o.say(line);
  }

  #manage(spec: ServiceSpec): ManagedService {
    const r = this.deployment.restart;
    const s = new ManagedService(
      spec,
      {
        initialMs: r.initialSeconds * 1000,
        maxMs: r.maxSeconds * 1000,
        resetAfterMs: r.resetAfterSeconds * 1000,
      },
      (e) => this.#onEvent(e),
    );
    this.#services.push(s);
    return s;
  }

  #onEvent(e: ServiceEvent): void {
    const secs = (ms: number) => `${Number((ms / 1000).toFixed(1))} s`;
    if (e.type === 'exit')
      this.#say(`${e.name} exited (${e.how}); restarting in ${secs(e.restartInMs)} (restart ${e.restart})`);
    else if (e.type === 'ready')
      this.#say(
        e.name === 'simulator' ? `${e.name} running again` : `${e.name} attested again${describe(e.info)}`,
      );
    else if (e.type === 'restart-failed') this.#say(`${e.name} did not come back: ${e.reason}`);
    else if (e.type === 'completed') {
      this.#say(`${e.name} finished its ${this.deployment.meters.rounds} rounds`);
      this.#simulatorDone();
    }
    this.#publish();
  }

  async start(): Promise<void> {
    const d = this.deployment;
    const l = this.#l;
    await ensureRecoveryKey(l, (s) => this.#say(s));
    const ownerPem = await ensureOwnerKey(l, (s) => this.#say(s));
    const provisioned = await ensureMeters(d, l, (s) => this.#say(s));
    this.#say(`meters: ${d.meters.count} of ${provisioned.count} provisioned in ${l.meters}`);
    const measured = (await measureService(SRC)).measurement;
    const cascadbMeasurement = d.cascadb.enabled ? (await measureService(BIN_DIR)).measurement : undefined;

    const serviceMeasurement = await this.#startCas(measured);
    const owner = loadUserKey(ownerPem);
    const policy = buildDeploymentPolicy({
      deployment: d,
      ownerCertificatePem: owner.certificatePem,
      serviceMeasurement,
      ...(cascadbMeasurement ? { cascadbMeasurement } : {}),
      simulation: this.simulation,
    });
    const outcome = await applyPolicyAndSecrets({
      url: this.casUrl,
      rootPem: this.#rootPem,
      ownerKeyPem: ownerPem,
      policy,
      layout: l,
      provisioned,
      sign: (text) => signPolicy(text, owner.privateKey),
    });
    this.#token = outcome.auditToken;
    this.#say(
      outcome.changed
        ? `policy applied (hash ${outcome.hash.slice(0, 16)}…; services accept measurement ${serviceMeasurement.slice(0, 16)}…)`
        : `policy in force is up to date (hash ${outcome.hash.slice(0, 16)}…)`,
    );
    this.#say('secrets uploaded: mdcIdentity, meterRegistryDigest (values not shown)');
    this.#publish();

    // CascaDB and the SCBR router (independent of each other) start together; the MDC shards once
    // the router serves, as they are its publishers. Stopped in the reverse order.
    const base: ServiceSpec[] = [];
    if (d.cascadb.enabled) base.push(cascadbSpec(this.#ctx));
    if (d.scbr.enabled) base.push(scbrRouterSpec(this.#ctx));
    await this.#startAll(base);
    const first: ServiceSpec[] = [];
    for (let i = 0; i < d.mdc.shards; i++) first.push(mdcSpec(this.#ctx, i));
    await this.#startAll(first);
    const aggs: ServiceSpec[] = [];
    for (let i = 0; i < d.aggregators.count; i++) aggs.push(aggregatorSpec(this.#ctx, i));
    await this.#startAll(aggs);
    if (d.meters.simulate) {
      const sim = this.#manage(simulatorSpec(this.#ctx, (line) => this.#onSimulatorLine(line)));
      await sim.start();
      this.#say(
        `simulator started: ${d.meters.count} meters at ${d.meters.speed}× through ${d.aggregators.count} aggregator(s)${d.meters.rounds > 0 ? `, ${d.meters.rounds} rounds` : ''}`,
      );
    }
    this.#say(`deployment ${d.name} is up; \`securecloud status\` shows it; Ctrl-C stops it`);
    this.#publish();
  }

  /** Starts and verifies the CAS; returns the measurement of src/ it runs (the services run the same). */
  async #startCas(expectedMeasurement: string): Promise<string> {
    const spec = casSpec(this.#ctx);
    const cas = this.#manage(spec);
    // Twice at most: src/ may change again between the recovery and the start (edits in progress).
    for (let attempt = 0; ; attempt++) {
      const offset = await stat(spec.logFile).then(
        (s) => s.size,
        () => 0,
      );
      try {
        await cas.start();
        break;
      } catch (err) {
        if (attempt >= 2 || !(await casStateNeedsRecovery(spec.logFile, offset))) throw err;
      }
      this.#say(
        `CAS: its sealed state belongs to another build of src/ (the code changed); recovering it with the development recovery key ${this.#l.recoveryKey}`,
      );
      const said = await runOnce(
        [
          'cas',
          'recover',
          '--data',
          this.#l.cas,
          '--recovery-key',
          this.#l.recoveryKey,
          '--tee',
          this.#ctx.tee,
        ],
        spec.logFile,
      ).catch((e: Error) => {
        throw new DeployError(
          'ERR_CAS_STATE',
          `the CAS state in ${this.#l.cas} cannot be recovered (${e.message}); start from scratch with \`securecloud reset\` (erases the CAS state and the stored readings)`,
        );
      });
      const m =
        /re-sealed for measurement ([0-9a-f]{16})/.exec(said)?.[1] ?? expectedMeasurement.slice(0, 16);
      this.#say(`CAS state re-sealed for measurement ${m}…`);
    }
    this.#rootPem = await readFile(this.#l.casRoot, 'utf8');
    const v = await verifyCas(this.casUrl, this.#rootPem, null, this.simulation);
    if (v.measurement !== expectedMeasurement) {
      // src/ changed since it was measured (edits in progress): the CAS must run what is there now.
      const now = (await measureService(SRC)).measurement;
      if (v.measurement !== now)
        throw new DeployError(
          'ERR_SERVICE_START',
          `the CAS at ${this.casUrl} runs measurement ${v.measurement}, but src/ measures ${now}: is src/ being edited? run up again`,
        );
    }
    this.#say(
      `CAS up at ${this.casUrl}: evidence verified (${v.platform}${v.simulation ? ', SIMULATION' : ''}, measurement ${v.measurement.slice(0, 16)}…)`,
    );
    return v.measurement;
  }

  async #startAll(specs: readonly ServiceSpec[]): Promise<void> {
    const results = await Promise.allSettled(
      specs.map(async (spec) => {
        const info = await this.#manage(spec).start();
        this.#say(
          spec.kind === 'cascadb'
            ? `${spec.name} attested and serving (postgres port ${spec.ports[0]}, https ${spec.ports[1]})`
            : `${spec.name} attested${describe(info)}`,
        );
        this.#publish();
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  #onSimulatorLine(line: string): void {
    if (!line.startsWith('{')) return;
    let v: Partial<RoundRecord> & { event?: string };
    try {
      v = JSON.parse(line);
    } catch {
      return;
    }
    if (v.event !== 'round') return;
    const round: RoundRecord = {
      at: String(v.at),
      receivedAt: new Date().toISOString(),
      meters: Number(v.meters ?? 0),
      sent: Number(v.sent ?? 0),
      stored: Number(v.stored ?? 0),
      duplicates: Number(v.duplicates ?? 0),
      unacknowledged: Number(v.unacknowledged ?? 0),
      resent: Number(v.resent ?? 0),
      refusals: (v.refusals as Record<string, number>) ?? {},
      seconds: Number(v.seconds ?? 0),
    };
    this.#rounds = [...this.#rounds, round].slice(-MAX_ROUNDS_KEPT);
    this.#totals = addRound(this.#totals, round);
    this.#o.onRound?.(round);
    this.#publish();
  }

  snapshot(): UpState {
    return {
      version: 1,
      supervisorPid: process.pid,
      startedAt: this.#startedAt,
      updatedAt: new Date().toISOString(),
      name: this.deployment.name,
      dataDir: this.deployment.dataDir,
      deploymentFile: this.#o.deploymentFile,
      tee: this.#ctx.tee,
      simulation: this.simulation,
      host: this.deployment.host,
      casUrl: this.casUrl,
      casRoot: this.#l.casRoot,
      ownerKey: this.#l.ownerKey,
      services: this.#services.map((s) => s.record()),
      rounds: this.#rounds,
      totals: this.#totals,
    };
  }

  /** Writes up.json; coalesces bursts of events into one write. */
  #publish(): void {
    if (this.#stopped || this.#publishQueued) return;
    this.#publishQueued = true;
    this.#publishing = this.#publishing.then(async () => {
      this.#publishQueued = false;
      if (this.#stopped) return;
      await writeUpState(this.snapshot()).catch((err: Error) =>
        this.#say(`cannot write ${join(this.deployment.dataDir, 'up.json')}: ${err.message}`),
      );
    });
  }

  async counters(): Promise<LiveCounters> {
    let readingsStored = 0;
    let sessions = 0;
    const refusals: Record<string, number> = {};
    const unreachable: string[] = [];
    await Promise.all(
      this.#services
        .filter((s) => s.spec.kind === 'mdc' && s.spec.healthUrl !== null)
        .map(async (s) => {
          try {
            const stats = (await getJson(s.spec.healthUrl!.replace(/\/healthz$/, '/v1/stats'), {
              ca: this.#rootPem,
              service: 'mdc',
              token: this.#token,
            })) as { readings?: number; sessions?: number; refusals?: Record<string, number> };
            readingsStored += stats.readings ?? 0;
            sessions += stats.sessions ?? 0;
            for (const [k, n] of Object.entries(stats.refusals ?? {})) refusals[k] = (refusals[k] ?? 0) + n;
          } catch {
            unreachable.push(s.spec.name);
          }
        }),
    );
    return { readingsStored, sessions, refusals, unreachable };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const timeout = this.deployment.stopTimeoutSeconds * 1000;
    const order = ['simulator', 'aggregator', 'mdc', 'scbr-router', 'cascadb', 'cas'] as const;
    for (const kind of order) {
      const group = this.#services.filter((s) => s.spec.kind === kind);
      if (group.length === 0) continue;
      await Promise.all(group.map((s) => s.stop(timeout)));
      this.#say(`stopped ${group.map((s) => s.spec.name).join(', ')}`);
    }
    await this.#publishing;
    await removeUpState(this.deployment.dataDir);
  }
}

function describe(info: { instanceId?: string; platform?: string; simulation?: boolean }): string {
  const parts: string[] = [];
  if (info.instanceId) parts.push(`instance ${info.instanceId.slice(0, 8)}…`);
  if (info.platform) parts.push(info.platform);
  if (info.simulation) parts.push('SIMULATION');
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}
