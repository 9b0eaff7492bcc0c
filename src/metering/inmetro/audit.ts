/**
 * The verification core of `securecloud metering audit`: checks the stored readings of one meter over a
 * time range against the INMETRO public key, and reports what is missing, duplicated or altered.
 * Storage-agnostic: the caller streams the rows and looks batches up (SQL, an export file, …).
 */
import type { KeyObject } from 'node:crypto';
import { decodeInstantaneousResponse, type InstantaneousQuantities } from '../protocol/index.ts';
import { readingLeaf } from './batch-signer.ts';
import { InmetroError } from './errors.ts';
import { assertEd25519 } from './inmetro-key.ts';
import { verifyMerkleProof } from './merkle.ts';
import { type BatchId, batchSignatureProblem, type SignedBatch } from './signed-batch.ts';

/** The metering interval: 15 minutes, 96 per day. */
export const DEFAULT_INTERVAL_MS = 900_000;

/** Why a stored reading does not verify. Stable codes; new ones are appended. */
export const AUDIT_REASONS = [
  'bad-block', // the block does not decode (length, CRC, code, field out of range, reserved bytes)
  'wrong-meter', // the block names another meter than the row's meter_id
  'wrong-time', // the block's timestamp is not the row's ts
  'off-grid', // the row's ts is not an interval end of the grid
  'unknown-batch', // the row names a batch that is not stored
  'wrong-key', // the batch was signed with another key than the audit's INMETRO key
  'bad-batch-signature', // the batch's Ed25519 signature does not verify over its fields
  'bad-proof', // the leaf index is out of the batch or the audit path does not lead to the batch root
  'column-mismatch', // a decoded column stored beside the block differs from the block's value
] as const;

/** One of {@link AUDIT_REASONS}. */
export type AuditReason = (typeof AUDIT_REASONS)[number];

/** A stored reading row, as the audit needs it. */
export interface StoredReading {
  /** The row's meter id: up to 8 decimal digits ('12345' and '00012345' are the same meter). */
  readonly meterId: string;
  /** The row's interval end, UTC milliseconds. */
  readonly ts: number;
  /** The stored 258-byte 0x14 response block. */
  readonly block: Uint8Array;
  readonly batchId: BatchId;
  readonly leafIndex: number;
  /** The audit path: concatenated 32-byte hashes. */
  readonly proof: Uint8Array;
  /**
   * Decoded columns stored beside the block, named as in `InstantaneousQuantities` (`voltageA`, …,
   * `demand`, `activeEnergyWh`, `reactiveEnergyVarh`). Float columns must hold the float32 value
   * exactly (what the decoder returns); they are compared with `===`. Another name is a TypeError.
   */
  readonly values?: Readonly<Record<string, number>>;
}

/** What {@link auditReadings} needs. */
export interface AuditOptions {
  /** The INMETRO Ed25519 public key. */
  readonly publicKey: KeyObject;
  /** The audited meter: up to 8 decimal digits. */
  readonly meterId: string;
  /** Start of the range, UTC ms, on the grid: intervals ending strictly after it are expected. */
  readonly from: number;
  /** End of the range, UTC ms, on the grid: the interval ending exactly at it is expected. */
  readonly to: number;
  /** The rows; rows of other meters or outside (from, to] are counted as ignored. */
  readonly readings: Iterable<StoredReading>;
  /** Looks a stored batch up by id (called at most once per id). */
  readonly batches: (batchId: BatchId) => SignedBatch | undefined;
  /** Interval length, default {@link DEFAULT_INTERVAL_MS}; the grid is aligned to the Unix epoch. */
  readonly intervalMs?: number;
}

/** One reading that does not verify. */
export interface AuditFinding {
  readonly ts: number;
  readonly reason: AuditReason;
  readonly detail: string;
}

