/**
 * Smart-metering commands: `meters provision`, `meters simulate`, `mdc`, `aggregator` and
 * `metering audit`. Long-running ones log JSON lines to stderr, print one `ready` JSON line to stdout
 * when serving, and stop gracefully on SIGINT/SIGTERM.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { getJson } from '../deploy/index.ts';
import { runAttestedAggregator, runAttestedMdc } from '../metering/attested.ts';
import { auditReadings, formatAuditReport, importInmetroPublicKey } from '../metering/inmetro/index.ts';
import { connectLink, type Link } from '../metering/link.ts';
import { parseReadingsExport } from '../metering/mdc/export-format.ts';
import { MeterKeyFile, provisionMeters } from '../metering/provisioning.ts';
import { loadHouseholdProfiles } from '../metering/simulator/household-data.ts';
import { createCustomerModel } from '../metering/simulator/model.ts';
import { MeterFleet, mdcPublicKeyFromHex } from '../metering/simulator/simulator.ts';
import { applyIngestV8Flags } from '../metering/v8-flags.ts';
import type { TeeChoice } from '../platform/index.ts';
import { defaultCasRoot, defaultCasUrl } from './cas-command.ts';
import { type CliIo, CommandFailure, EXIT, UsageError } from './io.ts';
import type { CliRun } from './main.ts';

const INTERVAL = 15 * 60_000;
const SRC = fileURLToPath(new URL('../', import.meta.url));
const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** A JSON-lines logger on stderr, with the service name and a correlation id per process. */
export function jsonLogger(io: CliIo, service: string) {
  const run = Math.random().toString(36).slice(2, 10);
  return (level: string, msg: string, fields: Record<string, unknown> = {}): void => {
    io.err(JSON.stringify({ time: new Date().toISOString(), level, service, run, msg, ...fields }));
  };
}

function intArg(
  value: string | undefined,
  name: string,
  min: number,
  max: number,
  fallback?: number,
): number {
  if (value === undefined) {
    if (fallback === undefined) throw new UsageError(`${name} is required`);
    return fallback;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`${name} ${value}: expected an integer from ${min} to ${max}`);
  return n;
}

function probability(value: string | undefined, name: string): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new UsageError(`${name} ${value}: expected a probability from 0 to 1`);
  return n;
}

/** Parses `HOST:PORT` (a usage error names the flag). */
export function hostPort(value: string, name: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(value);
  if (m === null || Number(m[2]) > 65535) throw new UsageError(`${name} ${value}: expected HOST:PORT`);
  return { host: m[1]!, port: Number(m[2]) };
}

/** A time given as an ISO date-time or UTC milliseconds. */
export function timeArg(value: string, name: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(n))
    throw new UsageError(
      `${name} ${value}: expected an ISO date-time (2026-03-01T00:00Z) or UTC milliseconds`,
    );
  return n;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} at ${path}: ${(err as Error).message}`);
  }
}

/** Waits for SIGINT or SIGTERM. */
export function untilSignal(): Promise<string> {
  return new Promise((done) => {
    const stop = (signal: string): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      done(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

/** The attestation flags {@link casOptions} adds. */
export interface CasFlags {
  cas?: string;
  casRoot?: string;
  tee: string;
  measure?: string;
  simState?: string;
}

/** Adds the attestation flags (`--cas`, `--cas-root`, `--tee`, `--measure`, `--sim-state`). */
export function casOptions(c: Command): Command {
  return c
    .option('--cas <url>', 'base URL of the CAS (default $SECURECLOUD_CAS or https://127.0.0.1:8443)')
    .option(
      '--cas-root <file>',
      'the CAS root.pem (default $SECURECLOUD_CAS_ROOT or ./.securecloud/cas/root.pem)',
    )
    .option('--tee <backend>', 'TEE backend: auto, sim, gramine-sgx, tsm', 'auto')
    .option('--measure <path>', "sim backend: what is measured (default the package's src/)")
    .option('--sim-state <dir>', 'sim backend: directory of the software platform key');
}

/** The `startService` options of {@link casOptions}' flags (reads the CAS root). */
export async function attestFlags(f: CasFlags) {
  return {
    casUrl: f.cas ?? defaultCasUrl(),
    casRootPem: await readText(f.casRoot ?? defaultCasRoot(), 'the CAS root (--cas-root)'),
    tee: f.tee as TeeChoice,
    measurePath: f.measure ?? SRC,
    ...(f.simState ? { simStateDir: f.simState } : {}),
  };
}

/** Registers the metering commands. */
export function registerMeteringCommands(program: Command, run: CliRun): void {
  const meters = program.command('meters').description('smart meters: provisioning and the fleet simulator');
  meters
    .command('provision')
    .description(
      "create meters' key material (for the simulator) and the registry of their public keys (for the MDC)",
    )
    .requiredOption('--count <n>', 'number of meters (1 to 10,000,000)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--first-id <n>', 'first meter id', '1')
    .option(
      '--seed <text>',
      'derive keys from this seed (reproducible test fleets only; never for real meters)',
    )
    .addHelpText(
      'after',
      `
