import { spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readFile, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, posix } from 'node:path';
import type { Command } from 'commander';
import { isCasError } from '../cas/index.ts';
import { type AttestedService, startService, type TeeChoice } from '../platform/index.ts';
import { isTeeError } from '../tee/index.ts';
import { defaultCasRoot, defaultCasUrl } from './cas-command.ts';
import { type CliIo, CommandFailure, UsageError } from './io.ts';
import type { CliRun } from './main.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];
const BACKENDS = ['auto', 'sim', 'gramine-sgx', 'tsm'] as const;
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM'] as const;

interface RunFlags {
  cas?: string;
  casRoot?: string;
  tee: string;
  measure?: string;
  simState?: string;
  collateral: string[];
}

/**
 * Registers `securecloud run SERVICE --cas URL --cas-root FILE [--tee B] [--measure PATH]
 * [--sim-state DIR] [--collateral FILE]... -- COMMAND...`: attests to the CAS as SERVICE, then runs
 * COMMAND with what the policy grants, and exits with COMMAND's exit code.
 *
 * - env: the granted env merged over the current env, plus `SECURECLOUD_FILES_DIR`.
 * - files: written into a private temp dir (0700; files 0600). A policy path such as
 *   `/run/secrets/tls.pem` is written to `$SECURECLOUD_FILES_DIR/run/secrets/tls.pem`; an env value
 *   or argument that equals a granted file's policy path is replaced by that mapped path.
 * - args: the granted args are appended to COMMAND.
 * - SIGINT / SIGTERM are forwarded to the child; the temp dir is removed and the CAS lease released
 *   when the child exits, however it exits (a SIGKILL of `securecloud run` itself leaves the dir).
 *   The child stays in the terminal's process group (so it can read the terminal): a Ctrl-C there
 *   reaches it twice, directly and forwarded.
 * - measured (sim backend): `--measure PATH`, default the command's entry file (see {@link entryFile}).
 */
export function registerRunCommand(program: Command, run: CliRun): void {
  program
    .command('run')
    .description('attest to the CAS as SERVICE, then run COMMAND with the env, files and args it grants')
    .argument('<service>', 'the service name in the CAS policy')
    .argument('<command...>', 'the command to run, after "--" (e.g. -- node server.js)')
    .option('--cas <url>', 'base URL of the CAS (default $SECURECLOUD_CAS or https://127.0.0.1:8443)')
    .option(
      '--cas-root <file>',
      "the CAS root certificate, the CAS's DIR/root.pem (default $SECURECLOUD_CAS_ROOT or ./.securecloud/cas/root.pem)",
    )
    .option('--tee <backend>', `backend: ${BACKENDS.join(', ')}`, 'auto')
    .option('--measure <path>', "sim backend: what to measure; default the command's entry file")
    .option('--sim-state <dir>', 'sim backend: directory of the software platform key')
    .option('--collateral <file>', 'collateral sent with the evidence (repeatable)', collect, [])
    .addHelpText(
      'after',
      `
Put "--" before COMMAND so that its options are not read as securecloud's:
  securecloud run mdc --cas https://cas:8443 --cas-root root.pem -- node server.js --port 8080
Granted files are written under a private temp dir named by $SECURECLOUD_FILES_DIR
(/run/secrets/tls.pem -> $SECURECLOUD_FILES_DIR/run/secrets/tls.pem) and removed on exit.`,
    )
    .action(async (service: string, command: string[], flags: RunFlags) => {
      if (!(BACKENDS as readonly string[]).includes(flags.tee)) {
        throw new UsageError(`--tee ${flags.tee}: one of ${BACKENDS.join(', ')}`);
      }
      const attested = await attest(service, command, flags, run.io);
      try {
        run.exitCode = await runGranted(attested, command, run.io);
      } finally {
        await attested.close();
      }
    });
}

async function attest(
  service: string,
  command: string[],
  flags: RunFlags,
  io: CliIo,
): Promise<AttestedService> {
  const casRoot = flags.casRoot ?? defaultCasRoot();
  const casRootPem = await readFile(casRoot, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new UsageError(`--cas-root ${casRoot}: ${err.code ?? err.message}`);
  });
  const measurePath = flags.measure ?? (await entryFile(command));
  try {
    const attested = await startService({
      name: service,
      casUrl: flags.cas ?? defaultCasUrl(),
      casRootPem,
      tee: flags.tee as TeeChoice,
      measurePath,
      ...(flags.simState ? { simStateDir: flags.simState } : {}),
      collateralFiles: flags.collateral,
      onLeaseError: (err) => io.err(`securecloud run: lease of ${service}: ${err.message}`),
    });
    const sim = attested.simulation ? ' SIMULATION' : '';
    io.err(
      `securecloud run: ${service} attested as instance ${attested.instanceId} (${attested.platform}${sim})`,
    );
    if (attested.simulation) {
      io.err(`SIMULATION: ${service} runs on the sim TEE backend; its secrets are protected by nothing`);
    }
    return attested;
  } catch (err) {
    if (isCasError(err)) {
      const refusal = err.refusal ? ` ${err.refusal}` : '';
      throw new CommandFailure(`[${err.code}${refusal}] ${err.message}`);
    }
    if (isTeeError(err)) throw new CommandFailure(`[${err.code}] ${err.message}`);
    if (err instanceof TypeError) throw new UsageError(err.message);
    throw err;
  }
}

