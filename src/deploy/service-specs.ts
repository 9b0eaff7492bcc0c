/**
 * How each service of a deployment is run: its `securecloud` command line, ports, health URL, log
 * file, and how its ready line is recognized. The data layout under the data directory is fixed here
 * (see docs/deployment.md, "Data layout").
 */
import { join } from 'node:path';
import { MDC_NODE_ARGS } from '../metering/mdc/mdc-service.ts';
import { ENCLAVE_SIZE_ENV } from '../platform/index.ts';
import type { Deployment } from './deployment-file.ts';
import type { ReadyInfo, ServiceSpec } from './managed-service.ts';

/** Paths under the data directory. */
export interface DataLayout {
  readonly root: string;
  readonly cas: string;
  readonly casRoot: string;
  readonly ownerKey: string;
  readonly recoveryKey: string;
  readonly recoveryPublicKey: string;
  readonly meters: string;
  readonly simPlatform: string;
  readonly logs: string;
  readonly policy: string;
  mdc(shard: number): string;
  aggregator(i: number): string;
  readonly cascadb: string;
}

/** The data layout of `dataDir`. */
export function dataLayout(dataDir: string): DataLayout {
  return {
    root: dataDir,
    cas: join(dataDir, 'cas'),
    casRoot: join(dataDir, 'cas', 'root.pem'),
    ownerKey: join(dataDir, 'owner.pem'),
    recoveryKey: join(dataDir, 'recovery', 'recovery.pem'),
    recoveryPublicKey: join(dataDir, 'recovery', 'recovery.pub.pem'),
    meters: join(dataDir, 'meters'),
    simPlatform: join(dataDir, 'sim-platform'),
    logs: join(dataDir, 'logs'),
    policy: join(dataDir, 'policy.json'),
    mdc: (shard) => join(dataDir, `mdc-${shard}`),
    aggregator: (i) => join(dataDir, `aggregator-${i}`),
    cascadb: join(dataDir, 'cascadb'),
  };
}

/** The CAS URL of a deployment. */
export const casUrlOf = (d: Deployment): string => `https://${urlHost(d.host)}:${d.cas.port}`;

const urlHost = (host: string): string => (host.includes(':') ? `[${host}]` : host);

function jsonReady(service: string): (line: string) => ReadyInfo | null {
  return (line) => {
    if (!line.startsWith('{') || !line.includes('"ready"')) return null;
    try {
      const v = JSON.parse(line) as {
        event?: unknown;
        service?: unknown;
        instanceId?: unknown;
        simulation?: unknown;
      };
      if (v.event !== 'ready' || v.service !== service) return null;
      return {
        ...(typeof v.instanceId === 'string' ? { instanceId: v.instanceId } : {}),
        ...(typeof v.simulation === 'boolean' ? { simulation: v.simulation } : {}),
      };
    } catch {
      return null;
    }
  };
}

/** Options shared by every spec. */
export interface SpecContext {
  readonly deployment: Deployment;
  readonly layout: DataLayout;
  /** `sim` on the sim backend, else what the deployment says. */
  readonly tee: string;
  readonly simulation: boolean;
}

const env = (c: SpecContext): Record<string, string> => ({
  [ENCLAVE_SIZE_ENV]: String(c.deployment.enclaveSize),
});
const platform = (c: SpecContext): ReadyInfo => (c.simulation ? { platform: 'sim', simulation: true } : {});

/** `securecloud cas serve`. */
export function casSpec(c: SpecContext): ServiceSpec {
  const d = c.deployment;
  return {
    name: 'cas',
    kind: 'cas',
    args: [
      'cas',
      'serve',
      '--data',
      c.layout.cas,
      '--port',
      String(d.cas.port),
      '--host',
      d.host,
      '--tee',
      c.tee,
      '--recovery-key',
      c.layout.recoveryPublicKey,
    ],
    env: env(c),
    ports: [d.cas.port],
    healthUrl: `${casUrlOf(d)}/healthz`,
    logFile: join(c.layout.logs, 'cas.log'),
    ready: (line) => (line.startsWith('securecloud CAS listening on') ? platform(c) : null),
    readyTimeoutMs: 60_000,
  };
}

function attestArgs(c: SpecContext): string[] {
  return [
    '--cas',
    casUrlOf(c.deployment),
    '--cas-root',
    c.layout.casRoot,
    '--tee',
    c.tee,
    '--sim-state',
    c.layout.simPlatform,
  ];
}

