/**
 * The audit log's chain: entry hashing and signing, line reading, and the verification scan.
 * Split out of audit-log.ts (which holds the writer).
 *
 * hash = SHA-256 of the canonical JSON (keys sorted, no spaces) of the entry without `hash` and `sig`;
 * sig = Ed25519 over `securecloud-audit-v1\0` ‖ hash (32 bytes), base64; prev = the previous entry's
 * hash, 64 zeros for the first; seq counts from 1.
 */
import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import { open } from 'node:fs/promises';

/** One audit log entry (one JSON line). */
export interface AuditEntry {
  seq: number;
  time: string;
  kind: 'attestation' | 'policy' | 'secret-read' | 'secret-write' | 'start' | 'bus-key';
  actor: string;
  outcome: 'granted' | 'refused' | 'ok';
  reason?: string;
  detail?: Record<string, string | number | boolean | null>;
  prev: string;
  hash: string;
  sig: string;
}

export const AUDIT_KINDS = [
  'attestation',
  'policy',
  'secret-read',
  'secret-write',
  'start',
  'bus-key', // an attested instance recorded its CURVE public key for the secure bus
] as const;
export const AUDIT_OUTCOMES = ['granted', 'refused', 'ok'] as const;
export const ZERO_HASH = '0'.repeat(64);
const SIG_DOMAIN = Buffer.from('securecloud-audit-v1\0', 'utf8');
const MAX_LINE = 1 << 20;
const HEX64 = /^[0-9a-f]{64}$/;

/** Canonical JSON: object keys sorted, undefined members dropped, no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The hash of an entry (over everything but `hash` and `sig`). */
export function entryHash(entry: Omit<AuditEntry, 'hash' | 'sig'> & { hash?: string; sig?: string }): string {
  const { hash: _hash, sig: _sig, ...body } = entry;
  return createHash('sha256').update(canonicalJson(body), 'utf8').digest('hex');
}

export function signHash(hash: string, key: KeyObject): string {
  return sign(null, Buffer.concat([SIG_DOMAIN, Buffer.from(hash, 'hex')]), key).toString('base64');
}

function verifyHash(hash: string, sig: string, key: KeyObject): boolean {
  try {
    return verify(
      null,
      Buffer.concat([SIG_DOMAIN, Buffer.from(hash, 'hex')]),
      key,
      Buffer.from(sig, 'base64'),
    );
  } catch {
    return false;
  }
}

/** A line of the file: its text, the byte offset where it starts, and whether a newline ended it. */
export interface Line {
  readonly text: string;
  readonly start: number;
  readonly terminated: boolean;
  /** The line is longer than the limit (1 MiB); `text` is empty. */
  readonly tooLong?: true;
}

/** Reads a file line by line (bounded line length); nothing when it does not exist. */
export async function* readLines(path: string): AsyncGenerator<Line> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    let pending = Buffer.alloc(0);
    let offset = 0;
    const chunk = Buffer.alloc(65536);
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      pending = Buffer.concat([pending, chunk.subarray(0, bytesRead)]);
      let nl = pending.indexOf(10);
      while (nl >= 0) {
        yield { text: pending.subarray(0, nl).toString('utf8'), start: offset, terminated: true };
        offset += nl + 1;
        pending = pending.subarray(nl + 1);
        nl = pending.indexOf(10);
      }
      if (pending.length > MAX_LINE) {
        yield { text: '', start: offset, terminated: true, tooLong: true };
        return;
      }
    }
    if (pending.length > 0) yield { text: pending.toString('utf8'), start: offset, terminated: false };
  } finally {
    await fh.close();
  }
}

/** Parses one line into an entry, or says why it is not one. */
export function parseEntry(text: string): AuditEntry | string {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return 'the line is not JSON';
  }
  const e = j as Partial<AuditEntry> | null;
  if (e === null || typeof e !== 'object' || Array.isArray(e)) return 'the line is not a JSON object';
  const ok =
    Number.isSafeInteger(e.seq) &&
    typeof e.time === 'string' &&
    (AUDIT_KINDS as readonly unknown[]).includes(e.kind) &&
    typeof e.actor === 'string' &&
    (AUDIT_OUTCOMES as readonly unknown[]).includes(e.outcome) &&
    (e.reason === undefined || typeof e.reason === 'string') &&
    (e.detail === undefined ||
      (typeof e.detail === 'object' && e.detail !== null && !Array.isArray(e.detail))) &&
    typeof e.prev === 'string' &&
    HEX64.test(e.prev) &&
    typeof e.hash === 'string' &&
    HEX64.test(e.hash) &&
    typeof e.sig === 'string';
  return ok ? (e as AuditEntry) : 'the entry lacks a field or has a field of the wrong type';
}

/** The outcome of {@link scanAuditLog}. */
export type ScanResult =
  | { ok: true; entries: number; last: { seq: number; hash: string }; tornTail: number | null }
  | { ok: false; seq: number; reason: string };

/**
 * Checks every entry (shape, seq order, hash, signature, prev link) and the sealed head. An
 * unterminated last line is reported in `tornTail` (its byte offset), not as a failure.
 */
export async function scanAuditLog(
  path: string,
  verifyKey: KeyObject,
  head?: { seq: number; hash: string } | null,
): Promise<ScanResult> {
  let last = { seq: 0, hash: ZERO_HASH };
  let headSeen = head == null || head.seq === 0;
  for await (const line of readLines(path)) {
    const seq = last.seq + 1;
    if (!line.terminated) return finish(last, head, headSeen, line.start);
    if (line.tooLong) return { ok: false, seq, reason: 'the line is longer than 1 MiB' };
    const e = parseEntry(line.text);
    if (typeof e === 'string') return { ok: false, seq, reason: `${e} (entry ${seq} expected)` };
    if (e.seq !== seq) {
      const why =
        e.seq > seq
          ? 'an entry was removed or the entries were re-ordered'
          : 'the entries were re-ordered or duplicated';
      return { ok: false, seq, reason: `expected entry ${seq}, found entry ${e.seq}: ${why}` };
    }
    if (entryHash(e) !== e.hash)
      return { ok: false, seq, reason: 'the entry does not match its hash: it was altered' };
    if (!verifyHash(e.hash, e.sig, verifyKey)) {
      return {
        ok: false,
        seq,
        reason: 'the signature is not valid: the entry was altered or not written by this CAS',
      };
    }
    if (e.prev !== last.hash) {
      return {
        ok: false,
        seq,
        reason: `prev does not match the hash of entry ${seq - 1}: the chain is broken`,
      };
    }
    if (head && e.seq === head.seq) {
      if (e.hash !== head.hash) {
        return {
          ok: false,
          seq,
          reason: 'the hash differs from the head kept in the sealed state: the log was rewritten',
        };
      }
      headSeen = true;
    }
    last = { seq: e.seq, hash: e.hash };
  }
  return finish(last, head, headSeen, null);
}

function finish(
  last: { seq: number; hash: string },
  head: { seq: number; hash: string } | null | undefined,
  headSeen: boolean,
  tornTail: number | null,
): ScanResult {
  if (head && !headSeen) {
    return {
      ok: false,
      seq: last.seq + 1,
      reason: `the log ends at entry ${last.seq} but the head kept in the sealed state is entry ${head.seq}: entries were removed from the end`,
    };
  }
  return { ok: true, entries: last.seq, last, tornTail };
}
