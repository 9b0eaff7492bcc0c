import type { ValidityWindow } from '../pki.ts';

/** A cached verdict and the window of verification times for which it holds. */
interface Entry<T> {
  readonly value: T;
  readonly window: ValidityWindow;
}

/** The window of a pure computation (parsing): it holds at any time. */
export const ALWAYS: ValidityWindow = { notBefore: new Date(-8.64e15), notAfter: new Date(8.64e15) };

/**
 * A bounded cache of verdicts over collateral, keyed by a digest of the bytes checked. A verdict is
 * only reused for a verification time inside the window it was established for (e.g. the
 * intersection of certificate validities and of the collateral's issueDate..nextUpdate): outside
 * it, the work is redone and fails with the precise reason. Failures are never cached. The oldest
 * entry is dropped when the cache is full.
 */
export class WindowCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #max: number;
  readonly #enabled: boolean;

  constructor(options: { enabled: boolean; maxEntries?: number }) {
    this.#enabled = options.enabled;
    this.#max = options.maxEntries ?? 256;
  }

  /** Returns the value for `key` valid at `at`, computing (and caching) it when needed. */
  get(key: string, at: Date, compute: () => Entry<T>): T {
    if (!this.#enabled) return compute().value;
    const hit = this.#entries.get(key);
    if (hit && at >= hit.window.notBefore && at <= hit.window.notAfter) return hit.value;
    const fresh = compute();
    this.#entries.delete(key);
    if (this.#entries.size >= this.#max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, fresh);
    return fresh.value;
  }

  /** Number of cached entries (for tests and diagnostics). */
  get size(): number {
    return this.#entries.size;
  }
}

/** The intersection of windows. */
export function intersect(...windows: readonly ValidityWindow[]): ValidityWindow {
  let notBefore = ALWAYS.notBefore;
  let notAfter = ALWAYS.notAfter;
  for (const w of windows) {
    if (w.notBefore > notBefore) notBefore = w.notBefore;
    if (w.notAfter < notAfter) notAfter = w.notAfter;
  }
  return { notBefore, notAfter };
}
