/**
 * `securecloud up [DEPLOYMENT.yaml]`: starts a local deployment (CAS, CascaDB, SCBR router, MDC
 * shards, aggregators, meter simulator) as supervised processes, restarts crashed ones with backoff, and
 * stops everything in order on Ctrl-C or SIGTERM.
 */
import type { Command } from 'commander';
import {
  type Deployment,
  isDeployError,
  loadDeployment,
  type RunningDeployment,
  type StartDeploymentOptions,
  startDeployment,
  validateDeployment,
} from '../deploy/index.ts';
import { type CliIo, CommandFailure, EXIT, UsageError } from './io.ts';
import type { CliRun } from './main.ts';

/** Help text on the deployment file, shared by `up` and `demo`. */
export const DEPLOYMENT_HELP = `
The deployment file (YAML; every key optional) says what runs where:
  dataDir: ./.securecloud     # CAS state, keys, meters, MDC data, logs/, up.json
  tee: sim                    # sim (SIMULATION: protects nothing), auto, gramine-sgx, tsm
  host: 127.0.0.1
  enclaveSize: 2GiB
  cas: { port: 8443 }
  cascadb: { enabled: true, port: 5433, httpPort: 5480 }
  scbr: { enabled: true, publishPort: 7300, subscribePort: 7301, httpPort: 7380 }
  mdc: { shards: 1, busPort: 7100, httpPort: 7180 }
  aggregators: { count: 1, port: 7200, httpPort: 7280 }
  meters: { count: 2000, simulate: true, speed: 120, households: 16, rounds: 0 }
  restart: { initialSeconds: 1, maxSeconds: 30, resetAfterSeconds: 60 }
Example: deploy/securecloud.example.yaml. Reference: docs/deployment.md.
State persists between runs; \`securecloud status\` shows a running deployment,
\`securecloud reset\` erases the data directory.`;

/** Reads the deployment (file or defaults) and applies `--data`. */
export async function deploymentFrom(
  file: string | undefined,
  overrides: { data?: string; meters?: Partial<Deployment['meters']> },
): Promise<Deployment> {
  try {
    const d = await loadDeployment(file);
    const meters = { ...d.meters, ...overrides.meters };
    return validateDeployment({
      ...d,
      ...(overrides.data ? { dataDir: overrides.data } : {}),
      enclaveSize: d.enclaveSize,
      meters,
    });
  } catch (err) {
    if (isDeployError(err, 'ERR_DEPLOYMENT_INVALID')) throw new UsageError(err.message);
    throw err;
  }
}

/** Starts a deployment, turning its errors into CLI errors. */
export async function startForCli(o: StartDeploymentOptions): Promise<RunningDeployment> {
  try {
    return await startDeployment(o);
  } catch (err) {
    if (isDeployError(err)) throw new CommandFailure(`[${err.code}] ${err.message}`);
    throw err;
  }
}

/** Prefixes progress lines with the time. */
export function progress(io: CliIo): (line: string) => void {
  return (line) => io.out(`${new Date().toISOString().slice(11, 19)}  ${line}`);
}

/** Resolves with the first SIGINT or SIGTERM (and stops listening). */
export function nextStopSignal(): { promise: Promise<NodeJS.Signals>; cancel(): void } {
  let stop: (s: NodeJS.Signals) => void = () => undefined;
  const promise = new Promise<NodeJS.Signals>((resolve) => {
    stop = (s) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(s);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return {
    promise,
    cancel: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    },
  };
}

/** Stops the deployment; a second Ctrl-C meanwhile only says that it is stopping. */
export async function stopPatiently(running: RunningDeployment, say: (line: string) => void): Promise<void> {
  const again = (): void =>
    say(`already stopping: each service gets up to ${running.deployment.stopTimeoutSeconds} s, then SIGKILL`);
  process.on('SIGINT', again);
  process.on('SIGTERM', again);
  try {
    await running.stop();
  } finally {
    process.off('SIGINT', again);
    process.off('SIGTERM', again);
  }
}

/** Registers `securecloud up`. */
export function registerUpCommand(program: Command, run: CliRun): void {
  program
    .command('up')
    .description(
      'start a local deployment (CAS, CascaDB, SCBR router, MDC shards, aggregators, meter simulator) and supervise it until Ctrl-C',
    )
    .argument('[deployment]', 'deployment file (YAML or JSON); default: built-in defaults')
    .option('--data <dir>', 'data directory (overrides dataDir of the file)')
    .addHelpText('after', DEPLOYMENT_HELP)
    .action(async (file: string | undefined, flags: { data?: string }) => {
      const deployment = await deploymentFrom(file, flags.data ? { data: flags.data } : {});
      const say = progress(run.io);
      // Listen for signals from the start: a Ctrl-C during start-up stops what has started.
      const signal = nextStopSignal();
      const started = startForCli({
        deployment,
        deploymentFile: file ?? null,
        say,
        onRound: (r) =>
          say(
            `round ${r.at}: sent ${r.sent}, stored ${r.stored}, duplicates ${r.duplicates}, unacknowledged ${r.unacknowledged}${Object.keys(r.refusals).length > 0 ? `, refusals ${JSON.stringify(r.refusals)}` : ''} (${r.seconds.toFixed(1)} s)`,
          ),
      });
      const first = await Promise.race([started.then(() => null), signal.promise]);
      const running = await started.catch((err: unknown) => {
        signal.cancel();
        throw err;
      });
      const why = first ?? (await signal.promise);
      say(`${why}: stopping (simulator, aggregators, MDCs, SCBR router, CascaDB, CAS)`);
      await stopPatiently(running, say);
      say(`stopped; state kept in ${deployment.dataDir}`);
      run.exitCode = EXIT.ok;
    });
}
