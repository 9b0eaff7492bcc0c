import { readFile, writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { type CasClient, createCasClient, isCasError } from '../cas/index.ts';
import { registerCasAdminCommands } from './cas-admin-command.ts';
import { registerCasPolicyCommands } from './cas-policy-command.ts';
import { registerCasServeCommands } from './cas-serve-command.ts';
import { CommandFailure, UsageError } from './io.ts';
import type { CliRun } from './main.ts';

/** Where a CAS client command connects. */
export interface CasTargetFlags {
  cas?: string;
  casRoot?: string;
  as?: string;
}

/** The default CAS URL: `SECURECLOUD_CAS` or https://127.0.0.1:8443. */
export const defaultCasUrl = (): string => process.env.SECURECLOUD_CAS ?? 'https://127.0.0.1:8443';
/** The default CAS root file: `SECURECLOUD_CAS_ROOT` or ./.securecloud/cas/root.pem. */
export const defaultCasRoot = (): string => process.env.SECURECLOUD_CAS_ROOT ?? './.securecloud/cas/root.pem';

/** Collects a repeatable option. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/**
 * Registers `securecloud cas …`: serve, verify, policy, secret, audit, status, users keygen,
 * recovery-keygen, recover.
 */
export function registerCasCommands(program: Command, run: CliRun): void {
  const cas = program
    .command('cas')
    .description(
      'the Configuration and Attestation Service: serve it, verify it, manage policies and secrets',
    );
  registerCasServeCommands(cas, run);
  registerCasPolicyCommands(cas, run);
  registerCasAdminCommands(cas, run);
}

/** Adds `--cas URL` and `--cas-root FILE` (defaults from the environment). */
export function withTarget(cmd: Command): Command {
  return cmd
    .option('--cas <url>', 'CAS URL (default $SECURECLOUD_CAS or https://127.0.0.1:8443)')
    .option(
      '--cas-root <file>',
      'the CAS root.pem to pin (default $SECURECLOUD_CAS_ROOT or ./.securecloud/cas/root.pem)',
    );
}

/** Opens a client of the CAS named by the flags; `--as KEY.pem` authenticates as that user. */
export async function openClient(flags: CasTargetFlags): Promise<CasClient> {
  const rootPem = await readText(flags.casRoot ?? defaultCasRoot(), 'the CAS root (--cas-root)');
  const userKeyPem = flags.as === undefined ? undefined : await readText(flags.as, 'the user key (--as)');
  try {
    return createCasClient({ url: flags.cas ?? defaultCasUrl(), rootPem, userKeyPem });
  } catch (err) {
    if (err instanceof TypeError) throw new UsageError(err.message);
    throw err;
  }
}

/** Reads a text file, or a UsageError that says which file and why. */
export async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}

/** Reads a file as bytes, or a UsageError. */
export async function readBytes(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new UsageError(
      `cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}

/** Writes a private file (mode 0600), refusing to overwrite unless `force`. */
export async function writePrivate(path: string, content: string, force: boolean): Promise<void> {
  try {
    await writeFile(path, content, { mode: 0o600, flag: force ? 'w' : 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${path} exists; pass --force to overwrite it`);
    throw new UsageError(`cannot write ${path}: ${code ?? String(err)}`);
  }
}

/**
 * Wraps an action: a CasError becomes a CommandFailure (exit 1) that shows its code, refusal and
 * path; the action's return value, when a number, is the exit code.
 */
export function casAction<A extends unknown[]>(
  run: CliRun,
  fn: (...args: A) => Promise<number | undefined>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await fn(...args);
      if (code !== undefined) run.exitCode = code;
    } catch (err) {
      if (!isCasError(err)) throw err;
      const refusal = err.refusal ? ` (${err.refusal})` : '';
      // Messages of policy errors already start with their path; name it only when they do not.
      const path = err.path && !err.message.startsWith(err.path) ? ` at ${err.path}:` : '';
      throw new CommandFailure(`[${err.code}]${refusal}${path} ${err.message}`);
    }
  };
}
