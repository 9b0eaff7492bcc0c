/**
 * The CAS policy `securecloud up` generates for a deployment: the owner user (the supervisor's key),
 * the metering services and their channel and secrets (`meteringPolicySections`), CascaDB and the
 * SCBR router (service `scbr-router`, channels `scbr.publish` and `scbr.subscribe`) when they run. The accepted measurements are those of the code the services run.
 */
import { meteringPolicySections } from '../metering/policy.ts';
import type { Deployment } from './deployment-file.ts';

/** What {@link buildDeploymentPolicy} needs. */
export interface DeploymentPolicyInput {
  readonly deployment: Deployment;
  /** The owner's certificate (PEM), from `generateUserKey`. */
  readonly ownerCertificatePem: string;
  /** Measurement of the code the MDC and aggregators run (`securecloud tee measure ./src`). */
  readonly serviceMeasurement: string;
  /** Measurement CascaDB presents (sim: the directory of the `securecloud` entry script). */
  readonly cascadbMeasurement?: string;
  /** True on the sim backend: accept `sim` evidence only, and say so. */
  readonly simulation: boolean;
}

/** Secrets CascaDB takes from the CAS (names fixed by `sql serve`). */
export const CASCADB_SECRETS = { storage: 'storageKey', password: 'dbPassword' } as const;

/**
 * The SCBR router's service and channels in the generated policy. The MDC (it holds the validated
 * readings) may publish; no service of a local deployment subscribes yet, so `scbr.subscribe` admits
 * the router alone until a consumer service is added (docs/deployment.md, "SCBR router").
 */
export const SCBR_ROUTER = {
  service: 'scbr-router',
  publish: 'scbr.publish',
  subscribe: 'scbr.subscribe',
} as const;

/**
 * The policy document without `predecessor` (see {@link deploymentPolicyText}).
 * `maxInstances` leaves room for one restart per instance while the killed instance's lease runs out.
 */
export function buildDeploymentPolicy(i: DeploymentPolicyInput): Record<string, unknown> {
  const d = i.deployment;
  const platforms = i.simulation ? ['sim'] : ['sgx', 'tdx', 'sev-snp'];
  const metering = meteringPolicySections({
    measurements: [i.serviceMeasurement],
    platforms,
    allowSimulation: i.simulation,
    maxMdcInstances: 2 * d.mdc.shards + 2,
    maxAggregators: 2 * d.aggregators.count + 2,
  });
  const services: Record<string, unknown> = { ...metering.services };
  const secrets: Record<string, unknown> = { ...metering.secrets };
  if (d.cascadb.enabled) {
    if (i.cascadbMeasurement === undefined)
      throw new TypeError('cascadbMeasurement is required when cascadb.enabled is true');
    services.cascadb = {
      accept: [{ measurement: i.cascadbMeasurement }],
      platforms,
      allowSimulation: i.simulation,
      maxInstances: 2,
      env: {
        CASCADB_STORAGE_KEY: `{{ secrets.${CASCADB_SECRETS.storage}.hex }}`,
        CASCADB_PASSWORD: `{{ secrets.${CASCADB_SECRETS.password}.value }}`,
      },
    };
    secrets[CASCADB_SECRETS.storage] = { type: 'symmetric-key', bits: 256 };
    secrets[CASCADB_SECRETS.password] = { type: 'password' };
  }
  const channels: Record<string, unknown> = { ...metering.channels };
  if (d.scbr.enabled) {
    // Like the MDC: room for one restart while the killed instance's lease runs out. No group key:
    // the router never reads payloads.
    services[SCBR_ROUTER.service] = {
      accept: [{ measurement: i.serviceMeasurement }],
      platforms,
      allowSimulation: i.simulation,
      maxInstances: 4,
    };
    channels[SCBR_ROUTER.publish] = { repliers: [SCBR_ROUTER.service], requesters: ['mdc'] };
    channels[SCBR_ROUTER.subscribe] = { repliers: [SCBR_ROUTER.service], requesters: [] };
  }
  return {
    version: 1,
    name: d.name,
    users: { owner: { certificate: i.ownerCertificatePem, roles: ['owner'] } },
    roles: { owner: { can: ['update-policy', 'write-secret', 'read-secret', 'read-audit'] } },
    services,
    channels,
    secrets,
  };
}

/** The exact text applied: the policy with `predecessor` (the hash in force, or null for the first). */
export function deploymentPolicyText(policy: Record<string, unknown>, predecessor: string | null): string {
  const { version, name, ...rest } = policy;
  return `${JSON.stringify({ version, name, predecessor, ...rest }, null, 2)}\n`;
}

/** True when `currentText` (the policy in force) is `policy` whatever its predecessor. */
export function isSamePolicy(currentText: string, policy: Record<string, unknown>): boolean {
  let current: unknown;
  try {
    current = JSON.parse(currentText);
  } catch {
    return false;
  }
  if (typeof current !== 'object' || current === null) return false;
  const { predecessor: _ignored, ...rest } = current as Record<string, unknown>;
  return canonical(rest) === canonical(policy);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
