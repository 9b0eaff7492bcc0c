/** Options of {@link InstanceLeases}. */
export interface InstanceLeasesOptions {
  /** Lease length. Default 60 s. */
  readonly leaseMs?: number;
  /** Clock (ms since the epoch), injectable for tests. */
  readonly now?: () => number;
}

interface Lease {
  readonly service: string;
  expires: number;
}

/**
 * The running instances of each service: an attested instance holds a lease that heartbeats renew;
 * instances count toward `maxInstances` while their lease is alive. Leases live in memory only: after
 * a CAS restart, instances find their lease gone (ERR_NOT_FOUND on heartbeat) and attest again.
 */
export class InstanceLeases {
  readonly #leaseMs: number;
  readonly #now: () => number;
  readonly #leases = new Map<string, Lease>();

  constructor(options: InstanceLeasesOptions = {}) {
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** Lease length in whole seconds. */
  get leaseSeconds(): number {
    return Math.round(this.#leaseMs / 1000);
  }

  /** Live instances of `service`. */
  count(service: string): number {
    this.#purge();
    let n = 0;
    for (const lease of this.#leases.values()) if (lease.service === service) n++;
    return n;
  }

  /** Live instances per service. */
  counts(): Record<string, number> {
    this.#purge();
    const out: Record<string, number> = {};
    for (const lease of this.#leases.values()) out[lease.service] = (out[lease.service] ?? 0) + 1;
    return out;
  }

  /** True while `instanceId` of `service` holds a live lease. */
  isAlive(instanceId: string, service: string): boolean {
    const lease = this.#leases.get(instanceId);
    return lease !== undefined && lease.service === service && lease.expires > this.#now();
  }

  /** Starts a lease. */
  add(service: string, instanceId: string): void {
    this.#leases.set(instanceId, { service, expires: this.#now() + this.#leaseMs });
  }

  /** Renews the live lease of `instanceId` of `service`; false when there is none. */
  renew(instanceId: string, service: string): boolean {
    this.#purge();
    const lease = this.#leases.get(instanceId);
    if (lease === undefined || lease.service !== service) return false;
    lease.expires = this.#now() + this.#leaseMs;
    return true;
  }

  /** Ends the lease of `instanceId` of `service`; false when there is none. */
  release(instanceId: string, service: string): boolean {
    const lease = this.#leases.get(instanceId);
    if (lease === undefined || lease.service !== service) return false;
    return this.#leases.delete(instanceId);
  }

  /** Drops every lease of services not in `keep` (after a policy update removed them). */
  retain(keep: ReadonlySet<string>): void {
    for (const [id, lease] of this.#leases) if (!keep.has(lease.service)) this.#leases.delete(id);
  }

  #purge(): void {
    const now = this.#now();
    for (const [id, lease] of this.#leases) if (lease.expires <= now) this.#leases.delete(id);
  }
}
