/**
 * What the CAS keeps on disk: the sealed state (StateStore), the audit log, `root.pem`. Serializes
 * state changes and saves the audit head in the background after each audit entry.
 */
import type { KeyObject } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TeeBackend } from '../tee/index.ts';
import { type AuditEntry, type AuditEntryInput, AuditLog, verifyAuditLog } from './audit-log.ts';
import type { CasLogger } from './cas-log.ts';
import { type AuditHead, CasState } from './cas-state.ts';
import { CasError } from './errors.ts';
import { StateStore } from './state-store.ts';

/** The sealed state and audit log of one data directory, open. */
export class CasPersistence {
  readonly state: CasState;
  readonly #store: StateStore;
  readonly #audit: AuditLog;
  readonly #log: CasLogger;
  #lock: Promise<unknown> = Promise.resolve();
  #dirty = false;
  #flushing: Promise<void> | null = null;
  #closed = false;

  private constructor(store: StateStore, state: CasState, audit: AuditLog, log: CasLogger) {
    this.#store = store;
    this.state = state;
    this.#audit = audit;
    this.#log = log;
  }

  /**
   * Unseals the state in `dataDir` (or creates it), verifies the audit log against the sealed head,
   * and writes `root.pem`.
   */
  static async open(
    dataDir: string,
    backend: TeeBackend,
    log: CasLogger,
    recoveryPublicKeys?: readonly KeyObject[],
  ): Promise<CasPersistence> {
    const store = await StateStore.open(dataDir, await backend.sealer(), { recoveryPublicKeys });
    try {
      const saved = await store.load();
      const state = saved === null ? CasState.create() : CasState.fromJson(saved);
      if (saved === null) await store.save(state.toJson());
      const audit = await AuditLog.open(join(dataDir, 'audit.log'), state.auditKeys(), state.auditHead);
      await writeFile(join(dataDir, 'root.pem'), state.ca.rootPem, { mode: 0o644 });
      return new CasPersistence(store, state, audit, log);
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /** The audit log's head (it may be ahead of the sealed one until the next save). */
  head(): AuditHead {
    return this.#audit.head();
  }

  /** At most `limit` audit entries from `from`. */
  async entries(from: number, limit: number): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    for await (const e of this.#audit.entries({ from })) {
      if (out.length >= limit) break;
      out.push(e);
    }
    return out;
  }

  /** Runs `fn` after every earlier exclusive change (policy updates, secret writes). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new CasError('ERR_INTERNAL', 'the CAS is closing'));
    const run = this.#lock.then(fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  /** Saves the whole state now, with the current audit head. */
  async save(): Promise<void> {
    this.state.auditHead = this.#audit.head();
    await this.#store.save(this.state.toJson());
  }

  /**
   * Appends to the audit log (fsync), then saves the new head in the background: at most one save
   * runs and one more follows for everything appended meanwhile. The log may run ahead of the sealed
   * head (its own chain covers those entries); close() saves the final head.
   */
  async record(entry: AuditEntryInput): Promise<void> {
    await this.#audit.append(entry);
    this.#dirty = true;
    if (this.#flushing !== null || this.#closed) return;
    this.#flushing = (async () => {
      while (this.#dirty && !this.#closed) {
        this.#dirty = false;
        await this.save();
      }
    })()
      .catch((err) => this.#log.log('error', 'cannot save the audit head', { error: String(err) }))
      .finally(() => {
        this.#flushing = null;
      });
  }

  /** Waits for changes in progress, closes the audit log, saves the final state, closes the store. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#lock.catch(() => undefined);
    await this.#audit.close();
    await this.#flushing;
    await this.save();
    await this.#store.close();
  }
}

/** The outcome of {@link verifyAuditOffline}. */
export type OfflineAuditResult =
  | { ok: true; entries: number; head: AuditHead | null }
  | { ok: false; seq: number; reason: string };

/**
 * Verifies `dataDir/audit.log` offline (stop the CAS first) against the audit key and head in the
 * sealed state, which `backend` must be able to unseal (same machine and CAS build, or recovered).
 */
export async function verifyAuditOffline(dataDir: string, backend: TeeBackend): Promise<OfflineAuditResult> {
  const store = await StateStore.open(dataDir, await backend.sealer());
  try {
    const saved = await store.load();
    if (saved === null) throw new CasError('ERR_STATE_IO', `${dataDir} holds no CAS state`);
    const state = CasState.fromJson(saved);
    const head = state.auditHead;
    const result = await verifyAuditLog(
      join(dataDir, 'audit.log'),
      state.auditKeys().verify,
      head ?? undefined,
    );
    return result.ok ? { ...result, head } : result;
  } finally {
    await store.close();
  }
}

/**
 * Takes over the state in `dataDir` after the CAS measurement changed: unwraps the state key with a
 * recovery private key and re-seals it for `backend`.
 */
export async function recoverCasState(
  dataDir: string,
  backend: TeeBackend,
  recoveryPrivateKey: KeyObject,
): Promise<void> {
  const store = await StateStore.recover(dataDir, await backend.sealer(), recoveryPrivateKey);
  await store.close();
}
