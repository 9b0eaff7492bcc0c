/**
 * A worker thread for the MDC's envelope AEAD: opening report envelopes and sealing receipts. Each is
 * one node:crypto AES-256-GCM operation of a few microseconds, mostly cipher set-up, and the MDC's
 * main thread is the bottleneck of ingestion; the worker runs them on the other core while the main
 * thread stores the batch before. The main thread keeps every session check (envelope-jobs.ts).
 *
 * Nothing is lost if the worker fails: each job is kept (a copy, zeroed once answered) until the
 * worker answers it, and run on the main thread otherwise; so are all later jobs.
 */
import { Worker } from 'node:worker_threads';
import type { Direction } from '../protocol/envelope-aead.ts';
import { decodeResults, encodeJob, type JobItem, type JobOp, runJob } from './envelope-jobs.ts';

/** The worker's young generation, MiB (see {@link EnvelopeWorker.start}). */
const WORKER_YOUNG_GENERATION_MB = 48;

/** How long the worker may take to start (it compiles its TypeScript). */
const START_TIMEOUT_MS = 30_000;

interface Pending {
  readonly count: number;
  /** A copy of the job, to run inline if the worker fails. */
  readonly backup: ArrayBuffer;
  resolve(results: Array<Uint8Array | null>): void;
  reject(err: Error): void;
}

/** Why the worker stopped or could not start. */
export class EnvelopeWorkerError extends Error {
  readonly code = 'ERR_ENVELOPE_WORKER';
}

/** See the module comment. Jobs run one at a time, in the order sent. */
export class EnvelopeWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #failure: Error | undefined;

  readonly #onFailure: (err: Error) => void;

  private constructor(worker: Worker, onFailure: (err: Error) => void) {
    this.#worker = worker;
    this.#onFailure = onFailure;
    worker.unref();
    worker.on('message', (m: { id: number; result?: ArrayBuffer; error?: string }) => this.#answer(m));
    worker.on('error', (err) => this.#fail(err));
    worker.on('exit', (code) => this.#fail(new EnvelopeWorkerError(`envelope worker exited (${code})`)));
  }

  /**
   * Starts the worker thread; rejects with {@link EnvelopeWorkerError} if it does not start.
   * `onFailure` hears of a worker that fails later (its jobs then run inline).
   */
  static async start(onFailure: (err: Error) => void = () => undefined): Promise<EnvelopeWorker> {
    const entry = new URL('./envelope-worker-thread.ts', import.meta.url).href;
    const tsx = import.meta.resolve('tsx/esm/api');
    // The worker runs TypeScript like the rest of the command (bin/securecloud registers tsx).
    const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    const worker = new Worker(boot, {
      eval: true,
      name: 'mdc-envelopes',
      // Every job allocates its outputs (node:crypto's): with the default young generation of a
      // worker (a few MiB) it collected 10-20 times a second in a million-meter round.
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new EnvelopeWorkerError(`envelope worker not ready within ${START_TIMEOUT_MS / 1000} s`));
        void worker.terminate();
      }, START_TIMEOUT_MS);
      worker.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
      worker.once('error', (err) => {
        clearTimeout(timer);
        reject(new EnvelopeWorkerError(`envelope worker failed to start: ${err.message}`));
      });
    });
    return new EnvelopeWorker(worker, onFailure);
  }

  /** False once the worker failed or was closed (jobs then run inline). */
  get alive(): boolean {
    return this.#failure === undefined;
  }

  /**
   * Runs `op` on each message with its key (both copied now: a key view may be reused once this
   * returns): plaintexts (open; `null` where the tag did not match) or sealed messages (seal), views
   * of one buffer.
   */
  run(op: JobOp, direction: Direction, items: readonly JobItem[]): Promise<Array<Uint8Array | null>> {
    const job = encodeJob(op, direction, items);
    if (this.#failure !== undefined) return Promise.resolve(decodeResults(runJob(job), items.length));
    // Transferred, with a copy kept here: postMessage's own copy of a job it clones would hold the
    // session keys in memory Node frees without zeroing; the worker and this thread zero theirs.
    const backup = job.slice(0);
    const id = this.#nextId++;
    if (this.#pending.size === 0) this.#worker.ref();
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { count: items.length, backup, resolve, reject });
      this.#worker.postMessage({ id, job }, [job]);
    });
  }

  /** Stops the worker; jobs not yet answered run inline. */
  async close(): Promise<void> {
    this.#fail(new EnvelopeWorkerError('envelope worker closed'), false);
    await this.#worker.terminate();
  }

  #answer(m: { id: number; result?: ArrayBuffer; error?: string }): void {
    const p = this.#pending.get(m.id);
    if (p === undefined) return;
    this.#pending.delete(m.id);
    if (this.#pending.size === 0) this.#worker.unref();
    new Uint8Array(p.backup).fill(0);
    try {
      // A job the worker refused is malformed: running it here would fail the same way.
      if (m.result === undefined) throw new TypeError(`envelope job refused by the worker: ${m.error}`);
      p.resolve(decodeResults(m.result, p.count));
    } catch (err) {
      p.reject(err as Error);
    }
  }

  /** Marks the worker failed and runs what it had not answered inline. */
  #fail(err: Error, report = true): void {
    if (this.#failure !== undefined) return;
    this.#failure = err;
    if (report) this.#onFailure(err);
    for (const p of this.#pending.values()) {
      try {
        p.resolve(decodeResults(runJob(p.backup), p.count));
      } catch (e) {
        p.reject(e as Error);
      }
    }
    this.#pending.clear();
  }
}
