/** `securecloud sql serve`: runs the CascaDB server until SIGINT/SIGTERM. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { type RunningSqlServer, startPgServer, startSqlServer } from '../sql/server/index.ts';
import { defaultCasRoot, readText } from './cas-command.ts';
import { type CliIo, UsageError } from './io.ts';
import type { CliRun } from './main.ts';

const TEES = ['auto', 'sim', 'gramine-sgx', 'tsm'] as const;

interface ServeFlags {
  data: string;
  engine: string;
  pgUrl?: string;
  port: string;
  httpPort?: string;
  host: string;
  cas?: string;
  casRoot?: string;
  service: string;
  tee: string;
  tlsCert?: string;
  tlsKey?: string;
  insecureTrust?: boolean;
}

function port(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new UsageError(`${flag} ${value}: 0..65535`);
  return n;
}

/** Starts the server from the flags (what `sql serve` does before waiting for a signal). */
export async function startFromFlags(flags: ServeFlags, io: CliIo): Promise<RunningSqlServer> {
  if (flags.engine !== 'lmdb' && flags.engine !== 'postgres')
    throw new UsageError(`--engine ${flags.engine}: lmdb or postgres`);
  if (!(TEES as readonly string[]).includes(flags.tee))
    throw new UsageError(`--tee ${flags.tee}: ${TEES.join(', ')}`);
  if (flags.engine === 'postgres' && !flags.pgUrl)
    throw new UsageError('--engine postgres needs --pg-url URL');
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new UsageError('--tls-cert and --tls-key go together');
  }
  const tls =
    flags.tlsCert && flags.tlsKey
      ? {
          cert: await readText(flags.tlsCert, 'the TLS certificate'),
          key: await readText(flags.tlsKey, 'the TLS key'),
        }
      : undefined;
  const cas = flags.cas
    ? {
        url: flags.cas,
        rootPem: await readText(flags.casRoot ?? defaultCasRoot(), 'the CAS root (--cas-root)'),
        service: flags.service,
      }
    : undefined;
  const server = await startSqlServer({
    dataDir: flags.data,
    engine: flags.engine,
    ...(flags.pgUrl ? { pgUrl: flags.pgUrl } : {}),
    host: flags.host,
    port: port(flags.port, '--port'),
    ...(flags.httpPort !== undefined ? { httpPort: port(flags.httpPort, '--http-port') } : {}),
    ...(cas ? { cas } : {}),
    tee: flags.tee as (typeof TEES)[number],
    ...(tls ? { tls } : {}),
    ...(flags.insecureTrust ? { trust: true } : {}),
    startPg: startPgServer,
    log: (line) => io.err(line),
  });
  io.out(banner(server, flags));
  return server;
}

function banner(s: RunningSqlServer, flags: ServeFlags): string {
  const where =
    flags.engine === 'postgres' ? 'PostgreSQL table cascadb_kv' : `lmdb in ${resolve(flags.data)}`;
  const lines = [`securecloud sql: CascaDB serving (${where})`];
  if (s.pgPort !== undefined) lines.push(`  postgres   postgres://cascadb@${flags.host}:${s.pgPort}/cascadb`);
  if (s.httpUrl !== undefined) lines.push(`  json api   ${s.httpUrl}/v1/sql`);
  if (s.passwordFile !== undefined) lines.push(`  password   in ${s.passwordFile} (user cascadb)`);
  if (flags.insecureTrust)
    lines.push('  auth       NONE (--insecure-trust): anyone who can connect is let in');
  lines.push(
    `  backend    ${s.simulation ? 'SIMULATION: the storage key is sealed in software, nothing is protected' : 'TEE'}`,
  );
  return lines.join('\n');
}

/** Registers `sql serve`. */
export function registerSqlServeCommand(sql: Command, run: CliRun): void {
  sql
    .command('serve')
    .description('serve CascaDB over the PostgreSQL protocol and an HTTPS JSON API; stops on SIGINT/SIGTERM')
    .requiredOption('--data <dir>', 'data directory (lmdb files, sealed storage key, password)')
    .option('--engine <name>', 'storage engine: lmdb or postgres', 'lmdb')
    .option('--pg-url <url>', 'PostgreSQL URL of the postgres engine (stores ciphertext only)')
    .option('--port <n>', 'PostgreSQL protocol port', '5433')
    .option('--http-port <n>', 'JSON API port (off unless given)')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option(
      '--cas <url>',
      'start attested under this CAS (secrets storageKey, dbPassword; CAS TLS certificate)',
    )
    .option(
      '--cas-root <file>',
      'the CAS root.pem (default $SECURECLOUD_CAS_ROOT or ./.securecloud/cas/root.pem)',
    )
    .option('--service <name>', 'service name in the CAS policy', 'cascadb')
    .option(
      '--tee <backend>',
      'without --cas: TEE backend that seals the storage key: auto, sim, gramine-sgx, tsm',
      'auto',
    )
    .option('--tls-cert <file>', 'without --cas: TLS certificate (PEM)')
    .option('--tls-key <file>', 'without --cas: TLS key (PEM)')
    .option('--insecure-trust', 'accept clients without credentials (tests only)')
    .action(async (flags: ServeFlags) => {
      const server = await startFromFlags(flags, run.io);
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          done();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await server.close({ deadlineMs: 10_000 });
      run.exitCode = 0;
    });
}
