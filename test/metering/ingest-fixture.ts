// A whole ingestion pipeline in one process, for the end-to-end tests: a real CAS over HTTPS (sim
// backend) with the metering policy, an attested MDC (CascaDB on LMDB) and aggregator(s) on the real
// ZeroMQ CURVE bus, and a simulated fleet over real TCP links.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CasService, generateUserKey, loadUserKey, signPolicy, startCasServer } from '../../src/cas/index.ts';
import { getJson } from '../../src/deploy/index.ts';
import {
  type RunningAggregator,
  type RunningMdc,
  runAttestedAggregator,
  runAttestedMdc,
} from '../../src/metering/attested.ts';
import { connectLink, type Link } from '../../src/metering/link.ts';
import { MDC_NODE_ARGS } from '../../src/metering/mdc/mdc-service.ts';
import { MDC_SECRETS, meteringPolicySections } from '../../src/metering/policy.ts';
import { MeterKeyFile, provisionMeters } from '../../src/metering/provisioning.ts';
import { loadHouseholdProfiles } from '../../src/metering/simulator/household-data.ts';
import { createCustomerModel } from '../../src/metering/simulator/model.ts';
import { MeterFleet, mdcPublicKeyFromHex } from '../../src/metering/simulator/simulator.ts';
import { createSimBackend, measureService } from '../../src/tee/index.ts';
import { freePorts } from '../support/ports.ts';

