/** A pending promise's settle functions. */
export interface Waiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** What the scheduler drives: one group commit, whether more is due, and what a failure becomes. */
export interface CommitTarget {
  flushOnce(): Promise<void>;
  hasWork(): boolean;
  /** Records the failure (the queue stops) and returns the error to reject waiters with. */
  fail(e: unknown): unknown;
}

/**
 * Runs group commits one at a time: after `intervalMs` for ordinary work (0: at the next turn of the
 * event loop), at once when urgent (flush, close). Work arriving during a commit joins the next one.
 */
export class CommitScheduler {
  #target: CommitTarget;
  #intervalMs: number;
  #waiters: Waiter[] = [];
  #cancel: (() => void) | undefined;
  #running = false;
  #again = false;
  #urgent = false;
  #stopped = false;
  #done: Promise<void> = Promise.resolve();

  constructor(target: CommitTarget, intervalMs: number) {
    this.#target = target;
    this.#intervalMs = intervalMs;
  }

  /** True while flush waiters wait for a commit. */
  get waiting(): boolean {
    return this.#waiters.length > 0;
  }

  /** Resolves after a commit that starts after this call; rejects if it fails. */
  flushNow(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.schedule(true);
    });
  }

  /** Asks for a commit: after the interval, or at once when `urgent`. */
  schedule(urgent: boolean): void {
    if (this.#stopped) return;
    if (urgent) this.#urgent = true;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#cancel !== undefined) {
      if (!urgent) return;
      this.#cancel();
    }
    const run = () => {
      this.#done = this.#run();
    };
    if (!this.#urgent && this.#intervalMs > 0) {
      const t = setTimeout(run, this.#intervalMs);
      this.#cancel = () => clearTimeout(t);
    } else {
      const t = setImmediate(run);
      this.#cancel = () => clearImmediate(t);
    }
  }

  /** Stops scheduling (after a failure, or once closed) and rejects the flush waiters with `err`. */
  stop(err: unknown): void {
    this.#stopped = true;
    this.#cancel?.();
    this.#cancel = undefined;
    for (const w of this.#waiters) w.reject(err);
    this.#waiters = [];
  }

  /** Resolves once the commit under way, if any, has ended. */
  idle(): Promise<void> {
    return this.#done;
  }

  async #run(): Promise<void> {
    this.#cancel = undefined;
    this.#running = true;
    this.#again = false;
    this.#urgent = false;
    const waiters = this.#waiters;
    this.#waiters = [];
    try {
      await this.#target.flushOnce();
      for (const w of waiters) w.resolve();
    } catch (e) {
      const err = this.#target.fail(e);
      for (const w of waiters) w.reject(err);
    } finally {
      this.#running = false;
    }
    if (!this.#stopped && (this.#again || this.#waiters.length > 0 || this.#target.hasWork()))
      this.schedule(this.#urgent);
  }
}
