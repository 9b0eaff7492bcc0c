/**
 * The MDC's ingestion core, independent of the bus: takes a batch of messages relayed by an
 * aggregator (hellos, finishes, report envelopes) and returns one result per message. Reports are
 * opened, decoded and validated, deduplicated against the store by (meter, interval), signed as one
 * INMETRO Merkle batch and stored in one transaction; only then are their counters recorded and
 * their receipts sealed. A batch whose store fails is answered `retry` as a whole and changes
 * nothing, so an aggregator can resend it: every reading is stored exactly once.
 */
import type { KeyObject } from 'node:crypto';
import { isSqlError } from '../../sql/index.ts';
import { encodeResult, envelopeMeterId } from '../ingest-wire.ts';
import { InmetroBatchSigner } from '../inmetro/index.ts';
import {
  decodeInstantaneousFrame,
  encodeReceiptCommand,
  isMeteringError,
  MdcEndpoint,
  type MdcSessionRecord,
  MeteringError,
  messageType,
  type OpenedEnvelope,
  type ReceiptStatus,
  type SessionLimits,
} from '../protocol/index.ts';
import type { MeterRegistry } from '../provisioning.ts';
import type { EnvelopeWorker } from './envelope-worker.ts';
import {
  type Admitted,
  type Answer,
  type Candidate,
  openPlainReport,
  type PendingReceipt,
  PLAIN_SESSION,
  type PreOpenedBatch,
  plainDown,
  preOpenBatch,
  validateReading,
} from './ingest-steps.ts';
import type { ReadingStore } from './reading-store.ts';

export { INTERVAL_MS } from './ingest-steps.ts';

/** Readings per signed INMETRO batch. */
export const SIGNED_BATCH_SIZE = 256;
/** The MDC's reader serial in receipts. */
export const MDC_READER_SERIAL = '000001';

/** Counters the ingest core keeps (the service exports them as Prometheus metrics). */
export interface IngestCounters {
  stored: number;
  duplicates: number;
  batches: number;
  handshakes: number;
  retries: number;
  /** Batches redone with a lookup per reading (a reading was already stored: retries after a crash). */
  slowPath: number;
  readonly refusals: Map<string, number>;
}

/** Options of {@link MdcIngest}. */
export interface MdcIngestOptions {
  readonly store: ReadingStore;
  /** The MDC identity (its public key is in every meter). */
  readonly identity: KeyObject;
  readonly registry: MeterRegistry;
  /** The INMETRO signing key from the CAS. */
  readonly inmetroKey: KeyObject;
  /** This instance's id, recorded in every signed batch. */
  readonly signer: string;
  /** Clock (UTC ms); the simulated clock in accelerated deployments. */
  readonly now?: () => number;
  /** Reports timed further ahead of the MDC clock are refused (default 10 min). */
  readonly maxFutureMs?: number;
  /** Reports older than this are refused (default 35 days). */
  readonly maxAgeMs?: number;
  /** Hello clock tolerance (default 10 min). */
  readonly maxHelloSkewMs?: number;
  readonly limits?: Partial<SessionLimits>;
  /**
   * Accept clear reports (`plainUp`) too: ONLY to measure what the secure envelope costs
   * (`npm run bench -- ingest`). Never in a deployment.
   */
  readonly allowPlaintext?: boolean;
  /**
   * Opens envelopes and seals receipts in this worker thread (started and closed by the caller);
   * without one, on the calling thread.
   */
  readonly envelopeWorker?: EnvelopeWorker;
}

/** See the module comment. Not re-entrant: the service runs one {@link handle} at a time. */
export class MdcIngest {
  readonly counters: IngestCounters = {
    stored: 0,
    duplicates: 0,
    batches: 0,
    handshakes: 0,
    retries: 0,
    slowPath: 0,
    refusals: new Map(),
  };
  readonly #store: ReadingStore;
  readonly #endpoint: MdcEndpoint;
  readonly #signer: InmetroBatchSigner;
  readonly #now: () => number;
  readonly #maxFuture: number;
  readonly #maxAge: number;
  #newSessions: MdcSessionRecord[] = [];
  readonly #allowPlaintext: boolean;
  #plainCounter = 0;
  readonly #worker: EnvelopeWorker | undefined;
  /** Settles when the batch before has been stored and answered (its receipts may still be sealing). */
  #turn: Promise<void> = Promise.resolve();
  /**
   * Latest stored interval per meter (meter number → UTC ms): read from the store the first time a
   * meter reports after start-up, then kept up to date. A report for a later interval cannot be
   * stored yet, so only reports at or before it (retries, late reports) cost a lookup.
   */
  readonly #latest = new Map<number, number>();

