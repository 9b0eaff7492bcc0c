/**
 * The meter fleet of the simulator: N meters, each with its own Ed25519 key (from provisioning), its
 * own session keys, counters and replay window, held in typed arrays (about 100 bytes per meter, so a
 * million meters fit in about 100 MB). Meters reach aggregators over multiplexed links (meter i uses
 * link i mod M). Every 15 simulated minutes each meter seals its 0x14 phasor report; a report without
 * a receipt is resent under a new counter. Optional faults: drop, delay, duplicate, clock skew.
 */
import type { KeyObject } from 'node:crypto';
import { pushTo } from '../group.ts';
import { decodeResult } from '../ingest-wire.ts';
import type { Link } from '../link.ts';
import {
  buildFinish,
  buildHello,
  deriveSessionKeys,
  parseAccept,
  verifyAccept,
} from '../protocol/handshake.ts';
import {
  decodeReceiptCommand,
  ed25519PublicFromRaw,
  encodeInstantaneousResponse,
  openData,
  parseDataHeader,
  sealData,
} from '../protocol/index.ts';
import { randomX25519 } from '../protocol/keys.ts';
import { MESSAGE_TYPES, PLAIN_DOWN_LENGTH, PLAIN_UP_LENGTH, writeMessageHead } from '../protocol/wire.ts';
import type { MeterKeyFile } from '../provisioning.ts';
import type { CustomerModel } from './model.ts';

/** Fault injection, each a probability per report (0–1), plus a share of meters with a skewed clock. */
export interface FaultOptions {
  readonly drop?: number;
  readonly delay?: number;
  /** How long a delayed report waits, ms (default 2000). */
  readonly delayMs?: number;
  readonly duplicate?: number;
  /** Share of meters whose clock is off (their reports are refused: off the interval grid). */
  readonly skewShare?: number;
  /** Their offset, ms (default +7 min). */
  readonly skewMs?: number;
}

/** Options of {@link MeterFleet}. */
export interface MeterFleetOptions {
  readonly keys: MeterKeyFile;
  /** How many meters of the key file to run (default all). */
  readonly meters?: number;
  readonly mdcPublicKey: KeyObject;
  readonly model: CustomerModel;
  readonly now?: () => number;
  readonly faults?: FaultOptions;
  /** Deterministic fault choice. */
  readonly random?: () => number;
  /**
   * `none` sends reports in clear (`plainUp`), ONLY to measure what the secure envelope costs; the MDC
   * refuses them unless started for that benchmark. Default `aes-gcm`.
   */
  readonly envelope?: 'aes-gcm' | 'none';
}

/** Outcome of one round. */
export interface RoundStats {
  readonly intervalEnd: number;
  readonly meters: number;
  /** Envelopes sent, resends and duplicates included. */
  readonly sent: number;
  /** Reports with a `stored` receipt. */
  readonly stored: number;
  /** Reports with a `duplicate` receipt (an earlier copy was stored). */
  readonly duplicates: number;
  /** Reports without any receipt at the deadline. */
  readonly unacknowledged: number;
  readonly resent: number;
  readonly refusals: Record<string, number>;
  readonly seconds: number;
}

const WINDOW = 32;

/** See the module comment. */
export class MeterFleet {
  readonly count: number;
  readonly #keys: MeterKeyFile;
  readonly #mdcPublicKey: KeyObject;
  readonly #model: CustomerModel;
  readonly #now: () => number;
  readonly #faults: FaultOptions;
  readonly #random: () => number;
  #plain: boolean;
  #links: Link[] = [];
  // Per meter, struct of arrays.
  readonly #up: Buffer;
  readonly #down: Buffer;
  readonly #sessionIds: Buffer;
  readonly #hasSession: Uint8Array;
  readonly #sent: Float64Array;
  readonly #downHighest: Float64Array;
  readonly #downSeen: Uint32Array;
  readonly #skewed: Uint8Array;
  readonly #lastHello: Float64Array;
  // Transient state.
  readonly #pendingHandshakes = new Map<
    number,
    { hello: Uint8Array; ephemeral: KeyObject; meterKey: KeyObject }
  >();
  #handshakeWaiters = new Map<number, (ok: boolean) => void>();
  #round: Map<number, number> | undefined;
  #roundStats = { stored: 0, duplicates: 0, refusals: {} as Record<string, number> };
  #roundProgress: (() => void) | undefined;
  readonly #meterIds: string[];

