/** `securecloud reset`: erases a deployment's data directory after a confirmation. */
import { readdir, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { runningDeployment } from '../deploy/index.ts';
import { CommandFailure, EXIT, UsageError } from './io.ts';
import type { CliRun } from './main.ts';

/** Entries that mark a directory as a deployment's data directory. */
const MARKERS = ['up.json', 'cas', 'owner.pem', 'meters', 'recovery', 'logs', 'policy.json'];

/** Registers `securecloud reset`. */
export function registerResetCommand(program: Command, run: CliRun): void {
  program
    .command('reset')
    .description(
      'erase the data directory of `securecloud up` (CAS state, keys, meters, readings, logs) after a confirmation',
    )
    .option('--data <dir>', 'data directory', './.securecloud')
    .option('--yes', 'do not ask (needed when not on a terminal)')
    .action(async (flags: { data: string; yes?: boolean }) => {
      const dir = resolve(flags.data);
      const running = await runningDeployment(dir);
      if (running !== null)
        throw new CommandFailure(
          `a deployment runs on ${dir} (supervisor pid ${running.supervisorPid}): stop it first (Ctrl-C, or kill ${running.supervisorPid})`,
        );
      let entries: string[];
      try {
        entries = await readdir(dir);
      } catch {
        run.io.out(`nothing to reset: ${dir} does not exist`);
        run.exitCode = EXIT.ok;
        return;
      }
      if (entries.length > 0 && !entries.some((e) => MARKERS.includes(e)))
        throw new CommandFailure(
          `${dir} does not look like a securecloud data directory (none of ${MARKERS.join(', ')}): not erasing it`,
        );
      if (!flags.yes) {
        if (!process.stdin.isTTY)
          throw new UsageError('reset erases data: pass --yes when not on a terminal');
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(
          `Erase ${dir}: the CAS state and its keys, the owner and recovery keys, the meters, every stored reading and the logs? Type "yes" to confirm: `,
        );
        rl.close();
        if (answer.trim().toLowerCase() !== 'yes') {
          run.io.out('not erased');
          run.exitCode = EXIT.refused;
          return;
        }
      }
      await rm(dir, { recursive: true, force: true });
      run.io.out(`erased ${dir}; the next \`securecloud up\` starts from scratch`);
      run.exitCode = EXIT.ok;
    });
}
