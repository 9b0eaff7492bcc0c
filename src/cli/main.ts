import { Command, CommanderError } from 'commander';
import { registerAttestCommands } from './attest-command.ts';
import { registerCasCommands } from './cas-command.ts';
import { registerDemoCommand } from './demo-command.ts';
import { type CliIo, CommandFailure, EXIT, processIo, UsageError } from './io.ts';
import { registerMeteringCommands } from './metering-command.ts';
import { registerResetCommand } from './reset-command.ts';
import { registerRunCommand } from './run-command.ts';
import { registerScbrCommands } from './scbr-command.ts';
import { registerSqlCommands } from './sql-command.ts';
import { registerStatusCommand } from './status-command.ts';
import { registerTeeCommands } from './tee-command.ts';
import { registerUpCommand } from './up-command.ts';

/** Holds the exit code chosen by the action that ran. */
export interface CliRun {
  exitCode: number;
  readonly io: CliIo;
}

/** Builds the `securecloud` program. Actions set `run.exitCode`. */
export function createProgram(run: CliRun): Command {
  const program = new Command('securecloud')
    .description('securecloud: process sensitive data on clouds nobody has to trust')
    .version(process.env.npm_package_version ?? '0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: (s) => run.io.out(s), writeErr: (s) => run.io.err(s) })
    .exitOverride();
  registerTeeCommands(program, run);
  registerAttestCommands(program, run);
  registerCasCommands(program, run);
  registerDemoCommand(program, run);
  registerRunCommand(program, run);
  registerSqlCommands(program, run);
  registerMeteringCommands(program, run);
  registerScbrCommands(program, run);
  registerUpCommand(program, run);
  registerStatusCommand(program, run);
  registerResetCommand(program, run);
  for (const cmd of allCommands(program)) cmd.exitOverride().configureOutput(program.configureOutput());
  return program;
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/**
 * Runs the CLI with `argv` (as in `process.argv`) and returns the exit code: 0 success,
 * 1 refused (evidence not genuine or not acceptable), 2 usage error.
 */
export async function main(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const run: CliRun = { exitCode: EXIT.ok, io };
  const program = createProgram(run);
  try {
    await program.parseAsync([...argv]);
    return run.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT.ok;
      if (err.code === 'commander.help') return EXIT.ok;
      return EXIT.usage;
    }
    if (err instanceof UsageError) {
      io.err(`securecloud: ${err.message}`);
      return EXIT.usage;
    }
    if (err instanceof CommandFailure) {
      io.err(`securecloud: ${err.message}`);
      return EXIT.refused;
    }
    throw err;
  }
}