/** An MDC running as a separate `securecloud mdc` process. */
export interface MdcChild {
  readonly apiUrl: string;
  readonly busEndpoint: string;
  readonly process: ChildProcess;
  /** GET /v1/stats with the audit token. */
  stats(): Promise<{
    readings: number;
    stored: number;
    duplicates: number;
    refusals: Record<string, number>;
    writeBuffer: { bufferedKeys: number; folds: number; foldSeconds: number };
  }>;
  /** GET /healthz: the write buffer's keys not yet folded among others (cheap: no table count). */
  health(): Promise<{
    bufferedKeys: number;
    readingsStored: number;
    foldsBy: { size: number; idle: number; call: number };
  }>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface IngestRig {
  readonly dir: string;
  readonly casUrl: string;
  readonly casRootPem: string;
  /** The in-process MDC (undefined with `mdcProcess: true`). */
  readonly mdc: RunningMdc;
  /** The MDC process (with `mdcProcess: true`). */
  readonly mdcChild: MdcChild | undefined;
  /** Every MDC shard process (with `mdcProcess: true`); shard 0 is `mdcChild`. */
  readonly mdcChildren: readonly MdcChild[];
  /** Starts the MDC process again on the same data and ports (with `mdcProcess: true`). */
  restartMdcChild(): Promise<MdcChild>;
  readonly aggregators: RunningAggregator[];
  readonly fleet: MeterFleet;
  readonly links: Link[];
  readonly inmetroPublicPem: string;
  readonly auditToken: string;
  /** Starts (again) the MDC on the same data directory and ports. */
  restartMdc(): Promise<RunningMdc>;
  close(): Promise<void>;
}

export async function startIngestRig(o: {
  meters: number;
  aggregators?: number;
  now?: () => number;
  faults?: ConstructorParameters<typeof MeterFleet>[0]['faults'];
  random?: () => number;
  /** Run the MDC as a child process (`securecloud mdc`), so that tests can SIGKILL it. */
  mdcProcess?: boolean;
  /** Envelopes per aggregator → MDC request. */
  batchSize?: number;
  /** Start the MDC process with --insecure-plaintext-bench (envelope-cost benchmark). */
  plaintext?: boolean;
  /** The MDC's --envelope-worker (default: its default, on). */
  envelopeWorker?: boolean;
  /** MDC shard processes (with `mdcProcess: true`; default 1): meter m goes to shard m mod shards. */
  mdcShards?: number;
}): Promise<IngestRig> {
  const dir = await mkdtemp(join(tmpdir(), 'sc-ingest-'));
  const provision = await provisionMeters({ dir: join(dir, 'meters'), count: o.meters });
  const codeFile = join(dir, 'service.js');
  await writeFile(codeFile, 'console.log("metering");\n');
  const { measurement } = await measureService(codeFile);
  const backend = await createSimBackend({ measurement: 'ca'.repeat(32), stateDir: join(dir, 'cas-sim') });
  const cas = await CasService.open({ dataDir: join(dir, 'cas'), backend, measurement: 'ca'.repeat(32) });
  const owner = generateUserKey('owner');
  const ownerKey = loadUserKey(owner.pem);
  const sections = meteringPolicySections({ measurements: [measurement] });
  const text = JSON.stringify({
    version: 1,
    name: 'ingest-test',
    predecessor: null,
    users: { owner: { certificate: owner.certificatePem, roles: ['owner'] } },
    roles: { owner: { can: ['update-policy', 'write-secret', 'read-secret'] } },
    ...sections,
  });
  await cas.applyPolicy(text, [{ user: 'owner', signature: signPolicy(text, ownerKey.privateKey) }]);
  await cas.putSecret(
    ownerKey.publicKeySpki,
    MDC_SECRETS.identity,
    await readFile(join(dir, 'meters', 'mdc.key')),
  );
  await cas.putSecret(
    ownerKey.publicKeySpki,
    MDC_SECRETS.registryDigest,
    Buffer.from(provision.registrySha256),
  );
  const inmetro = await cas.getSecret(ownerKey.publicKeySpki, MDC_SECRETS.inmetro);
  const token = await cas.getSecret(ownerKey.publicKeySpki, MDC_SECRETS.auditToken);
  const server = await startCasServer(cas, { port: 0 });
  const attest = {
    casUrl: server.url,
    casRootPem: cas.rootPem,
    tee: 'sim' as const,
    measurePath: codeFile,
    simStateDir: join(dir, 'service-sim'),
    ...(o.now ? { now: o.now } : {}),
  };
  let httpPort = 0;
  let busPort = 0;
  const startMdc = async (): Promise<RunningMdc> => {
    const mdc = await runAttestedMdc({
      ...attest,
      dataDir: join(dir, 'mdc'),
      registryPath: join(dir, 'meters', 'registry.bin'),
      bind: `tcp://127.0.0.1:${busPort}`,
      httpHost: '127.0.0.1',
      httpPort,
      ...(process.env.SC_INGEST_DEBUG
        ? {
            log: (level: string, msg: string, f?: object) =>
              process.stderr.write(
                `${performance.now().toFixed(0)} mdc ${level} ${msg} ${JSON.stringify(f)}\n`,
              ),
          }
        : {}),
    });
    httpPort = Number(new URL(mdc.mdc.apiUrl).port);
    busPort = Number(mdc.mdc.busEndpoint.split(':').pop());
    return mdc;
  };
  const rootFile = join(dir, 'cas-root.pem');
  await writeFile(rootFile, cas.rootPem);
  const tokenValue = String((token as unknown as { fields: Record<string, string> }).fields.value);
  const shardPorts: Array<{ http: number; bus: number }> = [];
  const startChild = async (shard = 0): Promise<MdcChild> => {
    if (shardPorts[shard] === undefined) {
      const [a, b] = await freePorts(2);
      shardPorts[shard] = { http: a!, bus: b! };
    }
    const { http: httpPort, bus: busPort } = shardPorts[shard]!;
    const child = spawn(
      process.execPath,
      [
        ...MDC_NODE_ARGS,
        // e.g. SC_MDC_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the MDC process
        ...(process.env.SC_MDC_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        BIN,
        'mdc',
        '--cas',
        server.url,
        '--cas-root',
        rootFile,
        '--tee',
        'sim',
        '--measure',
        codeFile,
        '--sim-state',
        join(dir, 'service-sim'),
        '--data',
        join(dir, shard === 0 ? 'mdc' : `mdc-${shard}`),
        '--registry',
        join(dir, 'meters', 'registry.bin'),
        '--bind',
        `tcp://127.0.0.1:${busPort}`,
        '--http',
        `127.0.0.1:${httpPort}`,
        ...(o.plaintext ? ['--insecure-plaintext-bench'] : []),
        ...(o.envelopeWorker === undefined ? [] : ['--envelope-worker', o.envelopeWorker ? 'on' : 'off']),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    // e.g. SC_MDC_OUT=/tmp/mdc.log (with SC_MDC_NODE_ARGS=--trace-gc) keeps the MDC's output in a file
    if (process.env.SC_MDC_OUT) {
      const log = createWriteStream(process.env.SC_MDC_OUT, { flags: 'a' });
      child.stdout!.pipe(log);
      child.stderr!.pipe(log);
    }
    let stderr = '';
    child.stderr!.on('data', (c) => {
      stderr = (stderr + String(c)).slice(-20_000);
    });
    let readyTimer: NodeJS.Timeout | undefined;
    const ready = await new Promise<{ apiUrl: string; busEndpoint: string }>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (c) => {
        out += String(c);
        const line = out.split('\n').find((l) => l.includes('"ready"'));
        if (line) resolve(JSON.parse(line));
      });
      child.once('exit', (code) => reject(new Error(`securecloud mdc exited with ${code}: ${stderr}`)));
      readyTimer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`securecloud mdc not ready within 60 s; stdout: ${out}; stderr: ${stderr}`));
      }, 60_000);
      readyTimer.unref();
    }).finally(() => clearTimeout(readyTimer));
    let stopping = false;
    const exited = new Promise<number | null>((r) =>
      child.once('exit', (code, signal) => {
        // An exit nobody asked for (a crash, the kernel's OOM killer): say so with the MDC's last words.
        if (!stopping)
          process.stderr.write(
            `MDC shard ${shard} (pid ${child.pid}) exited unexpectedly: code ${code}, signal ${signal}\n${stderr.slice(-4000)}\n`,
          );
        r(code);
      }),
    );
    return {
      ...ready,
      process: child,
      stats: () =>
        // It counts the reading table: a million rows take tens of seconds.
        getJson(`${ready.apiUrl}/v1/stats`, {
          ca: cas.rootPem,
          service: 'mdc',
          token: tokenValue,
          timeoutMs: 300_000,
        }) as never,
      // A generous timeout: a loaded MDC with a million sessions answers slowly (long GC pauses).
      health: () =>
        getJson(`${ready.apiUrl}/healthz`, { ca: cas.rootPem, service: 'mdc', timeoutMs: 60_000 }) as never,
      stop: async (signal = 'SIGTERM') => {
        stopping = true;
        child.kill(signal);
        return exited;
      },
    };
  };
  let mdcChild: MdcChild | undefined;
  let mdc: RunningMdc = undefined as unknown as RunningMdc;
  const mdcChildren: MdcChild[] = [];
  if (o.mdcProcess) {
    for (let shard = 0; shard < (o.mdcShards ?? 1); shard++) mdcChildren.push(await startChild(shard));
    mdcChild = mdcChildren[0];
  } else mdc = await startMdc();
  const mdcUrls = mdcChildren.length > 0 ? mdcChildren.map((c) => c.apiUrl) : [mdc.mdc.apiUrl];
  const aggregators: RunningAggregator[] = [];
  for (let i = 0; i < (o.aggregators ?? 1); i++) {
    aggregators.push(
      await runAttestedAggregator({
        ...attest,
        mdcUrls,
        dataDir: join(dir, `aggregator-${i}`),
        listenHost: '127.0.0.1',
        listenPort: 0,
        requestTimeoutMs: 3000,
        ...(o.batchSize ? { batchSize: o.batchSize } : {}),
      }),
    );
  }
  const keys = await MeterKeyFile.load(join(dir, 'meters', 'meters.keys'));
  const profiles = await loadHouseholdProfiles({ households: 4 });
  const model = createCustomerModel({ meters: o.meters, seed: 7, profiles });
  const fleet = new MeterFleet({
    keys,
    mdcPublicKey: mdcPublicKeyFromHex(provision.mdcPublicKey),
    model,
    ...(o.now ? { now: o.now } : {}),
    ...(o.faults ? { faults: o.faults } : {}),
    ...(o.random ? { random: o.random } : {}),
  });
  const links: Link[] = [];
  for (const a of aggregators) {
    links.push(
      await connectLink('127.0.0.1', a.aggregator.linkPort, { onMessages: (_l, m) => fleet.onResults(m) }),
    );
  }
  fleet.attach(links);
  return {
    dir,
    casUrl: server.url,
    casRootPem: cas.rootPem,
    get mdc() {
      return mdc;
    },
    get mdcChild() {
      return mdcChild;
    },
    get mdcChildren() {
      return mdcChildren;
    },
    async restartMdcChild() {
      mdcChild = await startChild(0);
      mdcChildren[0] = mdcChild;
      return mdcChild;
    },
    aggregators,
    fleet,
    links,
    inmetroPublicPem: String(
      inmetro.fields?.publicPem ?? (inmetro as unknown as Record<string, string>).publicPem,
    ),
    auditToken: String(token.fields?.value ?? (token as unknown as Record<string, string>).value),
    async restartMdc() {
      mdc = await startMdc();
      return mdc;
    },
    async close() {
      for (const l of links) l.close();
      for (const a of aggregators) await a.close();
      await mdc?.close().catch(() => undefined);
      for (const c of mdcChildren) await c.stop('SIGTERM').catch(() => undefined);
      fleet.destroy();
      keys.destroy();
      await server.close({ deadlineMs: 1000 });
      await cas.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

const BIN = new URL('../../bin/securecloud', import.meta.url).pathname;
