/**
 * The deployment file of `securecloud up` (YAML or JSON): which services run, on which ports, where
 * the data lives, how many meters are simulated, the restart policy. Every key has a default, so an
 * empty file (or none) is a complete local deployment. Unknown keys are errors and every error names
 * its path (`mdc.shards: expected an integer 1..16, got "x"`). Reference: docs/deployment.md.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DeployError } from './errors.ts';

/** TEE backends a deployment can ask for. */
export const DEPLOYMENT_TEES = ['sim', 'auto', 'gramine-sgx', 'tsm'] as const;

/** One of {@link DEPLOYMENT_TEES}. */
export type DeploymentTee = (typeof DEPLOYMENT_TEES)[number];

/** A validated deployment, every default filled in. */
export interface Deployment {
  readonly version: 1;
  /** Name of the deployment (the CAS policy's `name`). */
  readonly name: string;
  /** Absolute data directory (the file gives it relative to the current directory). */
  readonly dataDir: string;
  /** Address every service listens on. */
  readonly host: string;
  readonly tee: DeploymentTee;
  /** Configured enclave size in bytes (reported by `securecloud_enclave_size_bytes`). */
  readonly enclaveSize: number;
  readonly cas: { readonly port: number };
  readonly cascadb: { readonly enabled: boolean; readonly port: number; readonly httpPort: number };
  /** The SCBR router: bus endpoints for publishers and subscribers, HTTPS `/healthz` and `/metrics`. */
  readonly scbr: {
    readonly enabled: boolean;
    readonly publishPort: number;
    readonly subscribePort: number;
    readonly httpPort: number;
  };
  /** Shard `i` uses `busPort + i` and `httpPort + i`. */
  readonly mdc: { readonly shards: number; readonly busPort: number; readonly httpPort: number };
  /** Aggregator `i` listens for meters on `port + i`. */
  readonly aggregators: { readonly count: number; readonly port: number; readonly httpPort: number };
  readonly meters: {
    /** Meters provisioned (key material, registry). */
    readonly count: number;
    /** Run the meter simulator. */
    readonly simulate: boolean;
    /** Simulated time runs this many times faster (1..100000). */
    readonly speed: number;
    /** Real households the consumption model draws on (1..262). */
    readonly households: number;
    /** Rounds before the simulator stops; 0 = until the deployment stops. */
    readonly rounds: number;
  };
  readonly restart: {
    readonly initialSeconds: number;
    readonly maxSeconds: number;
    /** A service up this long has its backoff reset. */
    readonly resetAfterSeconds: number;
  };
  /** SIGTERM → SIGKILL delay when stopping a service. */
  readonly stopTimeoutSeconds: number;
}

/** A port the deployment listens on, with the service and the file path that set it. */
export interface DeploymentPort {
  readonly service: string;
  readonly port: number;
  readonly path: string;
}

type Obj = Record<string, unknown>;

const fail = (path: string, message: string): never => {
  throw new DeployError('ERR_DEPLOYMENT_INVALID', `${path}: ${message}`, { path });
};

const shown = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));

function section(root: Obj, key: string, allowed: readonly string[]): Obj {
  const v = root[key];
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) return fail(key, `expected a mapping, got ${shown(v)}`);
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) fail(`${key}.${k}`, `unknown key (allowed: ${allowed.join(', ')})`);
  }
  return v as Obj;
}

function int(o: Obj, key: string, path: string, min: number, max: number, fallback: number): number {
  const v = o[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    return fail(path, `expected an integer ${min}..${max}, got ${shown(v)}`);
  return v;
}

function num(o: Obj, key: string, path: string, min: number, max: number, fallback: number): number {
  const v = o[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)
    return fail(path, `expected a number ${min}..${max}, got ${shown(v)}`);
  return v;
}

function bool(o: Obj, key: string, path: string, fallback: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') return fail(path, `expected true or false, got ${shown(v)}`);
  return v;
}

function str(o: Obj, key: string, path: string, pattern: RegExp, what: string, fallback: string): string {
  const v = o[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string' || !pattern.test(v)) return fail(path, `expected ${what}, got ${shown(v)}`);
  return v;
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
};

/** Parses an enclave size: bytes, or a number with KiB, MiB, GiB or TiB (`2GiB`, `512 MiB`). */
export function parseByteSize(value: unknown, path = 'enclaveSize'): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  const m = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*([KMGT]iB|B)?\s*$/.exec(value) : null;
  const bytes = m ? Math.round(Number(m[1]) * (SIZE_UNITS[m[2] ?? ''] ?? 1)) : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1024 ** 2 || bytes > 1024 ** 4)
    return fail(
      path,
      `expected a size from 1MiB to 1TiB (bytes, or with KiB/MiB/GiB/TiB), got ${shown(value)}`,
    );
  return bytes;
}

