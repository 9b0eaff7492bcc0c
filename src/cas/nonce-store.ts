import { randomBytes, timingSafeEqual } from 'node:crypto';

/** Options of {@link NonceStore}. */
export interface NonceStoreOptions {
  /** Lifetime of a nonce. Default 60 s. */
  readonly ttlMs?: number;
  /** Most outstanding nonces; the oldest is dropped beyond. Default 10 000. */
  readonly max?: number;
  /** Clock (ms since the epoch), injectable for tests. */
  readonly now?: () => number;
}

interface Issued {
  readonly service: string;
  readonly expires: number;
}

/**
 * Single-use attestation nonces: each is 32 random bytes, valid for one service, for `ttlMs`, and
 * consumed by the first attempt that presents it (whatever that attempt's outcome). The store is
 * bounded: under a flood the oldest nonces are dropped (their attestations then fail as replayed).
 */
export class NonceStore {
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #issued = new Map<string, Issued>();

  constructor(options: NonceStoreOptions = {}) {
    this.#ttlMs = options.ttlMs ?? 60_000;
    this.#max = options.max ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /** Outstanding nonces. */
  get size(): number {
    this.#purge();
    return this.#issued.size;
  }

  /** Issues a nonce for `service`. */
  issue(service: string): { nonce: string; expiresAt: Date } {
    this.#purge();
    while (this.#issued.size >= this.#max) {
      const oldest = this.#issued.keys().next().value;
      if (oldest === undefined) break;
      this.#issued.delete(oldest);
    }
    const nonce = randomBytes(32).toString('hex');
    const expires = this.#now() + this.#ttlMs;
    this.#issued.set(nonce, { service, expires });
    return { nonce, expiresAt: new Date(expires) };
  }

  /**
   * Consumes `nonce`: true when it was issued for `service` and has not expired. The nonce is gone
   * afterwards either way.
   */
  consume(nonce: string, service: string): boolean {
    const key = typeof nonce === 'string' ? nonce.toLowerCase() : '';
    const issued = this.#issued.get(key);
    if (issued === undefined) return false;
    this.#issued.delete(key);
    const a = Buffer.from(issued.service);
    const b = Buffer.from(service);
    return issued.expires > this.#now() && a.length === b.length && timingSafeEqual(a, b);
  }

  #purge(): void {
    const now = this.#now();
    for (const [nonce, issued] of this.#issued) {
      // Insertion order is expiry order (constant TTL): stop at the first live one.
      if (issued.expires > now) break;
      this.#issued.delete(nonce);
    }
  }
}