/** `securecloud mdc` for shard `i`. */
export function mdcSpec(c: SpecContext, i: number): ServiceSpec {
  const d = c.deployment;
  const http = d.mdc.httpPort + i;
  const bus = d.mdc.busPort + i;
  const ready = jsonReady('mdc');
  return {
    name: `mdc-${i}`,
    kind: 'mdc',
    nodeArgs: MDC_NODE_ARGS,
    args: [
      'mdc',
      ...attestArgs(c),
      '--data',
      c.layout.mdc(i),
      '--registry',
      join(c.layout.meters, 'registry.bin'),
      '--bind',
      `tcp://${urlHost(d.host)}:${bus}`,
      '--http',
      `${d.host}:${http}`,
    ],
    env: env(c),
    ports: [bus, http],
    healthUrl: `https://${urlHost(d.host)}:${http}/healthz`,
    logFile: join(c.layout.logs, `mdc-${i}.log`),
    ready: (line) => {
      const info = ready(line);
      return info === null ? null : { ...platform(c), ...info };
    },
    readyTimeoutMs: 90_000,
  };
}

/** `securecloud aggregator` number `i`, forwarding to every MDC shard. */
export function aggregatorSpec(c: SpecContext, i: number): ServiceSpec {
  const d = c.deployment;
  const port = d.aggregators.port + i;
  const ready = jsonReady('aggregator');
  const mdcs: string[] = [];
  for (let s = 0; s < d.mdc.shards; s++)
    mdcs.push('--mdc', `https://${urlHost(d.host)}:${d.mdc.httpPort + s}`);
  return {
    name: `aggregator-${i}`,
    kind: 'aggregator',
    args: [
      'aggregator',
      ...attestArgs(c),
      ...mdcs,
      '--data',
      c.layout.aggregator(i),
      '--listen',
      `${d.host}:${port}`,
      '--http',
      `${d.host}:${d.aggregators.httpPort + i}`,
    ],
    env: env(c),
    ports: [port, d.aggregators.httpPort + i],
    healthUrl: `https://${urlHost(d.host)}:${d.aggregators.httpPort + i}/healthz`,
    logFile: join(c.layout.logs, `aggregator-${i}.log`),
    ready: (line) => {
      const info = ready(line);
      return info === null ? null : { ...platform(c), ...info };
    },
    readyTimeoutMs: 90_000,
  };
}

/** `securecloud sql serve` under the CAS (service `cascadb`). */
export function cascadbSpec(c: SpecContext): ServiceSpec {
  const d = c.deployment;
  return {
    name: 'cascadb',
    kind: 'cascadb',
    args: [
      'sql',
      'serve',
      '--data',
      c.layout.cascadb,
      '--port',
      String(d.cascadb.port),
      '--http-port',
      String(d.cascadb.httpPort),
      '--host',
      d.host,
      '--cas',
      casUrlOf(d),
      '--cas-root',
      c.layout.casRoot,
    ],
    env: env(c),
    ports: [d.cascadb.port, d.cascadb.httpPort],
    healthUrl: `https://${urlHost(d.host)}:${d.cascadb.httpPort}/healthz`,
    logFile: join(c.layout.logs, 'cascadb.log'),
    ready: (line) => (line.startsWith('securecloud sql: CascaDB serving') ? platform(c) : null),
    readyTimeoutMs: 90_000,
  };
}

/** `securecloud scbr-router` (service `scbr-router`): the SCBR router on the deployment's host. */
export function scbrRouterSpec(c: SpecContext): ServiceSpec {
  const d = c.deployment;
  const s = d.scbr;
  const ready = jsonReady('scbr-router');
  return {
    name: 'scbr-router',
    kind: 'scbr-router',
    args: [
      'scbr-router',
      ...attestArgs(c),
      '--publish',
      `tcp://${urlHost(d.host)}:${s.publishPort}`,
      '--subscribe',
      `tcp://${urlHost(d.host)}:${s.subscribePort}`,
      '--http',
      `${d.host}:${s.httpPort}`,
    ],
    env: env(c),
    ports: [s.publishPort, s.subscribePort, s.httpPort],
    healthUrl: `https://${urlHost(d.host)}:${s.httpPort}/healthz`,
    logFile: join(c.layout.logs, 'scbr-router.log'),
    ready: (line) => {
      const info = ready(line);
      return info === null ? null : { ...platform(c), ...info };
    },
    readyTimeoutMs: 90_000,
  };
}

/** `securecloud meters simulate` against every aggregator. */
export function simulatorSpec(c: SpecContext, onLine: (line: string) => void): ServiceSpec {
  const d = c.deployment;
  const aggregators: string[] = [];
  for (let i = 0; i < d.aggregators.count; i++)
    aggregators.push('--aggregator', `${d.host}:${d.aggregators.port + i}`);
  return {
    name: 'simulator',
    kind: 'simulator',
    args: [
      'meters',
      'simulate',
      '--meters',
      String(d.meters.count),
      '--keys',
      c.layout.meters,
      ...aggregators,
      '--speed',
      String(d.meters.speed),
      '--households',
      String(d.meters.households),
      ...(d.meters.rounds > 0 ? ['--rounds', String(d.meters.rounds)] : []),
    ],
    ports: [],
    healthUrl: null,
    logFile: join(c.layout.logs, 'simulator.log'),
    ready: null,
    readyTimeoutMs: 0,
    exitZeroIsDone: d.meters.rounds > 0,
    onLine,
  };
}
