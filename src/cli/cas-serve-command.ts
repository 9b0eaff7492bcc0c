import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { CasService, createJsonLogger, generateRecoveryKeyPair, startCasServer } from '../cas/index.ts';
import { registerProcessMetrics } from '../platform/index.ts';
import {
  createTeeBackend,
  measureService,
  type TeeBackendChoice,
  type TeeBackendSelection,
} from '../tee/index.ts';
import { casAction, collect, readText, writePrivate } from './cas-command.ts';
import { type CliIo, UsageError } from './io.ts';
import type { CliRun } from './main.ts';

const TEES = ['auto', 'sim', 'gramine-sgx', 'tsm'] as const;

/** How to start a CAS from the command line. */
export interface StartCasOptions {
  readonly data: string;
  readonly port: number;
  readonly host: string;
  readonly tee: TeeBackendChoice;
  /** Files of recovery public keys. */
  readonly recoveryKeys: readonly string[];
  /** Extra names for the TLS certificate. */
  readonly tlsNames?: readonly string[];
}

/** A CAS started by {@link startCas}. */
export interface RunningCas {
  readonly url: string;
  readonly rootPath: string;
  readonly measurement: string;
  readonly simulation: boolean;
  /** Stops serving (in-flight requests finish), saves the state, closes the audit log. */
  stop(): Promise<void>;
}

/** The CAS's own measurement: the files of this package's `src` directory. */
export async function casMeasurement(): Promise<string> {
  return (await measureService(fileURLToPath(new URL('../', import.meta.url)))).measurement;
}

/** The CAS's TEE backend; the sim backend keeps its platform in DATA/sim-platform. */
export async function casBackend(
  tee: string,
  dataDir: string,
  measurement: string,
): Promise<TeeBackendSelection> {
  if (!(TEES as readonly string[]).includes(tee))
    throw new UsageError(`--tee ${tee}: choose ${TEES.join(', ')}`);
  return createTeeBackend(tee as TeeBackendChoice, {
    sim: { measurement, stateDir: join(dataDir, 'sim-platform') },
  });
}

/** Starts the CAS as `cas serve` does, logging JSON lines to `io.err` and the banner to `io.out`. */
export async function startCas(o: StartCasOptions, io: CliIo): Promise<RunningCas> {
  const data = resolve(o.data);
  const measurement = await casMeasurement();
  const selection = await casBackend(o.tee, data, measurement);
  const logger = createJsonLogger((line) => io.err(line), { simulation: selection.simulation });
  const recoveryPublicKeys = await Promise.all(o.recoveryKeys.map(readRecoveryPublicKey));
  const cas = await CasService.open({
    dataDir: data,
    backend: selection.backend,
    measurement,
    logger,
    recoveryPublicKeys,
    tlsNames: o.tlsNames ?? (o.host === '0.0.0.0' || o.host === '::' ? [] : [o.host]),
  });
  let server: Awaited<ReturnType<typeof startCasServer>>;
  try {
    const { platform, simulation } = selection.backend;
    registerProcessMetrics(cas.registry, { service: 'cas', platform, simulation });
    server = await startCasServer(cas, { port: o.port, host: o.host, logger });
  } catch (err) {
    await cas.close();
    throw err;
  }
  const rootPath = join(data, 'root.pem');
  io.out(banner(server.url, rootPath, measurement, selection));
  logger.log('info', 'CAS started', { url: server.url, backend: selection.name, reason: selection.reason });
  return {
    url: server.url,
    rootPath,
    measurement,
    simulation: selection.simulation,
    stop: async () => {
      await server.close({ deadlineMs: 10_000 });
      await cas.close();
      logger.log('info', 'CAS stopped', {});
    },
  };
}

function banner(url: string, root: string, measurement: string, s: TeeBackendSelection): string {
  const lines = [
    `securecloud CAS listening on ${url}`,
    `  root         ${root}   (clients pin it: --cas-root)`,
    `  measurement  ${measurement}`,
    `  backend      ${s.name}${s.simulation ? '   SIMULATION: protects nothing' : ''}`,
    `  check it     securecloud cas verify --cas ${url} --cas-root ${root} --expect-measurement ${measurement}${s.simulation ? ' --allow-simulation' : ''}`,
  ];
  return lines.join('\n');
}