/** The outcome of an audit. `ok` when nothing is missing, duplicated or altered. */
export interface AuditReport {
  readonly meterId: string;
  readonly from: number;
  readonly to: number;
  readonly intervalMs: number;
  /** Intervals in (from, to]: 96 per day. */
  readonly expected: number;
  /** Rows of the meter in (from, to], duplicates and altered rows included. */
  readonly stored: number;
  /** Rows that passed every check. */
  readonly verified: number;
  /** Rows of other meters or outside (from, to]. */
  readonly ignored: number;
  /** Interval ends with no row at all, ascending. An interval whose only row is altered is under `altered`. */
  readonly missing: number[];
  /** Timestamps stored more than once, ascending, each listed once. */
  readonly duplicated: number[];
  /** Rows that fail a check (the first failing check of each), ascending by ts. */
  readonly altered: AuditFinding[];
  readonly ok: boolean;
}

type BatchVerdict = { batch: SignedBatch } | { reason: AuditReason; detail: string };

/**
 * Audits the stored readings of one meter over (from, to]: every reading's block, its binding to the
 * row, its audit path and its batch signature (each batch verified once), the completeness of the grid
 * and duplicates. A range off the grid is an `ERR_INMETRO_AUDIT_RANGE`.
 */
export function auditReadings(o: AuditOptions): AuditReport {
  const intervalMs = o.intervalMs ?? DEFAULT_INTERVAL_MS;
  if (!Number.isSafeInteger(intervalMs) || intervalMs <= 0) {
    throw new TypeError(`intervalMs must be a positive integer of milliseconds, got ${intervalMs}`);
  }
  checkRange(o.from, o.to, intervalMs);
  const meter = canonicalMeterId(o.meterId);
  if (meter === undefined)
    throw new TypeError(`meterId must be 1 to 8 decimal digits, got ${JSON.stringify(o.meterId)}`);
  assertEd25519(o.publicKey, 'public');
  const batchOf = batchChecker(o.publicKey, o.batches);
  const counts = new Map<number, number>();
  const altered: AuditFinding[] = [];
  let stored = 0;
  let verified = 0;
  let ignored = 0;
  for (const r of o.readings) {
    if (canonicalMeterId(r.meterId) !== meter || !(r.ts > o.from && r.ts <= o.to)) {
      ignored++;
      continue;
    }
    stored++;
    counts.set(r.ts, (counts.get(r.ts) ?? 0) + 1);
    const finding = checkReading(r, meter, intervalMs, batchOf);
    if (finding === undefined) verified++;
    else altered.push({ ts: r.ts, ...finding });
  }
  const missing: number[] = [];
  for (let t = o.from + intervalMs; t <= o.to; t += intervalMs) if (!counts.has(t)) missing.push(t);
  const duplicated = [...counts].filter(([, n]) => n > 1).map(([t]) => t);
  duplicated.sort((a, b) => a - b);
  altered.sort((a, b) => a.ts - b.ts);
  const expected = (o.to - o.from) / intervalMs;
  const ok = missing.length === 0 && duplicated.length === 0 && altered.length === 0;
  return {
    meterId: meter,
    from: o.from,
    to: o.to,
    intervalMs,
    expected,
    stored,
    verified,
    ignored,
    missing,
    duplicated,
    altered,
    ok,
  };
}

function checkRange(from: number, to: number, intervalMs: number): void {
  const fail = (message: string) => new InmetroError('ERR_INMETRO_AUDIT_RANGE', message);
  for (const [name, t] of [
    ['from', from],
    ['to', to],
  ] as const) {
    if (!Number.isSafeInteger(t)) throw fail(`${name} is ${t}, expected UTC milliseconds (an integer)`);
    if (t % intervalMs !== 0) {
      const before = t - (((t % intervalMs) + intervalMs) % intervalMs);
      throw fail(
        `${name} ${iso(t)} is not on the ${intervalMs / 60_000}-minute grid; use ${iso(before)} or ${iso(before + intervalMs)}`,
      );
    }
  }
  if (to < from) throw fail(`the range ends (${iso(to)}) before it starts (${iso(from)}); swap from and to`);
}

function iso(t: number): string {
  return Number.isFinite(t) && Math.abs(t) <= 8.64e15 ? new Date(t).toISOString() : String(t);
}

/** '12345' → '00012345'; undefined when the id is not 1 to 8 decimal digits. */
function canonicalMeterId(id: unknown): string | undefined {
  return typeof id === 'string' && /^[0-9]{1,8}$/.test(id) ? id.padStart(8, '0') : undefined;
}