  constructor(o: MeterFleetOptions) {
    this.count = o.meters ?? o.keys.count;
    if (this.count > o.keys.count)
      throw new RangeError(`the key file holds ${o.keys.count} meters, not ${this.count}`);
    if (this.count > o.model.meters) throw new RangeError('the model has fewer meters than the fleet');
    if (o.keys.firstId !== 1)
      throw new RangeError(
        'the simulator expects meter ids from 00000001 (provision with the default --first-id)',
      );
    this.#keys = o.keys;
    this.#mdcPublicKey = o.mdcPublicKey;
    this.#model = o.model;
    this.#now = o.now ?? Date.now;
    this.#faults = o.faults ?? {};
    this.#random = o.random ?? Math.random;
    this.#plain = o.envelope === 'none';
    const n = this.count;
    this.#up = Buffer.alloc(32 * n);
    this.#down = Buffer.alloc(32 * n);
    this.#sessionIds = Buffer.alloc(8 * n);
    this.#hasSession = new Uint8Array(n);
    this.#sent = new Float64Array(n);
    this.#downHighest = new Float64Array(n);
    this.#downSeen = new Uint32Array(n);
    this.#skewed = new Uint8Array(n);
    this.#lastHello = new Float64Array(n);
    const skewShare = this.#faults.skewShare ?? 0;
    for (let i = 0; i < n; i++) if (skewShare > 0 && this.#random() < skewShare) this.#skewed[i] = 1;
    this.#meterIds = Array.from({ length: n }, (_, i) => String(i + 1).padStart(8, '0'));
  }

  /** Meters with an established session. */
  get sessions(): number {
    let s = 0;
    for (let i = 0; i < this.count; i++) s += this.#hasSession[i]!;
    return s;
  }

  /** Bytes of per-meter state. */
  get byteLength(): number {
    return this.count * (32 + 32 + 8 + 1 + 8 + 8 + 4 + 1 + 8);
  }

  /** The links (one per aggregator) meters send on; results arriving on them go to {@link onResults}. */
  attach(links: readonly Link[]): void {
    if (links.length === 0) throw new TypeError('at least one link');
    this.#links = [...links];
  }

  /** Handles results the aggregators pass back (accepts, receipts, refusals). */
  onResults(messages: readonly Buffer[]): void {
    const finishes = new Map<Link, Uint8Array[]>();
    for (const m of messages) {
      let r: ReturnType<typeof decodeResult>;
      try {
        r = decodeResult(m);
      } catch {
        continue;
      }
      const i = Number(r.meterId) - 1;
      if (!(i >= 0 && i < this.count)) continue;
      switch (r.status) {
        case 'accepted': {
          const finish = this.#completeHandshake(i, r.payload);
          if (finish !== undefined) {
            const link = this.#linkOf(i);
            pushTo(finishes, link, finish);
          } else this.#handshakeDone(i, false);
          break;
        }
        case 'established':
          this.#handshakeDone(i, true);
          break;
        case 'stored':
        case 'duplicate':
          this.#receipt(i, r.payload);
          break;
        case 'refused': {
          const code = r.payload.toString('latin1');
          if (this.#pendingHandshakes.has(i) || this.#handshakeWaiters.has(i)) {
            this.#pendingHandshakes.delete(i);
            this.#handshakeDone(i, false);
          }
          if (code === 'ERR_SESSION_UNKNOWN' || code === 'ERR_SESSION_EXPIRED') this.#hasSession[i] = 0;
          if (this.#round !== undefined)
            this.#roundStats.refusals[code] = (this.#roundStats.refusals[code] ?? 0) + 1;
          break;
        }
        case 'retry':
          if (this.#handshakeWaiters.has(i)) this.#handshakeDone(i, false);
          break;
      }
    }
    for (const [link, list] of finishes) void link.send(list).catch(() => undefined);
  }

  /**
   * Runs handshakes for every meter without a session, at most `concurrency` in flight; resolves
   * with how many sessions were established. Meters that fail are retried once.
   *
   * A sliding window, not rounds of `concurrency` with a barrier: new hellos go out in groups as
   * handshakes finish, so that the simulator's signing and the MDC's verifying overlap instead of
   * taking turns.
   */
  async handshake(
    o: { concurrency?: number; timeoutMs?: number; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<number> {
    const todo: number[] = [];
    for (let i = 0; i < this.count; i++) if (this.#hasSession[i] === 0) todo.push(i);
    const concurrency = Math.max(1, o.concurrency ?? 2000);
    const timeoutMs = o.timeoutMs ?? 30_000;
    const total = todo.length;
    let done = 0;
    let established = 0;
    let pending = todo;
    for (let attempt = 0; attempt < 2 && pending.length > 0; attempt++) {
      const failed: number[] = [];
      await this.#handshakeWindow(pending, concurrency, timeoutMs, (i, ok) => {
        if (ok) established++;
        else failed.push(i);
        // A retried meter counts once, when its first attempt ends.
        if (attempt === 0) {
          done++;
          o.onProgress?.(done, total);
        }
      });
      pending = failed;
    }
    return established;
  }

  /** Handshakes of `meters`, at most `concurrency` in flight, started in groups of up to 500. */
  #handshakeWindow(
    meters: readonly number[],
    concurrency: number,
    timeoutMs: number,
    ended: (meter: number, ok: boolean) => void,
  ): Promise<void> {
    const group = Math.max(1, Math.min(500, Math.ceil(concurrency / 10)));
    let next = 0;
    let inFlight = 0;
    return new Promise<void>((resolve) => {
      const pump = (): void => {
        while (next < meters.length && (inFlight === 0 || inFlight + group <= concurrency)) {
          const chunk = meters.slice(next, next + group);
          next += chunk.length;
          inFlight += chunk.length;
          let left = chunk.length;
          const timer = setTimeout(() => {
            for (const i of chunk) this.#handshakeDone(i, false);
          }, timeoutMs);
          const byLink = new Map<Link, number[]>();
          for (const i of chunk) {
            this.#handshakeWaiters.set(i, (ok) => {
              inFlight--;
              if (--left === 0) clearTimeout(timer);
              ended(i, ok);
              pump();
            });
            pushTo(byLink, this.#linkOf(i), i);
          }
          for (const [link, list] of byLink) {
            link.send(list.map((i) => this.#startHandshake(i))).catch(() => {
              for (const i of list) this.#handshakeDone(i, false);
            });
          }
        }
        if (next >= meters.length && inFlight === 0) resolve();
      };
      pump();
    });
  }

  /**
   * One 15-minute round: every meter with a session sends its report for the interval ending at
   * `intervalEnd`; reports without a receipt are resent every `resendAfterMs` until `deadlineMs`.
   */
  async round(
    intervalEnd: number,
    o: { resendAfterMs?: number; deadlineMs?: number; chunk?: number } = {},
  ): Promise<RoundStats> {
    const started = performance.now();
    const resendAfter = o.resendAfterMs ?? 5000;
    const deadline = Date.now() + (o.deadlineMs ?? 60_000);
    const chunk = o.chunk ?? 1000;
    const pending = new Map<number, number>();
    this.#round = pending;
    this.#roundStats = { stored: 0, duplicates: 0, refusals: {} };
    let sent = 0;
    let resent = 0;
    const delayed: Array<{ link: Link; env: Uint8Array }> = [];
    const sendMeters = async (meters: Iterable<number>): Promise<void> => {
      const byLink = new Map<Link, Uint8Array[]>();
      const flush = async () => {
        for (const [link, list] of byLink) if (list.length > 0) await link.send(list.splice(0));
      };
      let queued = 0;
      for (const i of meters) {
        if (this.#hasSession[i] === 0 && !this.#plain) continue;
        const ts = pending.get(i) ?? intervalEnd;
        pending.set(i, ts);
        const env = this.#sealReport(i, intervalEnd);
        const link = this.#linkOf(i);
        const f = this.#faults;
        if (f.drop && this.#random() < f.drop) continue;
        if (f.delay && this.#random() < f.delay) {
          delayed.push({ link, env });
          continue;
        }
        pushTo(byLink, link, env);
        sent++;
        if (f.duplicate && this.#random() < f.duplicate) {
          pushTo(byLink, link, env);
          sent++;
        }
        if (++queued % chunk === 0) {
          await flush();
          await new Promise((r) => setImmediate(r));
        }
      }
      await flush();
    };
    const all = (function* (n: number) {
      for (let i = 0; i < n; i++) yield i;
    })(this.count);
    await sendMeters(all);
    if (delayed.length > 0) {
      const list = delayed.splice(0);
      setTimeout(() => {
        for (const d of list) void d.link.send([d.env]).catch(() => undefined);
      }, this.#faults.delayMs ?? 2000).unref();
      sent += list.length;
    }
    let lastSend = Date.now();
    while (pending.size > 0 && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.#roundProgress = resolve;
        setTimeout(resolve, 100).unref();
      });
      this.#roundProgress = undefined;
      if (pending.size > 0 && Date.now() - lastSend >= resendAfter) {
        resent += pending.size;
        await sendMeters([...pending.keys()]);
        lastSend = Date.now();
      }
    }
    this.#round = undefined;
    return {
      intervalEnd,
      meters: this.count,
      sent: sent + resent,
      stored: this.#roundStats.stored,
      duplicates: this.#roundStats.duplicates,
      unacknowledged: pending.size,
      resent,
      refusals: this.#roundStats.refusals,
      seconds: (performance.now() - started) / 1000,
    };
  }

  /** Switches between sealed reports and clear ones (`none`: envelope-cost benchmark only). */
  useEnvelope(kind: 'aes-gcm' | 'none'): void {
    this.#plain = kind === 'none';
  }

  /** Zeroes key material. */
  destroy(): void {
    this.#up.fill(0);
    this.#down.fill(0);
  }

  #linkOf(i: number): Link {
    return this.#links[i % this.#links.length]!;
  }

  #sealReport(i: number, intervalEnd: number): Uint8Array {
    const q = this.#model.report(i, intervalEnd);
    const report =
      this.#skewed[i] === 1 ? { ...q, timestamp: q.timestamp + (this.#faults.skewMs ?? 7 * 60_000) } : q;
    const block = encodeInstantaneousResponse(report);
    if (this.#plain) {
      const out = Buffer.allocUnsafe(PLAIN_UP_LENGTH);
      writeMessageHead(out, 'plainUp', this.#meterIds[i]!);
      out.set(block, 6);
      return out;
    }
    const counter = ++this.#sent[i]!;
    return sealData(
      'dataUp',
      this.#up.subarray(32 * i, 32 * i + 32),
      this.#meterIds[i]!,
      this.#sessionIds.toString('hex', 8 * i, 8 * i + 8),
      counter,
      block,
    );
  }

  #startHandshake(i: number): Uint8Array {
    const ephemeral = randomX25519();
    const meterKey = this.#keys.privateKey(i);
    const time = Math.max(this.#now(), this.#lastHello[i]! + 1);
    this.#lastHello[i] = time;
    const hello = buildHello({
      meterId: this.#meterIds[i]!,
      meterKey,
      mdcPublicKey: this.#mdcPublicKey,
      time,
      ephemeral,
    });
    this.#pendingHandshakes.set(i, { hello, ephemeral, meterKey });
    return hello;
  }

  #completeHandshake(i: number, accept: Uint8Array): Uint8Array | undefined {
    const pending = this.#pendingHandshakes.get(i);
    this.#pendingHandshakes.delete(i);
    if (pending === undefined) return undefined;
    try {
      const parsed = parseAccept(accept);
      if (parsed.meterId !== this.#meterIds[i] || !verifyAccept(pending.hello, accept, this.#mdcPublicKey))
        return undefined;
      const keys = deriveSessionKeys(pending.ephemeral, parsed.ephemeral, pending.hello, accept);
      keys.up.copy(this.#up, 32 * i);
      keys.down.copy(this.#down, 32 * i);
      keys.up.fill(0);
      keys.down.fill(0);
      parsed.sessionId.copy(this.#sessionIds, 8 * i);
      this.#sent[i] = 0;
      this.#downHighest[i] = 0;
      this.#downSeen[i] = 0;
      this.#hasSession[i] = 1;
      return buildFinish(pending.hello, accept, this.#meterIds[i]!, pending.meterKey);
    } catch {
      return undefined;
    }
  }

  #handshakeDone(i: number, ok: boolean): void {
    const w = this.#handshakeWaiters.get(i);
    if (w === undefined) return;
    this.#handshakeWaiters.delete(i);
    if (!ok) this.#hasSession[i] = 0;
    w(ok);
  }

  #receipt(i: number, envelope: Buffer): void {
    let receipt: ReturnType<typeof decodeReceiptCommand>;
    if (this.#plain && envelope.length === PLAIN_DOWN_LENGTH && envelope[1] === MESSAGE_TYPES.plainDown) {
      try {
        receipt = decodeReceiptCommand(envelope.subarray(6));
      } catch {
        return;
      }
      this.#settle(i, receipt);
      return;
    }
    if (this.#hasSession[i] === 0) return;
    try {
      const header = parseDataHeader(envelope, 'dataDown');
      if (
        header.meterId !== this.#meterIds[i] ||
        header.sessionId !== this.#sessionIds.toString('hex', 8 * i, 8 * i + 8)
      )
        return;
      if (!this.#freshDown(i, header.counter)) return;
      receipt = decodeReceiptCommand(openData(envelope, header, this.#down.subarray(32 * i, 32 * i + 32)));
      this.#commitDown(i, header.counter);
    } catch {
      return;
    }
    this.#settle(i, receipt);
  }

  #settle(i: number, receipt: ReturnType<typeof decodeReceiptCommand>): void {
    const pending = this.#round;
    if (pending === undefined || pending.get(i) !== receipt.timestamp) return;
    pending.delete(i);
    if (receipt.status === 'stored') this.#roundStats.stored++;
    else this.#roundStats.duplicates++;
    if (pending.size === 0) this.#roundProgress?.();
  }

  #freshDown(i: number, counter: number): boolean {
    const highest = this.#downHighest[i]!;
    if (counter > highest) return true;
    if (counter <= highest - WINDOW) return false;
    return ((this.#downSeen[i]! >>> (highest - counter)) & 1) === 0;
  }

  #commitDown(i: number, counter: number): void {
    const highest = this.#downHighest[i]!;
    if (counter > highest) {
      const shift = counter - highest;
      this.#downSeen[i] = shift >= WINDOW ? 1 : ((this.#downSeen[i]! << shift) | 1) >>> 0;
      this.#downHighest[i] = counter;
    } else {
      this.#downSeen[i] = (this.#downSeen[i]! | (1 << (highest - counter))) >>> 0;
    }
  }
}

/** The MDC identity public key from its raw hex (as `provision.json` records it). */
export function mdcPublicKeyFromHex(hex: string): KeyObject {
  return ed25519PublicFromRaw(Buffer.from(hex, 'hex'));
}