/**
 * The entry file of a command, what `--measure` defaults to: the first argument after the program
 * that names an existing regular file (`node server.js` → `server.js`; arguments starting with `-`
 * are skipped), else the program itself (a path, or looked up on PATH: `python3 -m http.server` →
 * `/usr/bin/python3`).
 */
export async function entryFile(command: readonly string[]): Promise<string> {
  const [program, ...rest] = command;
  if (program === undefined) throw new UsageError('no command given after "--"');
  for (const arg of rest) {
    if (!arg.startsWith('-') && (await isFile(arg))) return realpath(arg);
  }
  if (program.includes('/')) {
    if (await isFile(program)) return realpath(program);
  } else {
    for (const dir of (process.env.PATH ?? '').split(delimiter)) {
      if (dir === '') continue;
      const candidate = join(dir, program);
      if ((await isFile(candidate)) && (await isExecutable(candidate))) return realpath(candidate);
    }
  }
  throw new UsageError(
    `cannot tell what "${command.join(' ')}" runs: no argument is an existing file and ${program} is not on PATH; give --measure PATH`,
  );
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, fsConstants.X_OK).then(
    () => true,
    () => false,
  );
}

async function runGranted(attested: AttestedService, command: string[], io: CliIo): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'securecloud-run-'));
  try {
    await chmod(dir, 0o700);
    const mapped = await writeGrantedFiles(dir, attested.files);
    const remap = (v: string) => mapped.get(v) ?? v;
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const [k, v] of Object.entries(attested.env)) env[k] = remap(v);
    env.SECURECLOUD_FILES_DIR = dir;
    const args = [...command.slice(1), ...attested.args.map(remap)];
    return await spawnForwarding(command[0] as string, args, env, io);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes the granted files under `dir`; returns policy path → written path. */
async function writeGrantedFiles(
  dir: string,
  files: Readonly<Record<string, string>>,
): Promise<Map<string, string>> {
  const mapped = new Map<string, string>();
  for (const [policyPath, content] of Object.entries(files)) {
    const target = mapPolicyPath(dir, policyPath);
    try {
      await mkdir(dirname(target), { recursive: true, mode: 0o700 });
      // 'wx': a fresh private dir, so nothing may already be there (no link to follow).
      await writeFile(target, content, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new CommandFailure(`cannot write the granted file "${policyPath}" under ${dir} (${code})`);
    }
    mapped.set(policyPath, target);
  }
  return mapped;
}

/** `/run/secrets/tls.pem` → `DIR/run/secrets/tls.pem`; normalizing keeps every path inside DIR. */
export function mapPolicyPath(dir: string, policyPath: string): string {
  const normalized = posix.normalize(`/${policyPath}`);
  if (normalized === '/' || normalized.endsWith('/')) {
    throw new CommandFailure(`the policy grants a file with no file name: "${policyPath}"`);
  }
  const target = join(dir, normalized);
  if (!isAbsolute(target) || !target.startsWith(`${dir}/`)) {
    throw new CommandFailure(`the policy grants a file outside the files dir: "${policyPath}"`);
  }
  return target;
}

/** Spawns the command, forwards SIGINT/SIGTERM, resolves with its exit code (128 + n for a signal). */
function spawnForwarding(
  program: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  io: CliIo,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env, stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => {
      child.kill(signal);
    };
    for (const s of FORWARDED_SIGNALS) process.on(s, forward);
    const done = () => {
      for (const s of FORWARDED_SIGNALS) process.off(s, forward);
    };
    child.once('error', (err: NodeJS.ErrnoException) => {
      done();
      reject(new CommandFailure(`cannot start ${program}: ${err.code ?? err.message}`));
    });
    child.once('exit', (code, signal) => {
      done();
      if (signal !== null) {
        io.err(`securecloud run: ${program} ended by ${signal}`);
        resolve(128 + (osConstants.signals[signal] ?? 0));
      } else {
        resolve(code ?? 1);
      }
    });
  });
}
