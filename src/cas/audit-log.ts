/**
 * The CAS audit log: append-only JSON lines, hash-chained and signed with the CAS audit key
 * (Ed25519), one fsync per append. A changed entry breaks its hash or signature, a removed or
 * re-ordered entry breaks the sequence, and a truncated tail is caught against the head kept in
 * the sealed state. Entries never hold secret values: callers put names, codes and hashes in them.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { type FileHandle, open, truncate } from 'node:fs/promises';
import {
  AUDIT_KINDS,
  AUDIT_OUTCOMES,
  type AuditEntry,
  entryHash,
  parseEntry,
  readLines,
  scanAuditLog,
  signHash,
} from './audit-chain.ts';
import { CasError } from './errors.ts';

export type { AuditEntry } from './audit-chain.ts';

/** What a caller appends; the log adds seq, time, prev, hash and sig. */
export type AuditEntryInput = Omit<AuditEntry, 'seq' | 'time' | 'prev' | 'hash' | 'sig'>;

/** The append-only, signed, hash-chained audit log of a CAS. */
export class AuditLog {
  readonly path: string;
  readonly #fh: FileHandle;
  readonly #sign: KeyObject;
  #head: { seq: number; hash: string };
  #queue: Promise<unknown> = Promise.resolve();
  #state: 'open' | 'broken' | 'closed' = 'open';

  private constructor(path: string, fh: FileHandle, sign: KeyObject, head: { seq: number; hash: string }) {
    this.path = path;
    this.#fh = fh;
    this.#sign = sign;
    this.#head = head;
  }

  /**
   * Opens (or creates) the log at `path` and verifies it with `key.verify` against `head` (from the
   * sealed state; null for a new CAS). An incomplete last line (a crash during an append) is cut off.
   *
   * @throws CasError `ERR_AUDIT_TAMPERED` naming the entry and the reason.
   */
  static async open(
    path: string,
    key: { sign: KeyObject; verify: KeyObject },
    head: { seq: number; hash: string } | null,
  ): Promise<AuditLog> {
    assertKeys(key);
    const scan = await scanAuditLog(path, key.verify, head);
    if (!scan.ok) throw new CasError('ERR_AUDIT_TAMPERED', `${path}: entry ${scan.seq}: ${scan.reason}`);
    if (scan.tornTail !== null) await truncate(path, scan.tornTail);
    let fh: FileHandle;
    try {
      fh = await open(path, 'a', 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new CasError('ERR_STATE_IO', `cannot open ${path} (${code})`, { cause: err });
    }
    return new AuditLog(path, fh, key.sign, scan.last);
  }

  /** Appends an entry (serialized with other appends; fsync before it resolves). */
  append(e: AuditEntryInput): Promise<AuditEntry> {
    assertInput(e);
    const run = this.#queue.then(() => this.#append(e));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #append(e: AuditEntryInput): Promise<AuditEntry> {
    if (this.#state !== 'open') throw new TypeError(`the audit log is ${this.#state}`);
    const body = {
      seq: this.#head.seq + 1,
      time: new Date().toISOString(),
      kind: e.kind,
      actor: e.actor,
      outcome: e.outcome,
      ...(e.reason === undefined ? {} : { reason: e.reason }),
      ...(e.detail === undefined ? {} : { detail: { ...e.detail } }),
      prev: this.#head.hash,
    };
    const hash = entryHash(body);
    const entry: AuditEntry = { ...body, hash, sig: signHash(hash, this.#sign) };
    try {
      await this.#fh.write(`${JSON.stringify(entry)}\n`);
      await this.#fh.sync();
    } catch (err) {
      // A partial line may be on disk: stop appending; the next open cuts it off.
      this.#state = 'broken';
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      throw new CasError('ERR_STATE_IO', `cannot append to ${this.path} (${code})`, { cause: err });
    }
    this.#head = { seq: entry.seq, hash };
    return entry;
  }

  /** The last entry's seq and hash (seq 0 and 64 zeros when empty): keep it in the sealed state. */
  head(): { seq: number; hash: string } {
    return { ...this.#head };
  }

  /** The entries on disk from seq `from` (default 1), in order. */
  async *entries(options: { from?: number } = {}): AsyncIterable<AuditEntry> {
    const from = options.from ?? 1;
    await this.#queue;
    for await (const line of readLines(this.path)) {
      if (!line.terminated) return;
      const e = parseEntry(line.text);
      if (typeof e === 'string') throw new CasError('ERR_AUDIT_TAMPERED', `${this.path}: ${e}`);
      if (e.seq >= from) yield e;
    }
  }

  /** Waits for pending appends and closes the file. */
  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    await this.#queue;
    this.#state = 'closed';
    await this.#fh.close();
  }
}

/**
 * Verifies a log file: every entry's shape, seq, hash, signature and prev link, and, when given,
 * that it reaches `head` (from the sealed state) with the same hash.
 */
export async function verifyAuditLog(
  path: string,
  verifyKey: KeyObject,
  head?: { seq: number; hash: string },
): Promise<{ ok: true; entries: number } | { ok: false; seq: number; reason: string }> {
  const scan = await scanAuditLog(path, verifyKey, head);
  if (!scan.ok) return scan;
  if (scan.tornTail !== null) {
    return {
      ok: false,
      seq: scan.entries + 1,
      reason: 'the last line is incomplete (a crash during an append, or a cut)',
    };
  }
  return { ok: true, entries: scan.entries };
}

function assertKeys(key: { sign: KeyObject; verify: KeyObject }): void {
  if (key?.sign?.type !== 'private' || key.sign.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('the audit signing key must be a private Ed25519 KeyObject');
  }
  if (key.verify?.type !== 'public' || key.verify.asymmetricKeyType !== 'ed25519') {
    throw new TypeError('the audit verify key must be a public Ed25519 KeyObject');
  }
  const spki = (k: KeyObject) => k.export({ type: 'spki', format: 'der' });
  if (!spki(createPublicKey(key.sign)).equals(spki(key.verify))) {
    throw new TypeError('the audit sign and verify keys are not a pair');
  }
}

function assertInput(e: AuditEntryInput): void {
  if (e === null || typeof e !== 'object') throw new TypeError('an audit entry is an object');
  if (!(AUDIT_KINDS as readonly string[]).includes(e.kind))
    throw new TypeError(`unknown audit kind "${e.kind}"`);
  if (!(AUDIT_OUTCOMES as readonly string[]).includes(e.outcome))
    throw new TypeError(`unknown outcome "${e.outcome}"`);
  if (typeof e.actor !== 'string' || e.actor.length > 512)
    throw new TypeError('actor must be a string of at most 512 characters');
  if (e.reason !== undefined && (typeof e.reason !== 'string' || e.reason.length > 4096)) {
    throw new TypeError('reason must be a string of at most 4096 characters');
  }
  for (const [k, v] of Object.entries(e.detail ?? {})) {
    const ok =
      v === null ||
      typeof v === 'string' ||
      typeof v === 'boolean' ||
      (typeof v === 'number' && Number.isFinite(v));
    if (!ok) throw new TypeError(`detail.${k} must be a string, a finite number, a boolean or null`);
  }
}