  constructor(o: MdcIngestOptions) {
    this.#store = o.store;
    this.#now = o.now ?? Date.now;
    this.#maxFuture = o.maxFutureMs ?? 10 * 60_000;
    this.#allowPlaintext = o.allowPlaintext === true;
    this.#maxAge = o.maxAgeMs ?? 35 * 24 * 3600_000;
    this.#worker = o.envelopeWorker;
    this.#signer = new InmetroBatchSigner({ privateKey: o.inmetroKey, signer: o.signer });
    this.#endpoint = new MdcEndpoint({
      privateKey: o.identity,
      meterPublicKey: (id) => o.registry.publicKey(id),
      now: this.#now,
      maxClockSkewMs: o.maxHelloSkewMs ?? 10 * 60_000,
      ...(o.limits ? { limits: o.limits } : {}),
      onSession: (r) => this.#newSessions.push(r),
    });
  }

  /** Meters with an established session. */
  get sessionCount(): number {
    return this.#endpoint.sessionCount;
  }

  /** Reinstalls the sessions persisted in the store (at start-up); returns how many. */
  async restoreSessions(): Promise<number> {
    let n = 0;
    for await (const r of this.#store.sessions()) {
      this.#endpoint.restoreSession(r);
      n++;
    }
    return n;
  }

  /**
   * Handles one batch of messages; one result per message, in order. Batches may overlap: each
   * batch's envelopes go to the worker as it arrives, but batches are checked, stored and answered
   * one at a time, in the order `handle` was called; receipts are sealed (in the worker) after the
   * next batch may start.
   */
  async handle(messages: readonly Uint8Array[]): Promise<Buffer[]> {
    const previous = this.#turn;
    let release = (): void => undefined;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Chained, so that the next batch waits for this one and the one before, however this one ends.
    this.#turn = previous.then(() => mine);
    let answer: Answer;
    try {
      const pre = this.#worker && (await preOpenBatch(this.#endpoint, this.#worker, messages));
      await previous;
      answer = await this.#process(messages, pre);
    } finally {
      release();
    }
    if (answer.seal.length > 0) await this.#sealInWorker(answer);
    return answer.results;
  }

  /** Checks, stores and answers a batch; receipts to seal in the worker are left in `seal`. */
  async #process(messages: readonly Uint8Array[], pre: PreOpenedBatch | undefined): Promise<Answer> {
    const results: Buffer[] = new Array(messages.length);
    this.#newSessions = [];
    const batch: Admitted = { candidates: [], finishes: [], undo: [], sessions: this.#newSessions };
    const now = this.#now();
    this.#admit(messages, pre, now, results, batch);
    const seal: PendingReceipt[] = [];
    try {
      await this.#storeBatch(batch, now);
    } catch (err) {
      // Nothing was stored and no counter recorded, and sessions not persisted are taken back: the
      // whole batch can be resent.
      for (const u of batch.undo) u.undo();
      this.counters.retries += 1;
      const reason =
        err instanceof Error && 'code' in err ? String((err as { code: unknown }).code) : 'store-failed';
      for (const c of batch.candidates) results[c.index] = encodeResult('retry', c.q.meterSerial, reason);
      for (const i of batch.finishes)
        results[i] = encodeResult('retry', envelopeMeterId(messages[i]!) ?? '', reason);
      return { results, seal };
    }
    for (const u of batch.undo) u.release();
    this.counters.handshakes += batch.sessions.length;
    if (batch.candidates.length > 0) this.counters.batches += 1;
    for (const c of batch.candidates) this.#receipt(c, results, seal);
    return { results, seal };
  }

  /** Opens, decodes and validates each message (hellos and finishes are answered here). */
  #admit(
    messages: readonly Uint8Array[],
    pre: PreOpenedBatch | undefined,
    now: number,
    results: Buffer[],
    batch: Admitted,
  ): void {
    const inBatch = new Set<string>();
    const counters = new Set<string>();
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      try {
        const type = messageType(m);
        if (type === 'hello') {
          results[i] = encodeResult('accepted', envelopeMeterId(m) ?? '', this.#endpoint.acceptHello(m));
        } else if (type === 'finish') {
          const accepted = this.#endpoint.acceptFinish(m);
          batch.undo.push(accepted);
          results[i] = encodeResult('established', accepted.meterId);
          batch.finishes.push(i);
        } else if (type === 'dataUp' || type === 'plainUp') {
          const opened =
            type === 'dataUp'
              ? this.#endpoint.open(m, { commit: false, pre: pre?.pre[i], opened: pre?.opened[i] })
              : this.#openPlain(m);
          const counterKey = `${opened.sessionId}:${opened.counter}`;
          if (counters.has(counterKey)) {
            throw new MeteringError(
              'ERR_ENVELOPE_REPLAYED',
              `envelope counter ${opened.counter} twice in one batch`,
              { check: 'counter', value: String(opened.counter) },
            );
          }
          counters.add(counterKey);
          const q = decodeInstantaneousFrame(opened.frame);
          validateReading(q, now, this.#maxFuture, this.#maxAge);
          const key = `${q.meterSerial}|${q.timestamp}`;
          const duplicate = inBatch.has(key);
          inBatch.add(key);
          batch.candidates.push({ index: i, opened, q, duplicate, inBatchDuplicate: duplicate });
        } else {
          throw new MeteringError('ERR_ENVELOPE_MALFORMED', `an MDC does not accept ${type} messages`, {
            check: 'direction',
            value: type,
            expected: 'hello, finish or dataUp',
          });
        }
      } catch (err) {
        if (!isMeteringError(err)) throw err;
        this.#refused(err.code);
        results[i] = encodeResult('refused', envelopeMeterId(m) ?? '', err.code);
      }
    }
  }

  /**
   * Stores the batch's new sessions and fresh readings in one transaction, signed in INMETRO
   * batches. Optimistic first (no lookup for a report after its meter's latest stored interval);
   * redone with a lookup per reading if the primary key refuses one.
   */
  async #storeBatch(batch: Admitted, now: number): Promise<void> {
    try {
      await this.#attemptStore(batch, now, false);
    } catch (err) {
      if (!isSqlError(err) || err.code !== 'ERR_SQL_UNIQUE_VIOLATION') throw err;
      this.counters.slowPath += 1;
      await this.#attemptStore(batch, now, true);
    }
  }

  async #attemptStore(batch: Admitted, now: number, checkAll: boolean): Promise<void> {
    const { candidates } = batch;
    for (const c of candidates) c.duplicate = c.inBatchDuplicate;
    await this.#store.transaction(async () => {
      for (const s of batch.sessions) await this.#store.saveSession(s);
      for (const c of candidates) {
        if (c.duplicate) continue;
        // Optimistic: a report after the meter's latest stored interval (or of a meter not seen
        // since start-up) is taken as new; the primary key refuses it if it is not.
        const latest = this.#latest.get(Number(c.q.meterSerial));
        if (!checkAll && (latest === undefined || c.q.timestamp > latest)) continue;
        if (await this.#store.exists(c.q.meterSerial, c.q.timestamp)) c.duplicate = true;
      }
      const fresh = candidates.filter((c) => !c.duplicate);
      // One signed Merkle batch per 256 readings: signing stays ~4 µs per reading and each
      // proof is 8 hashes (docs/inmetro-signatures.md, section 6).
      for (let start = 0; start < fresh.length; start += SIGNED_BATCH_SIZE) {
        const chunk = fresh.slice(start, start + SIGNED_BATCH_SIZE);
        const signed = this.#signer.sign({
          batchId: this.#store.nextBatchId(),
          createdAt: now,
          blocks: chunk.map((c) => c.opened.block),
        });
        await this.#store.insertBatch(
          signed,
          chunk.map((c, leaf) => ({ q: c.q, block: c.opened.block, leaf, proof: signed.proofs[leaf]! })),
          now,
        );
      }
    });
  }

  /** Records a stored candidate's counter and builds its receipt (sealed now, or left in `seal`). */
  #receipt(c: Candidate, results: Buffer[], seal: PendingReceipt[]): void {
    c.opened.commit();
    if (!c.duplicate) {
      const meter = Number(c.q.meterSerial);
      if ((this.#latest.get(meter) ?? 0) < c.q.timestamp) this.#latest.set(meter, c.q.timestamp);
    }
    const status: ReceiptStatus = c.duplicate ? 'duplicate' : 'stored';
    if (c.duplicate) this.counters.duplicates += 1;
    else this.counters.stored += 1;
    const command = encodeReceiptCommand({
      readerSerial: MDC_READER_SERIAL,
      status,
      timestamp: c.q.timestamp,
      counter: c.opened.counter,
    });
    if (c.opened.sessionId === PLAIN_SESSION) {
      results[c.index] = encodeResult(status, c.q.meterSerial, plainDown(c.q.meterSerial, command));
    } else if (this.#worker === undefined) {
      results[c.index] = encodeResult(status, c.q.meterSerial, this.#endpoint.seal(c.q.meterSerial, command));
    } else {
      const { key, message } = this.#endpoint.prepareSeal(c.q.meterSerial, command);
      seal.push({ index: c.index, status, meterSerial: c.q.meterSerial, key, message });
    }
  }

  /** Seals the answer's receipts in the worker (keys copied now, before any session can change). */
  async #sealInWorker(answer: Answer): Promise<void> {
    const sealed = await this.#worker!.run('seal', 'dataDown', answer.seal);
    answer.seal.forEach((r, k) => {
      answer.results[r.index] = encodeResult(r.status, r.meterSerial, sealed[k]!);
    });
  }

  /** Destroys the session keys. */
  close(): void {
    this.#endpoint.close();
  }

  /** A clear report (benchmark only): refused unless this MDC was started with `allowPlaintext`. */
  #openPlain(m: Uint8Array): OpenedEnvelope {
    if (!this.#allowPlaintext) {
      throw new MeteringError(
        'ERR_ENVELOPE_MALFORMED',
        'clear reports are accepted only by an MDC started for the envelope-cost benchmark',
        { check: 'type', value: 'plainUp', expected: 'dataUp' },
      );
    }
    this.#plainCounter += 1;
    return openPlainReport(m, this.#plainCounter);
  }

  #refused(code: string): void {
    this.counters.refusals.set(code, (this.counters.refusals.get(code) ?? 0) + 1);
  }
}
