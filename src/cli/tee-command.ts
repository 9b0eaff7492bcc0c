import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  createTeeBackend,
  detectTeeBackend,
  fromHex,
  isTeeError,
  measureService,
  toHex,
} from '../tee/index.ts';
import { CommandFailure, EXIT, UsageError } from './io.ts';
import type { CliRun } from './main.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];
const BACKENDS = ['auto', 'sim', 'gramine-sgx', 'tsm'] as const;
type BackendChoice = (typeof BACKENDS)[number];

/** Registers `securecloud tee measure|detect|evidence`. */
export function registerTeeCommands(program: Command, run: CliRun): void {
  const tee = program.command('tee').description('TEE runtime: measurement, evidence backends');
  tee
    .command('measure')
    .description('print the measurement (SHA-256 over the canonical file listing) of a service')
    .argument('<path>', 'a file or directory the service runs')
    .option('--exclude <glob>', 'leave out matching paths (repeatable)', collect, [])
    .option('--json', 'print the measurement with the file listing as JSON')
    .option('--listing', 'print the canonical listing that is hashed')
    .action(async (path: string, flags: { exclude: string[]; json?: boolean; listing?: boolean }) => {
      const m = await guard(() => measureService(path, { exclude: flags.exclude }));
      if (flags.json) run.io.out(JSON.stringify(m, null, 2));
      else run.io.out(flags.listing ? `${m.listing}${m.measurement}` : m.measurement);
    });
  tee
    .command('detect')
    .description('say which evidence backend this machine supports (gramine-sgx, tsm or sim)')
    .option('--json', 'print JSON')
    .action(async (flags: { json?: boolean }) => {
      const d = await detectTeeBackend();
      run.io.out(
        flags.json
          ? JSON.stringify(d, null, 2)
          : `${d.name}${d.simulation ? '  (SIMULATION)' : ''}: ${d.reason}`,
      );
    });
  tee
    .command('evidence')
    .description('produce evidence binding 64 bytes of report data, written to a file')
    .requiredOption('--out <file>', 'where to write the evidence (binary)')
    .option('--report-data <hex>', 'up to 64 bytes of report data, hex (zero-padded)', '')
    .option('--tee <backend>', `backend: ${BACKENDS.join(', ')}`, 'auto')
    .option('--measure <path>', 'sim backend: the code whose measurement the evidence carries', '.')
    .option('--sim-state <dir>', 'sim backend: directory of the software platform key')
    .action(
      async (flags: { out: string; reportData: string; tee: string; measure: string; simState?: string }) => {
        if (!(BACKENDS as readonly string[]).includes(flags.tee)) {
          throw new UsageError(`--tee ${flags.tee}: one of ${BACKENDS.join(', ')}`);
        }
        const reportData = Buffer.alloc(64);
        const given = guardHex(flags.reportData);
        if (given.length > 64) throw new UsageError('--report-data: at most 64 bytes');
        given.copy(reportData);
        const { backend } = await guard(async () => {
          const { measurement } = await measureService(flags.measure);
          return createTeeBackend(flags.tee as BackendChoice, {
            sim: { measurement, ...(flags.simState ? { stateDir: flags.simState } : {}) },
          });
        });
        const evidence = await guard(() => backend.getEvidence(reportData));
        await writeFile(flags.out, evidence);
        const sim = backend.simulation ? '  SIMULATION: this evidence protects nothing' : '';
        run.io.err(`wrote ${evidence.length} bytes of ${backend.platform} evidence to ${flags.out}${sim}`);
        run.io.out(toHex(reportData));
        run.exitCode = EXIT.ok;
      },
    );
}

function guardHex(text: string): Buffer {
  try {
    return fromHex(text);
  } catch {
    throw new UsageError('--report-data must be hexadecimal');
  }
}

async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isTeeError(err)) throw new CommandFailure(`[${err.code}] ${err.message}`);
    throw err;
  }
}