function checkReading(
  r: StoredReading,
  meter: string,
  intervalMs: number,
  batchOf: (id: BatchId) => BatchVerdict,
): Omit<AuditFinding, 'ts'> | undefined {
  if (r.ts % intervalMs !== 0) {
    return { reason: 'off-grid', detail: `the row is stored at ${iso(r.ts)}, not at the end of an interval` };
  }
  let q: InstantaneousQuantities;
  try {
    q = decodeInstantaneousResponse(r.block);
  } catch (e) {
    const code = (e as { code?: string }).code;
    return { reason: 'bad-block', detail: `${code === undefined ? '' : `${code}: `}${(e as Error).message}` };
  }
  if (q.meterSerial !== meter) {
    return {
      reason: 'wrong-meter',
      detail: `the block is from meter ${q.meterSerial}, the row says ${meter}`,
    };
  }
  if (q.timestamp !== r.ts) {
    return {
      reason: 'wrong-time',
      detail: `the block is for ${iso(q.timestamp)}, the row says ${iso(r.ts)}`,
    };
  }
  const verdict = batchOf(r.batchId);
  if (!('batch' in verdict)) return verdict;
  const { batch } = verdict;
  if (!Number.isSafeInteger(r.leafIndex) || r.leafIndex < 0 || r.leafIndex >= batch.count) {
    return {
      reason: 'bad-proof',
      detail: `leaf index ${r.leafIndex} is outside batch ${batch.batchId} of ${batch.count} readings`,
    };
  }
  const proofOk =
    r.proof instanceof Uint8Array &&
    verifyMerkleProof(readingLeaf(r.block), r.leafIndex, batch.count, r.proof, batch.root);
  if (!proofOk) {
    return {
      reason: 'bad-proof',
      detail: `the audit path of leaf ${r.leafIndex} does not lead to the root of batch ${batch.batchId} (block, proof or leaf index altered)`,
    };
  }
  return r.values === undefined ? undefined : compareColumns(r.values, q);
}

function compareColumns(
  values: Readonly<Record<string, number>>,
  q: InstantaneousQuantities,
): Omit<AuditFinding, 'ts'> | undefined {
  const decoded = q as unknown as Readonly<Record<string, unknown>>;
  for (const [name, value] of Object.entries(values)) {
    const expected = decoded[name];
    if (typeof expected !== 'number' || name === 'timestamp') {
      throw new TypeError(
        `values.${name} is not a decoded column of the 0x14 block (see InstantaneousQuantities)`,
      );
    }
    if (value !== expected) {
      return {
        reason: 'column-mismatch',
        detail: `column ${name} holds ${value}, the signed block says ${expected}`,
      };
    }
  }
  return undefined;
}

/** Looks each batch up once and verifies its signature once. */
function batchChecker(
  publicKey: KeyObject,
  lookup: (batchId: BatchId) => SignedBatch | undefined,
): (id: BatchId) => BatchVerdict {
  const cache = new Map<string, BatchVerdict>();
  return (id) => {
    if (typeof id === 'number' ? !Number.isSafeInteger(id) : typeof id !== 'bigint') {
      return { reason: 'unknown-batch', detail: `the row's batch id ${String(id)} is not an integer` };
    }
    const key = String(id);
    let verdict = cache.get(key);
    if (verdict === undefined) {
      verdict = judgeBatch(key, lookup(id), publicKey);
      cache.set(key, verdict);
    }
    return verdict;
  };
}

function judgeBatch(key: string, batch: SignedBatch | undefined, publicKey: KeyObject): BatchVerdict {
  if (batch === undefined) return { reason: 'unknown-batch', detail: `batch ${key} is not stored` };
  if (String(batch.batchId) !== key) {
    return { reason: 'unknown-batch', detail: `looking up batch ${key} gave batch ${String(batch.batchId)}` };
  }
  const problem = batchSignatureProblem(batch, publicKey);
  if (problem === undefined) return { batch };
  return {
    reason: problem.kind === 'wrong-key' ? 'wrong-key' : 'bad-batch-signature',
    detail: problem.detail,
  };
}