const TOP_KEYS = [
  'version',
  'name',
  'dataDir',
  'host',
  'tee',
  'enclaveSize',
  'cas',
  'cascadb',
  'scbr',
  'mdc',
  'aggregators',
  'meters',
  'restart',
  'stopTimeoutSeconds',
] as const;

/**
 * Validates a parsed deployment document (`{}` or `null` = all defaults) and fills in the defaults.
 * `cwd` resolves a relative `dataDir`.
 *
 * @throws DeployError `ERR_DEPLOYMENT_INVALID` naming the path of the first problem.
 */
export function validateDeployment(doc: unknown, cwd = process.cwd()): Deployment {
  if (doc === undefined || doc === null) doc = {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    return fail('(document)', `expected a mapping of ${TOP_KEYS.join(', ')}, got ${shown(doc)}`);
  const root = doc as Obj;
  for (const k of Object.keys(root)) {
    if (!(TOP_KEYS as readonly string[]).includes(k))
      fail(k, `unknown key (allowed: ${TOP_KEYS.join(', ')})`);
  }
  if (root.version !== undefined && root.version !== 1)
    fail('version', `expected 1, got ${shown(root.version)}`);
  const tee = root.tee ?? 'sim';
  if (!(DEPLOYMENT_TEES as readonly unknown[]).includes(tee))
    fail('tee', `expected one of ${DEPLOYMENT_TEES.join(', ')}, got ${shown(tee)}`);
  const port = (o: Obj, key: string, path: string, fallback: number) => int(o, key, path, 1, 65535, fallback);
  const cas = section(root, 'cas', ['port']);
  const cascadb = section(root, 'cascadb', ['enabled', 'port', 'httpPort']);
  const scbr = section(root, 'scbr', ['enabled', 'publishPort', 'subscribePort', 'httpPort']);
  const mdc = section(root, 'mdc', ['shards', 'busPort', 'httpPort']);
  const aggregators = section(root, 'aggregators', ['count', 'port', 'httpPort']);
  const meters = section(root, 'meters', ['count', 'simulate', 'speed', 'households', 'rounds']);
  const restart = section(root, 'restart', ['initialSeconds', 'maxSeconds', 'resetAfterSeconds']);
  const d: Deployment = {
    version: 1,
    name: str(
      root,
      'name',
      'name',
      /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
      'a name of 1..64 letters, digits, "_.-"',
      'securecloud-local',
    ),
    dataDir: resolve(
      cwd,
      str(root, 'dataDir', 'dataDir', /^[^\0]{1,4096}$/, 'a directory path', './.securecloud'),
    ),
    host: str(root, 'host', 'host', /^[A-Za-z0-9.:-]{1,253}$/, 'an address such as 127.0.0.1', '127.0.0.1'),
    tee: tee as DeploymentTee,
    enclaveSize: root.enclaveSize === undefined ? 2 * 1024 ** 3 : parseByteSize(root.enclaveSize),
    cas: { port: port(cas, 'port', 'cas.port', 8443) },
    cascadb: {
      enabled: bool(cascadb, 'enabled', 'cascadb.enabled', true),
      port: port(cascadb, 'port', 'cascadb.port', 5433),
      httpPort: port(cascadb, 'httpPort', 'cascadb.httpPort', 5480),
    },
    scbr: {
      enabled: bool(scbr, 'enabled', 'scbr.enabled', true),
      publishPort: port(scbr, 'publishPort', 'scbr.publishPort', 7300),
      subscribePort: port(scbr, 'subscribePort', 'scbr.subscribePort', 7301),
      httpPort: port(scbr, 'httpPort', 'scbr.httpPort', 7380),
    },
    mdc: {
      shards: int(mdc, 'shards', 'mdc.shards', 1, 16, 1),
      busPort: port(mdc, 'busPort', 'mdc.busPort', 7100),
      httpPort: port(mdc, 'httpPort', 'mdc.httpPort', 7180),
    },
    aggregators: {
      count: int(aggregators, 'count', 'aggregators.count', 1, 32, 1),
      port: port(aggregators, 'port', 'aggregators.port', 7200),
      httpPort: port(aggregators, 'httpPort', 'aggregators.httpPort', 7280),
    },
    meters: {
      count: int(meters, 'count', 'meters.count', 1, 1_000_000, 2000),
      simulate: bool(meters, 'simulate', 'meters.simulate', true),
      speed: num(meters, 'speed', 'meters.speed', 1, 100_000, 120),
      households: int(meters, 'households', 'meters.households', 1, 262, 16),
      rounds: int(meters, 'rounds', 'meters.rounds', 0, 1_000_000_000, 0),
    },
    restart: {
      initialSeconds: num(restart, 'initialSeconds', 'restart.initialSeconds', 0.1, 600, 1),
      maxSeconds: num(restart, 'maxSeconds', 'restart.maxSeconds', 0.1, 3600, 30),
      resetAfterSeconds: num(restart, 'resetAfterSeconds', 'restart.resetAfterSeconds', 1, 86_400, 60),
    },
    stopTimeoutSeconds: num(root, 'stopTimeoutSeconds', 'stopTimeoutSeconds', 1, 600, 10),
  };
  if (d.restart.maxSeconds < d.restart.initialSeconds)
    fail(
      'restart.maxSeconds',
      `${d.restart.maxSeconds} is below restart.initialSeconds ${d.restart.initialSeconds}: raise it`,
    );
  for (const [path, first, n] of [
    ['mdc.busPort', d.mdc.busPort, d.mdc.shards],
    ['mdc.httpPort', d.mdc.httpPort, d.mdc.shards],
    ['aggregators.port', d.aggregators.port, d.aggregators.count],
    ['aggregators.httpPort', d.aggregators.httpPort, d.aggregators.count],
  ] as const) {
    if (first + n - 1 > 65535) fail(path, `${first} + ${n - 1} runs past port 65535: lower it`);
  }
  assertDistinctPorts(deploymentPorts(d));
  return d;
}

/** Every port the deployment listens on, in start order. */
export function deploymentPorts(d: Deployment): DeploymentPort[] {
  const out: DeploymentPort[] = [{ service: 'cas', port: d.cas.port, path: 'cas.port' }];
  if (d.cascadb.enabled) {
    out.push({ service: 'cascadb', port: d.cascadb.port, path: 'cascadb.port' });
    out.push({ service: 'cascadb', port: d.cascadb.httpPort, path: 'cascadb.httpPort' });
  }
  if (d.scbr.enabled) {
    out.push({ service: 'scbr-router', port: d.scbr.publishPort, path: 'scbr.publishPort' });
    out.push({ service: 'scbr-router', port: d.scbr.subscribePort, path: 'scbr.subscribePort' });
    out.push({ service: 'scbr-router', port: d.scbr.httpPort, path: 'scbr.httpPort' });
  }
  for (let i = 0; i < d.mdc.shards; i++) {
    out.push({ service: `mdc-${i}`, port: d.mdc.busPort + i, path: 'mdc.busPort' });
    out.push({ service: `mdc-${i}`, port: d.mdc.httpPort + i, path: 'mdc.httpPort' });
  }
  for (let i = 0; i < d.aggregators.count; i++) {
    out.push({ service: `aggregator-${i}`, port: d.aggregators.port + i, path: 'aggregators.port' });
    out.push({ service: `aggregator-${i}`, port: d.aggregators.httpPort + i, path: 'aggregators.httpPort' });
  }
  return out;
}

function assertDistinctPorts(ports: readonly DeploymentPort[]): void {
  const seen = new Map<number, DeploymentPort>();
  for (const p of ports) {
    const other = seen.get(p.port);
    if (other !== undefined)
      fail(
        p.path,
        `port ${p.port} of ${p.service} is also ${other.path} of ${other.service}: give each its own port`,
      );
    seen.set(p.port, p);
  }
}

/**
 * Parses the text of a deployment file (YAML or JSON) and validates it.
 *
 * @param source the file name, for error messages.
 * @throws DeployError `ERR_DEPLOYMENT_INVALID`.
 */
export function parseDeployment(text: string, source = 'deployment', cwd = process.cwd()): Deployment {
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    throw new DeployError(
      'ERR_DEPLOYMENT_INVALID',
      `${source} is not valid YAML: ${(err as Error).message.split('\n')[0]}`,
    );
  }
  try {
    return validateDeployment(doc, cwd);
  } catch (err) {
    if (err instanceof DeployError)
      throw new DeployError(err.code, `${source}: ${err.message}`, err.path ? { path: err.path } : {});
    throw err;
  }
}

/** Reads and validates a deployment file; without a path, the defaults. */
export async function loadDeployment(path?: string, cwd = process.cwd()): Promise<Deployment> {
  if (path === undefined) return validateDeployment({}, cwd);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new DeployError(
      'ERR_DEPLOYMENT_INVALID',
      `cannot read the deployment file ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}); see deploy/securecloud.example.yaml`,
    );
  }
  return parseDeployment(text, path, cwd);
}
