/**
 * The steps of {@link MdcIngest.handle} that need none of its state: what a batch carries between
 * them, its envelopes handed to the worker ahead of their turn, clear reports (benchmark only) and
 * the reading checks.
 */
import { decodeResponseFrameView } from '../protocol/block.ts';
import {
  type InstantaneousQuantities,
  type MdcEndpoint,
  type MdcSessionRecord,
  MESSAGE_TYPES,
  MeteringError,
  type OpenedEnvelope,
  type PreOpened,
  type ReceiptStatus,
} from '../protocol/index.ts';
import { checkMessage, PLAIN_DOWN_LENGTH, writeMessageHead } from '../protocol/wire.ts';
import type { JobItem } from './envelope-jobs.ts';
import type { EnvelopeWorker } from './envelope-worker.ts';

/** The 15-minute grid. */
export const INTERVAL_MS = 15 * 60_000;
/** The session id of clear reports. */
export const PLAIN_SESSION = 'plain';

/** A report opened, decoded and checked, to be stored. */
export interface Candidate {
  readonly index: number;
  readonly opened: OpenedEnvelope;
  readonly q: InstantaneousQuantities;
  /** Already stored (set while storing). */
  duplicate: boolean;
  /** The same (meter, interval) came earlier in this batch. */
  readonly inBatchDuplicate: boolean;
}

/** A batch's messages past the MDC's checks. */
export interface Admitted {
  readonly candidates: Candidate[];
  /** Indexes of accepted finishes. */
  readonly finishes: number[];
  readonly undo: Array<{ undo(): void; release(): void }>;
  readonly sessions: MdcSessionRecord[];
}

/** A receipt laid out with its counter, to be sealed in the worker. */
export interface PendingReceipt extends JobItem {
  readonly index: number;
  readonly status: ReceiptStatus;
  readonly meterSerial: string;
}

/** A batch's results, and the receipts still to seal into them. */
export interface Answer {
  readonly results: Buffer[];
  readonly seal: PendingReceipt[];
}

/** What the worker made of a batch's data envelopes, by message index. */
export interface PreOpenedBatch {
  readonly pre: Array<PreOpened | undefined>;
  readonly opened: Array<Uint8Array | null | undefined>;
}

/** A clear receipt (benchmark only): head ‖ command block. */
export function plainDown(meterId: string, command: Uint8Array): Buffer {
  const out = Buffer.alloc(PLAIN_DOWN_LENGTH);
  writeMessageHead(out, 'plainDown', meterId);
  out.set(command, 6);
  return out;
}

/** A clear report (benchmark only: the caller checks that this MDC accepts them), as if opened. */
export function openPlainReport(m: Uint8Array, counter: number): OpenedEnvelope {
  const meterId = checkMessage(m, 'plainUp');
  const block = m.subarray(6);
  const frame = decodeResponseFrameView(block);
  if (frame.meterSerial !== meterId) {
    throw new MeteringError('ERR_METER_MISMATCH', `block names meter ${frame.meterSerial}`, {
      check: 'block-meter-serial',
      value: frame.meterSerial,
      expected: meterId,
    });
  }
  return { meterId, sessionId: PLAIN_SESSION, counter, block, frame, commit: () => undefined };
}

/**
 * Hands a batch's data envelopes whose session is known to the worker to open: what it made of each,
 * by message index (undefined: none).
 */
export async function preOpenBatch(
  endpoint: MdcEndpoint,
  worker: EnvelopeWorker,
  messages: readonly Uint8Array[],
): Promise<PreOpenedBatch | undefined> {
  const pre: Array<PreOpened | undefined> = new Array(messages.length);
  const items: JobItem[] = [];
  const at: number[] = [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.length < 2 || m[1] !== MESSAGE_TYPES.dataUp) continue;
    const p = endpoint.preOpen(m);
    if (p === undefined) continue;
    pre[i] = p;
    items.push({ key: p.key, message: m });
    at.push(i);
  }
  if (items.length === 0) return undefined;
  const out = await worker.run('open', 'dataUp', items);
  const opened: Array<Uint8Array | null | undefined> = new Array(messages.length);
  at.forEach((i, k) => {
    opened[i] = out[k];
  });
  return { pre, opened };
}

/** The reading checks: on the 15-minute grid, not too far ahead of `now`, not too old. */
export function validateReading(
  q: InstantaneousQuantities,
  now: number,
  maxFutureMs: number,
  maxAgeMs: number,
): void {
  if (q.timestamp % INTERVAL_MS !== 0) {
    invalid(
      'interval-grid',
      new Date(q.timestamp).toISOString(),
      'the end of a 15-minute interval (meter clock skewed?)',
    );
  }
  if (q.timestamp > now + maxFutureMs) {
    invalid(
      'clock-skew',
      new Date(q.timestamp).toISOString(),
      `at most ${maxFutureMs / 60_000} min after ${new Date(now).toISOString()}`,
    );
  }
  if (q.timestamp < now - maxAgeMs) {
    invalid('too-old', new Date(q.timestamp).toISOString(), `within ${maxAgeMs / 86_400_000} days`);
  }
}

function invalid(check: string, value: string, expected: string): never {
  throw new MeteringError('ERR_READING_INVALID', `reading ${check}: ${value}, expected ${expected}`, {
    check,
    value,
    expected,
  });
}
