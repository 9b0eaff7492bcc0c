/**
 * `securecloud demo` (what `npm start` runs): `up` with a small deployment plus the meter simulator
 * at accelerated time, a build the policy does not list refused, and a live view: services with their
 * attestation, meters connected, reports per second, readings stored, refusals, restarts. On a
 * terminal it runs until Ctrl-C; otherwise (CI) it stops by itself after a few rounds.
 */
import { createPublicKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { createCasClient, isCasError, verifyAuditLog } from '../cas/index.ts';
import {
  ansiFrame,
  dataLayout,
  type LiveCounters,
  type RunningDeployment,
  renderLiveLine,
  renderLiveView,
  type UpState,
} from '../deploy/index.ts';
import { startService } from '../platform/index.ts';
import { EXIT, UsageError } from './io.ts';
import type { CliRun } from './main.ts';
import {
  DEPLOYMENT_HELP,
  deploymentFrom,
  nextStopSignal,
  progress,
  startForCli,
  stopPatiently,
} from './up-command.ts';

const SRC = fileURLToPath(new URL('../', import.meta.url));

interface DemoFlags {
  data?: string;
  meters?: string;
  speed?: string;
  rounds?: string;
  duration?: string;
  live?: boolean;
}

function positive(value: string | undefined, flag: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!(n > 0 && n <= max)) throw new UsageError(`${flag} ${value}: expected a number from 1 to ${max}`);
  return n;
}

/** Registers `securecloud demo`. */
export function registerDemoCommand(program: Command, run: CliRun): void {
  program
    .command('demo')
    .description(
      'what `npm start` runs: `up` plus simulated meters at accelerated time and a live view (ends by itself when not on a terminal)',
    )
    .argument('[deployment]', 'deployment file (default: built-in defaults, 2,000 meters at 180×)')
    .option('--data <dir>', 'data directory (overrides dataDir of the file)')
    .option('--meters <n>', 'meters to simulate')
    .option('--speed <x>', 'simulated time runs X times faster (default 180 without a deployment file)')
    .option('--rounds <r>', 'stop after R rounds (default: 3 when not on a terminal or with --duration)')
    .option('--duration <s>', 'stop after S seconds of live view (default 120 when not on a terminal)')
    .addHelpText('after', DEPLOYMENT_HELP)
    .action(async (file: string | undefined, flags: DemoFlags) => {
      const tty = process.stdout.isTTY === true;
      const duration = positive(flags.duration, '--duration', 86_400) ?? (tty ? undefined : 120);
      const bounded = !tty || duration !== undefined;
      const rounds = positive(flags.rounds, '--rounds', 1_000_000) ?? (bounded ? 3 : 0);
      const meters = positive(flags.meters, '--meters', 1_000_000);
      const speed = positive(flags.speed, '--speed', 100_000) ?? (file === undefined ? 180 : undefined);
      const deployment = await deploymentFrom(file, {
        ...(flags.data ? { data: flags.data } : {}),
        meters: {
          simulate: true,
          rounds: Math.floor(rounds),
          ...(meters !== undefined ? { count: Math.floor(meters) } : {}),
          ...(speed !== undefined ? { speed } : {}),
        },
      });
      run.exitCode = await demo(run, { file, deployment, tty, duration });
    });
}

async function demo(
  run: CliRun,
  o: {
    file: string | undefined;
    deployment: Awaited<ReturnType<typeof deploymentFrom>>;
    tty: boolean;
    duration: number | undefined;
  },
): Promise<number> {
  const say = progress(run.io);
  const events: string[] = [];
  let live = false;
  const note = (line: string): void => {
    if (live && o.tty) events.push(`${new Date().toISOString().slice(11, 19)}  ${line}`);
    else say(line);
    events.splice(0, Math.max(0, events.length - 6));
  };
  const signal = nextStopSignal();
  const started = startForCli({
    deployment: o.deployment,
    deploymentFile: o.file ?? null,
    say: note,
    onRound: (r) => {
      if (!o.tty)
        note(
          `round ${r.at}: stored ${r.stored}, duplicates ${r.duplicates}, unacknowledged ${r.unacknowledged}`,
        );
    },
  });
  const early = await Promise.race([started.then(() => null), signal.promise]);
  const running = await started.catch((err: unknown) => {
    signal.cancel();
    throw err;
  });
  let why: string | null = early;
  try {
    if (why === null) {
      await showRefusedBuild(running, note);
      live = true;
      why = await liveView(run, running, { ...o, events, stop: signal.promise });
    }
  } finally {
    live = false;
    signal.cancel();
  }
  const counters = await running.counters();
  const state = running.snapshot();
  const audit = await verifyAudit(running);
  run.io.out(renderLiveView({ state, counters, meters: o.deployment.meters.count }).join('\n'));
  const verdict = judge(state, counters);
  say(`audit log: ${audit}`);
  say(`${why}: stopping (simulator, aggregators, MDCs, SCBR router, CascaDB, CAS)`);
  await stopPatiently(running, say);
  say(
    verdict === null
      ? `demo OK: every service attested, ${counters.readingsStored} readings stored in ${o.deployment.dataDir} (kept for the next run; \`securecloud reset\` erases it)`
      : `demo FAILED: ${verdict}`,
  );
  say(
    'Next: docs/deployment.md (the deployment file, status, troubleshooting), docs/cas.md (policies, secrets).',
  );
  return verdict === null ? EXIT.ok : EXIT.refused;
}

