/**
 * Process and enclave gauges every service exposes on `/metrics`: memory in use against the
 * configured enclave size (the seed's EPC metric), which platform attested the process, and uptime.
 * Values are computed at each scrape.
 */
import type { MetricsRegistry } from './metrics.ts';

/** Environment variable holding the configured enclave size in bytes (set by `securecloud up`). */
export const ENCLAVE_SIZE_ENV = 'SECURECLOUD_ENCLAVE_SIZE';

/** Default enclave size when neither the option nor the environment gives one: 2 GiB. */
export const DEFAULT_ENCLAVE_SIZE_BYTES = 2 * 1024 ** 3;

/** Names of the gauges {@link registerProcessMetrics} adds (the Grafana dashboard uses them). */
export const PROCESS_METRIC_NAMES = [
  'securecloud_enclave_memory_bytes',
  'securecloud_enclave_size_bytes',
  'securecloud_attestation_info',
  'securecloud_process_uptime_seconds',
] as const;

/** Options of {@link registerProcessMetrics}. */
export interface ProcessMetricsOptions {
  /** The service name, as in the CAS policy (`mdc`, `aggregator`…). */
  readonly service: string;
  /** The platform that attested the process (`sim`, `sgx`, `tdx`, `sev-snp`). */
  readonly platform: string;
  /** True when the evidence was simulated (protects nothing). */
  readonly simulation: boolean;
  /**
   * Configured enclave size in bytes (SGX enclave size / EPC budget, or the confidential VM's memory).
   * Default: `$SECURECLOUD_ENCLAVE_SIZE`, else {@link DEFAULT_ENCLAVE_SIZE_BYTES}.
   */
  readonly enclaveSizeBytes?: number;
  /** Memory reading (tests); default `process.memoryUsage()`. */
  readonly memoryUsage?: () => { rss: number; heapUsed: number };
  /** Clock in ms (tests); default `performance.now()`. */
  readonly now?: () => number;
}

/**
 * Adds the process gauges to `registry`:
 * - `securecloud_enclave_memory_bytes{kind="rss"|"heap"}`: memory in use (inside the enclave on SGX);
 * - `securecloud_enclave_size_bytes`: the configured enclave size, to compare against;
 * - `securecloud_attestation_info{service,platform,simulation}` = 1;
 * - `securecloud_process_uptime_seconds`.
 *
 * @throws TypeError when the enclave size (option or environment) is not a positive integer.
 * @example
 * const metrics = createMetricsRegistry();
 * registerProcessMetrics(metrics, { service: 'mdc', platform: 'sim', simulation: true });
 */
export function registerProcessMetrics(registry: MetricsRegistry, o: ProcessMetricsOptions): void {
  const size = o.enclaveSizeBytes ?? enclaveSizeFromEnv(process.env[ENCLAVE_SIZE_ENV]);
  if (!Number.isSafeInteger(size) || size <= 0)
    throw new TypeError(`enclaveSizeBytes must be a positive integer, got ${size}`);
  const memoryUsage = o.memoryUsage ?? (() => process.memoryUsage());
  const now = o.now ?? (() => performance.now());
  const started = now();
  const memory = registry.gauge(
    'securecloud_enclave_memory_bytes',
    'Memory in use by the process (inside the enclave on SGX): rss or heap.',
    ['kind'],
  );
  const enclaveSize = registry.gauge(
    'securecloud_enclave_size_bytes',
    'Configured enclave size (SGX enclave size / EPC budget), to compare memory in use against.',
  );
  const info = registry.gauge(
    'securecloud_attestation_info',
    'Always 1: the service, the platform that attested it, and whether it is a SIMULATION.',
    ['service', 'platform', 'simulation'],
  );
  const uptime = registry.gauge('securecloud_process_uptime_seconds', 'Seconds since the process started.');
  enclaveSize.set({}, size);
  info.set({ service: o.service, platform: o.platform, simulation: o.simulation }, 1);
  registry.onCollect(() => {
    const m = memoryUsage();
    memory.set({ kind: 'rss' }, m.rss);
    memory.set({ kind: 'heap' }, m.heapUsed);
    uptime.set({}, Math.round(now() - started) / 1000);
  });
}

/** The enclave size in `$SECURECLOUD_ENCLAVE_SIZE` (bytes), or the default when unset. */
export function enclaveSizeFromEnv(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return DEFAULT_ENCLAVE_SIZE_BYTES;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new TypeError(`${ENCLAVE_SIZE_ENV}=${value}: expected a positive integer number of bytes`);
  return n;
}