async function readRecoveryPublicKey(path: string): Promise<KeyObject> {
  const pem = await readText(path, 'the recovery public key');
  try {
    const key = createPublicKey(pem);
    if (key.asymmetricKeyType !== 'x25519' && key.asymmetricKeyType !== 'ec') throw new Error('type');
    return key;
  } catch {
    throw new UsageError(
      `${path} is not an X25519 or P-256 public key (make one with securecloud cas recovery-keygen)`,
    );
  }
}

/** `NAME.pem` → `NAME.pub.pem`. */
export function publicKeyPath(out: string): string {
  return out.endsWith('.pem') ? `${out.slice(0, -4)}.pub.pem` : `${out}.pub.pem`;
}

/** Registers `cas serve`, `cas recovery-keygen` and `cas recover`. */
export function registerCasServeCommands(cas: Command, run: CliRun): void {
  cas
    .command('serve')
    .description('run the CAS (HTTPS, TLS 1.3); stops gracefully on SIGINT/SIGTERM')
    .requiredOption('--data <dir>', 'data directory: sealed state, audit.log, root.pem')
    .option('--port <n>', 'port', '8443')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--tee <backend>', `TEE backend: ${TEES.join(', ')}`, 'auto')
    .option(
      '--recovery-key <pub.pem>',
      'recovery public key to wrap the state key to (repeatable)',
      collect,
      [],
    )
    .action(
      casAction(
        run,
        async (flags: { data: string; port: string; host: string; tee: string; recoveryKey: string[] }) => {
          const port = Number(flags.port);
          if (!Number.isInteger(port) || port < 0 || port > 65535)
            throw new UsageError(`--port ${flags.port}: 0..65535`);
          const running = await startCas(
            {
              data: flags.data,
              port,
              host: flags.host,
              tee: flags.tee as TeeBackendChoice,
              recoveryKeys: flags.recoveryKey,
            },
            run.io,
          );
          await new Promise<void>((resolveStop) => {
            const stop = (): void => {
              process.off('SIGINT', stop);
              process.off('SIGTERM', stop);
              resolveStop();
            };
            process.on('SIGINT', stop);
            process.on('SIGTERM', stop);
          });
          await running.stop();
          return 0;
        },
      ),
    );
  cas
    .command('recovery-keygen')
    .description(
      'make a recovery key pair: keep the private key offline, give the .pub.pem to cas serve --recovery-key',
    )
    .requiredOption('--out <key.pem>', 'private key file (the public key goes to KEY.pub.pem)')
    .option('--algorithm <alg>', 'x25519 or p256', 'x25519')
    .option('--force', 'overwrite existing files')
    .action(
      casAction(run, async (flags: { out: string; algorithm: string; force?: boolean }) => {
        if (flags.algorithm !== 'x25519' && flags.algorithm !== 'p256')
          throw new UsageError(`--algorithm ${flags.algorithm}: choose x25519 or p256`);
        const pair = generateRecoveryKeyPair(flags.algorithm);
        const pub = publicKeyPath(flags.out);
        await writePrivate(flags.out, pair.privatePem, flags.force === true);
        await writePrivate(pub, pair.publicPem, flags.force === true);
        run.io.out(
          `recovery private key: ${flags.out} (keep it offline)\nrecovery public key:  ${pub} (cas serve --recovery-key ${pub})`,
        );
        return 0;
      }),
    );
  cas
    .command('recover')
    .description('take over the sealed state after the CAS build (measurement) changed, with a recovery key')
    .requiredOption('--data <dir>', 'the CAS data directory')
    .requiredOption('--recovery-key <key.pem>', 'recovery PRIVATE key (from cas recovery-keygen)')
    .option('--tee <backend>', `TEE backend: ${TEES.join(', ')}`, 'auto')
    .action(
      casAction(run, async (flags: { data: string; recoveryKey: string; tee: string }) => {
        let key: KeyObject;
        try {
          key = createPrivateKey(await readText(flags.recoveryKey, 'the recovery key'));
        } catch (err) {
          if (err instanceof UsageError) throw err;
          throw new UsageError(
            `${flags.recoveryKey} is not a private key (PKCS#8 PEM from cas recovery-keygen)`,
          );
        }
        const data = resolve(flags.data);
        const measurement = await casMeasurement();
        const selection = await casBackend(flags.tee, data, measurement);
        await CasService.recover(data, selection.backend, key);
        run.io.out(
          `state in ${data} re-sealed for measurement ${measurement} (${selection.name}${selection.simulation ? ', SIMULATION' : ''}); start it with securecloud cas serve --data ${flags.data}`,
        );
        return 0;
      }),
    );
}