/** Null when the run went well, else why not. */
function judge(state: UpState, counters: LiveCounters): string | null {
  const notAttested = state.services.filter((s) => s.kind !== 'simulator' && !s.attested).map((s) => s.name);
  if (notAttested.length > 0) return `not attested at the end: ${notAttested.join(', ')}`;
  if (state.totals.stored + state.totals.duplicates === 0) return 'no reading was acknowledged to a meter';
  if (counters.readingsStored === 0) return 'no reading is stored';
  return null;
}

/** Attests as `mdc` with a build the policy does not list, and shows the refusal. */
async function showRefusedBuild(running: RunningDeployment, note: (line: string) => void): Promise<void> {
  const l = dataLayout(running.deployment.dataDir);
  try {
    const granted = await startService({
      name: 'mdc',
      casUrl: running.casUrl,
      casRootPem: await readFile(l.casRoot, 'utf8'),
      tee: running.simulation ? 'sim' : 'auto',
      measurePath: join(SRC, 'cli'),
      simStateDir: l.simPlatform,
      heartbeat: false,
    });
    await granted.close();
    note('ERROR: a build of mdc that the policy does not list was granted');
  } catch (err) {
    if (!isCasError(err)) throw err;
    note(
      `a different build of mdc (measuring src/cli only) is refused by the CAS: ${err.refusal}: ${err.message.split(/[;(]/)[0]?.trim()}`,
    );
  }
}

async function verifyAudit(running: RunningDeployment): Promise<string> {
  const l = dataLayout(running.deployment.dataDir);
  const cas = createCasClient({ url: running.casUrl, rootPem: await readFile(l.casRoot, 'utf8') });
  try {
    const status = await cas.status();
    const v = await verifyAuditLog(join(l.cas, 'audit.log'), createPublicKey(status.auditPublicKey));
    return v.ok
      ? `${v.entries} entries (policy, grants, refusals…), hash chain and signatures verified`
      : `BROKEN at entry ${v.seq}: ${v.reason}`;
  } catch (err) {
    return `not verified: ${(err as Error).message}`;
  } finally {
    cas.close();
  }
}

async function liveView(
  run: CliRun,
  running: RunningDeployment,
  o: { tty: boolean; duration: number | undefined; events: string[]; stop: Promise<NodeJS.Signals> },
): Promise<string> {
  const meters = running.deployment.meters.count;
  const ends: Promise<string>[] = [o.stop, running.simulatorDone.then(() => 'rounds done')];
  let timer: NodeJS.Timeout | undefined;
  if (o.duration !== undefined)
    ends.push(
      new Promise((r) => (timer = setTimeout(() => r(`${o.duration} s elapsed`), o.duration! * 1000))),
    );
  let ended: string | null = null;
  const end = Promise.race(ends).then((why) => {
    ended = why;
  });
  let tick = 0;
  while (ended === null) {
    const counters = await running.counters();
    const input = { state: running.snapshot(), counters, meters };
    if (o.tty) {
      const lines = renderLiveView(input);
      if (o.events.length > 0) lines.push('', '  events:', ...o.events.map((e) => `    ${e}`));
      process.stdout.write(ansiFrame(lines));
    } else if (tick % 10 === 0) run.io.out(renderLiveLine(input));
    tick++;
    await Promise.race([end, new Promise((r) => setTimeout(r, 1000))]);
  }
  clearTimeout(timer);
  return ended;
}
