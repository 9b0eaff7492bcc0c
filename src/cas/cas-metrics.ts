import type { Counter, Gauge, Histogram, MetricsRegistry } from '../platform/metrics.ts';

/** The CAS's metrics. Label values are policy names, codes and results: never secrets. */
export interface CasMetrics {
  /** `result` granted | refused, `reason` a refusal code or `none`, `service` a policy service or `(unknown)`. */
  readonly attestations: Counter;
  /** Whole attestation handling, by `result`. */
  readonly attestationSeconds: Histogram;
  /** Time in the TEE verifier alone. */
  readonly verificationSeconds: Histogram;
  /** Number of policies applied (1 for the first), by policy `name`. */
  readonly policyVersion: Gauge;
  readonly policyUpdates: Counter;
  readonly secretOperations: Counter;
  readonly instances: Gauge;
  readonly nonces: Gauge;
  readonly simulation: Gauge;
}

/** Registers the CAS metrics in `registry`. */
export function createCasMetrics(registry: MetricsRegistry): CasMetrics {
  return {
    attestations: registry.counter(
      'securecloud_cas_attestations_total',
      'Attestations handled, by result and refusal reason.',
      ['result', 'reason', 'service'],
    ),
    attestationSeconds: registry.histogram(
      'securecloud_cas_attestation_duration_seconds',
      'Time to handle an attestation, from request to decision.',
      ['result'],
    ),
    verificationSeconds: registry.histogram(
      'securecloud_cas_evidence_verification_duration_seconds',
      'Time spent in the TEE evidence verifier.',
      ['platform'],
    ),
    policyVersion: registry.gauge(
      'securecloud_cas_policy_version',
      'Number of policies applied so far (the version of the policy in force), by policy name.',
      ['name'],
    ),
    policyUpdates: registry.counter('securecloud_cas_policy_updates_total', 'Policy updates, by result.', [
      'result',
    ]),
    secretOperations: registry.counter(
      'securecloud_cas_secret_operations_total',
      'Secret reads and writes by users, by operation and result.',
      ['operation', 'result'],
    ),
    instances: registry.gauge('securecloud_cas_instances', 'Live service instances (leases).', ['service']),
    nonces: registry.gauge(
      'securecloud_cas_nonces_outstanding',
      'Attestation nonces issued and not yet used.',
    ),
    simulation: registry.gauge(
      'securecloud_cas_simulation',
      '1 when the CAS runs on the SIMULATION backend (protects nothing).',
    ),
  };
}

/** Refreshes the gauges computed from state, before each scrape. */
export function collectCasGauges(
  metrics: CasMetrics,
  o: {
    services: readonly string[];
    counts: Record<string, number>;
    nonces: number;
    policy: { name: string; version: number } | null;
  },
): void {
  metrics.instances.reset();
  for (const service of o.services) metrics.instances.set({ service }, o.counts[service] ?? 0);
  metrics.nonces.set({}, o.nonces);
  metrics.policyVersion.reset();
  if (o.policy) metrics.policyVersion.set({ name: o.policy.name }, o.policy.version);
}