Writes meters.keys (secret), registry.bin, registry.sha256, mdc.key (secret) and provision.json into --out. Then give the
MDC its identity and the registry digest through the CAS:
  securecloud cas secret put mdcIdentity --from DIR/mdc.key --as owner.pem
  securecloud cas secret put meterRegistryDigest --from DIR/registry.sha256 --as owner.pem`,
    )
    .action(async (f: { count: string; out: string; firstId: string; seed?: string }) => {
      const count = intArg(f.count, '--count', 1, 10_000_000);
      const firstId = intArg(f.firstId, '--first-id', 1, 99_999_999);
      let last = 0;
      const r = await provisionMeters({
        dir: f.out,
        count,
        firstId,
        ...(f.seed ? { seed: f.seed } : {}),
        onProgress: (done, total) => {
          if (done - last >= 50_000 || done === total) {
            last = done;
            run.io.err(`provisioned ${done}/${total} meters`);
          }
        },
      });
      run.io.out(
        JSON.stringify({
          dir: r.dir,
          count: r.count,
          firstId: r.firstId,
          registrySha256: r.registrySha256,
          mdcPublicKey: r.mdcPublicKey,
          seconds: Number(r.seconds.toFixed(2)),
        }),
      );
    });

  meters
    .command('simulate')
    .description(
      'run N simulated meters that send a phasor report every 15 simulated minutes through aggregators',
    )
    .requiredOption('--meters <n>', 'number of meters (at most those provisioned)')
    .option(
      '--aggregators <m>',
      'number of aggregators (ports 7200, 7201, … on 127.0.0.1 unless --aggregator is given)',
    )
    .option('--aggregator <host:port>', 'an aggregator link endpoint (repeatable)', collect, [])
    .option('--keys <dir>', 'the provisioning directory', './.securecloud/meters')
    .option(
      '--speed <x>',
      'simulated time runs X times faster, replaying the recent past until it reaches the present',
      '1',
    )
    .option('--seed <s>', 'seed of the consumption model (deterministic customers)', '1')
    .option('--rounds <r>', 'stop after R rounds (default: run until SIGINT/SIGTERM)')
    .option('--start <time>', 'simulated start (ISO or ms; default: now, or 1 day ago when --speed > 1)')
    .option('--drop <p>', 'fault: probability that a report is lost')
    .option('--delay <p>', 'fault: probability that a report is delayed by 2 s')
    .option('--duplicate <p>', 'fault: probability that a report is sent twice')
    .option('--skew-share <p>', 'fault: share of meters with a skewed clock')
    .option('--households <n>', 'real households to model customers on', '64')
    .option('--resend-after <ms>', 'resend a report without a receipt after this long', '5000')
    .option(
      '--deadline <ms>',
      "give up on a round's missing receipts after this long (default: one simulated interval)",
    )
    .action(async (f: Record<string, string | string[] | undefined>) => {
      const count = intArg(f.meters as string, '--meters', 1, 10_000_000);
      const endpoints = (f.aggregator as string[]).map((a) => hostPort(a, '--aggregator'));
      applyIngestV8Flags();
      const m =
        f.aggregators === undefined
          ? Math.max(1, endpoints.length)
          : intArg(f.aggregators as string, '--aggregators', 1, 1000);
      while (endpoints.length < m) endpoints.push({ host: '127.0.0.1', port: 7200 + endpoints.length });
      const speed = Number(f.speed);
      if (!(speed >= 1 && speed <= 100_000)) throw new UsageError(`--speed ${f.speed}: expected 1 to 100000`);
      const rounds =
        f.rounds === undefined ? Number.POSITIVE_INFINITY : intArg(f.rounds as string, '--rounds', 1, 1e9);
      const faults = {
        drop: probability(f.drop as string | undefined, '--drop'),
        delay: probability(f.delay as string | undefined, '--delay'),
        duplicate: probability(f.duplicate as string | undefined, '--duplicate'),
        skewShare: probability(f.skewShare as string | undefined, '--skew-share'),
      };
      const keysDir = f.keys as string;
      const keys = await MeterKeyFile.load(join(keysDir, 'meters.keys')).catch((err) => {
        throw new UsageError(
          `${(err as Error).message}: run \`securecloud meters provision --count N --out ${keysDir}\` first`,
        );
      });
      const provision = JSON.parse(await readText(join(keysDir, 'provision.json'), 'provision.json')) as {
        mdcPublicKey: string;
      };
      const profiles = await loadHouseholdProfiles({
        households: intArg(f.households as string, '--households', 1, 262),
      });
      const model = createCustomerModel({
        meters: count,
        seed: intArg(f.seed as string, '--seed', 0, 2 ** 31),
        profiles,
      });
      const fleet = new MeterFleet({
        keys,
        meters: count,
        mdcPublicKey: mdcPublicKeyFromHex(provision.mdcPublicKey),
        model,
        faults,
      });
      const links: Link[] = [];
      for (const e of endpoints) {
        links.push(await connectLink(e.host, e.port, { onMessages: (_l, msgs) => fleet.onResults(msgs) }));
      }
      fleet.attach(links);
      const log = jsonLogger(run.io, 'simulator');
      const realStart = Date.now();
      const aligned = Math.floor(realStart / INTERVAL) * INTERVAL;
      const simStart =
        f.start !== undefined
          ? timeArg(f.start as string, '--start')
          : speed > 1
            ? aligned - 86_400_000
            : aligned;
      const simNow = () => Math.min(Date.now(), simStart + (Date.now() - realStart) * speed);
      let stopping = false;
      const stopped = untilSignal().then(() => {
        stopping = true;
      });
      log('info', 'handshakes', { meters: count, aggregators: endpoints.length });
      const sessions = await fleet.handshake({
        onProgress: (d, t) => d % 10_000 === 0 && log('info', 'handshake progress', { done: d, total: t }),
      });
      log('info', 'sessions established', { sessions, meters: count, summary: model.summary() });
      const resendAfterMs = intArg(f.resendAfter as string, '--resend-after', 100, 3_600_000);
      const deadlineMs =
        f.deadline === undefined
          ? Math.max(5000, INTERVAL / speed)
          : intArg(f.deadline as string, '--deadline', 1000, 24 * 3_600_000);
      let next = Math.floor(simNow() / INTERVAL) * INTERVAL;
      for (let r = 0; r < rounds && !stopping; r++) {
        while (simNow() < next && !stopping)
          await Promise.race([
            stopped,
            new Promise((w) => setTimeout(w, Math.min(1000, (next - simNow()) / speed + 5))),
          ]);
        if (stopping) break;
        if (fleet.sessions < count) await fleet.handshake();
        const stats = await fleet.round(next, { deadlineMs, resendAfterMs });
        run.io.out(JSON.stringify({ event: 'round', at: new Date(next).toISOString(), ...stats }));
        next += INTERVAL;
      }
      for (const l of links) l.close();
      fleet.destroy();
      keys.destroy();
      run.exitCode = EXIT.ok;
    });

  casOptions(
    program
      .command('mdc')
      .description(
        'run an attested meter-data-collection (MDC) service: sessions, validation, INMETRO-signed storage in CascaDB',
      )
      .option('--data <dir>', 'data directory (CascaDB on LMDB)', './.securecloud/mdc')
      .option(
        '--registry <file>',
        'registry.bin from `meters provision`',
        './.securecloud/meters/registry.bin',
      )
      .option('--bind <endpoint>', 'bus endpoint (ZeroMQ CURVE)', 'tcp://127.0.0.1:7100')
      .option('--http <host:port>', 'HTTPS API (/healthz, /metrics, /v1/bus, /v1/readings)', '127.0.0.1:7180')
      .option(
        '--page-encryption <on|off>',
        'LMDB page encryption under the sealed blocks (default: as the existing store was created; off for a new one, see docs/metering.md "Storage")',
      )
      .option(
        '--write-buffer-mib <n>',
        'buffered writes (MiB) that force a fold before a round pauses (default: a whole round, 1.5 KiB per provisioned meter, from 128 MiB to a quarter of the memory)',
      )
      .option(
        '--envelope-worker <on|off>',
        'open envelopes and seal receipts in a worker thread while the main thread stores (default on)',
      )
      .option(
        '--insecure-plaintext-bench',
        'also accept reports in clear: ONLY to measure the envelope cost (bench/ingest.ts)',
      ),
  ).action(
    async (
      f: CasFlags & {
        data: string;
        registry: string;
        bind: string;
        http: string;
        pageEncryption?: string;
        writeBufferMib?: string;
        envelopeWorker?: string;
        insecurePlaintextBench?: boolean;
      },
    ) => {
      const http = hostPort(f.http, '--http');
      const pageEncryption = onOff(f.pageEncryption, '--page-encryption');
      const envelopeWorker = onOff(f.envelopeWorker, '--envelope-worker');
      applyIngestV8Flags();
      const bufferMib =
        f.writeBufferMib === undefined
          ? undefined
          : intArg(f.writeBufferMib, '--write-buffer-mib', 1, 1 << 20);
      const log = jsonLogger(run.io, 'mdc');
      const mdc = await runAttestedMdc({
        ...(await attestFlags(f)),
        dataDir: f.data,
        registryPath: f.registry,
        bind: f.bind,
        httpHost: http.host,
        httpPort: http.port,
        ...(f.insecurePlaintextBench ? { allowPlaintext: true } : {}),
        ...(pageEncryption !== undefined && { pageEncryption }),
        ...(envelopeWorker !== undefined && { envelopeWorker }),
        ...(bufferMib !== undefined && { writeBufferBytes: bufferMib * 1024 * 1024 }),
        log: (level, msg, fields) => (msg === 'batch handled' ? undefined : log(level, msg, fields)),
      }).catch((err) => {
        throw new CommandFailure(`the MDC could not start: ${(err as Error).message}`);
      });
      run.io.out(
        JSON.stringify({
          event: 'ready',
          service: 'mdc',
          instanceId: mdc.attested.instanceId,
          simulation: mdc.attested.simulation,
          apiUrl: mdc.mdc.apiUrl,
          busEndpoint: mdc.mdc.busEndpoint,
          restoredSessions: mdc.mdc.restoredSessions,
        }),
      );
      if (f.insecurePlaintextBench)
        log('warn', 'INSECURE: this MDC also accepts reports in clear (--insecure-plaintext-bench)');
      const signal = await untilSignal();
      log('info', 'stopping', { signal });
      await mdc.close();
      run.exitCode = EXIT.ok;
    },
  );

  casOptions(
    program
      .command('aggregator')
      .description(
        'run an aggregator: meter links in, store-and-forward on disk, MDC shards over the secure bus',
      )
      .option('--mdc <url>', 'an MDC API URL, in shard order (repeatable)', collect, [])
      .option('--data <dir>', 'directory of the disk queues', './.securecloud/aggregator')
      .option('--listen <host:port>', 'meter link endpoint', '127.0.0.1:7200')
      .option('--http <host:port>', 'HTTPS API (/healthz, /metrics); none when omitted')
      .option('--request-timeout <ms>', 'resend a request the MDC has not answered after this long', '15000'),
  ).action(
    async (
      f: CasFlags & { mdc: string[]; data: string; listen: string; http?: string; requestTimeout: string },
    ) => {
      if (f.mdc.length === 0)
        throw new UsageError('give at least one --mdc https://HOST:PORT (the MDC API URL)');
      const listen = hostPort(f.listen, '--listen');
      const log = jsonLogger(run.io, 'aggregator');
      applyIngestV8Flags();
      const agg = await runAttestedAggregator({
        ...(await attestFlags(f)),
        mdcUrls: f.mdc,
        dataDir: f.data,
        listenHost: listen.host,
        listenPort: listen.port,
        ...(f.http === undefined ? {} : { http: hostPort(f.http, '--http') }),
        requestTimeoutMs: intArg(f.requestTimeout, '--request-timeout', 100, 600_000),
        log,
      }).catch((err) => {
        throw new CommandFailure(`the aggregator could not start: ${(err as Error).message}`);
      });
      run.io.out(
        JSON.stringify({
          event: 'ready',
          service: 'aggregator',
          instanceId: agg.attested.instanceId,
          linkPort: agg.aggregator.linkPort,
        }),
      );
      const signal = await untilSignal();
      log('info', 'stopping', { signal, ...agg.aggregator.stats() });
      await agg.close();
      run.exitCode = EXIT.ok;
    },
  );

  program
    .command('metering')
    .description('smart-metering tools')
    .command('audit')
    .description(
      "verify a meter's stored readings: INMETRO signatures, completeness (96 per day), duplicates",
    )
    .requiredOption('--meter <id>', 'meter id (up to 8 digits)')
    .requiredOption('--from <time>', 'start, exclusive (ISO or UTC ms, on the 15-minute grid)')
    .requiredOption('--to <time>', 'end, inclusive')
    .requiredOption(
      '--public-key <file>',
      'the INMETRO public key (PEM; `cas secret get inmetro` → publicPem)',
    )
    .option('--mdc <url>', 'fetch the readings from this MDC API (needs --token-file and --cas-root)')
    .option('--token-file <file>', 'file holding the audit token (CAS secret auditToken)')
    .option('--cas-root <file>', "the CAS root.pem, to check the MDC's certificate")
    .option('--file <export.json>', 'audit a readings export (the JSON `GET /v1/readings` answers) instead')
    .option('--json', 'print the report as JSON')
    .action(
      async (f: {
        meter: string;
        from: string;
        to: string;
        publicKey: string;
        mdc?: string;
        tokenFile?: string;
        casRoot?: string;
        file?: string;
        json?: boolean;
      }) => {
        if (!/^[0-9]{1,8}$/.test(f.meter))
          throw new UsageError(`--meter ${f.meter}: expected up to 8 digits`);
        const meter = f.meter.padStart(8, '0');
        const from = timeArg(f.from, '--from');
        const to = timeArg(f.to, '--to');
        const publicKey = importInmetroPublicKey(await readText(f.publicKey, 'the INMETRO public key'));
        let body: unknown;
        if (f.file !== undefined) {
          body = JSON.parse(await readText(f.file, 'the export'));
        } else if (f.mdc !== undefined) {
          if (f.tokenFile === undefined) throw new UsageError('--mdc needs --token-file');
          const token = (await readText(f.tokenFile, 'the audit token')).trim();
          if (!/^[\x21-\x7e]{1,512}$/.test(token)) {
            throw new UsageError(
              `${f.tokenFile} does not hold an audit token (one line of printable characters: \`cas secret get auditToken --field value\`)`,
            );
          }
          const ca = await readText(f.casRoot ?? defaultCasRoot(), 'the CAS root (--cas-root)');
          body = await fetchReadings(f.mdc, { meter, from, to, token, ca });
        } else throw new UsageError('give --mdc URL (with --token-file) or --file export.json');
        const data = parseReadingsExport(body);
        const batches = new Map(data.batches.map((b) => [String(b.batchId), b]));
        const report = auditReadings({
          publicKey,
          meterId: meter,
          from,
          to,
          readings: data.readings,
          batches: (id) => batches.get(String(id)),
        });
        run.io.out(
          f.json
            ? JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? String(v) : v))
            : formatAuditReport(report),
        );
        run.exitCode = report.ok ? EXIT.ok : EXIT.refused;
      },
    );
}

async function fetchReadings(
  base: string,
  q: { meter: string; from: number; to: number; token: string; ca: string },
): Promise<unknown> {
  const url = new URL('/v1/readings', base);
  url.searchParams.set('meter', q.meter);
  url.searchParams.set('from', String(q.from));
  url.searchParams.set('to', String(q.to));
  // A CAS-issued certificate of the mdc service, whatever host it runs on.
  return getJson(url.href, {
    ca: q.ca,
    service: 'mdc',
    token: q.token,
    timeoutMs: 30_000,
    maxBytes: 64 << 20,
  }).catch((err) => {
    throw new CommandFailure(`cannot fetch readings from ${base}: ${(err as Error).message}`);
  });
}

/** An `on`/`off` flag value as a boolean (undefined when the flag is absent). */
function onOff(value: string | undefined, flag: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new UsageError(`${flag} takes on or off, not ${JSON.stringify(value)}`);
}
