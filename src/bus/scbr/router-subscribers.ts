/**
 * The router's subscribers: one per client session, each with a lease renewed by any authenticated
 * message (a subscriber that stops sending expires with all its subscriptions), and a bounded
 * delivery queue (messages and bytes). Deliveries are pumped round-robin through one send function
 * with a short deadline each: a subscriber whose connection is full times out, is set aside for a
 * while, and its queue fills to the bound, after which its deliveries are dropped and counted. So a
 * subscriber that stops reading costs the router at most its queue bound (plus the transport's own
 * high-water mark), and never stalls deliveries to the others.
 */
import { isBusError } from '../errors.ts';
import type { RouterSession } from './envelope.ts';
import { ExpiryQueue } from './expiry-queue.ts';

/** One subscriber as the router knows it. */
export interface Subscriber {
  readonly session: RouterSession;
  /** The routing id of its latest message (it changes when the client reconnects). */
  routingId: Uint8Array;
  /** Its subscription ids (the client's own ids). */
  readonly subscriptions: Set<string>;
  readonly queue: Uint8Array[];
  queuedBytes: number;
  dropped: number;
  /** Set aside after a send timed out, until this time (ms since the epoch). */
  blockedUntil: number;
}

/** Limits and timings of {@link SubscriberTable}. */
export interface SubscriberTableOptions {
  readonly leaseMs: number;
  readonly queueLength: number;
  readonly queueBytes: number;
  readonly deliverTimeoutMs: number;
  readonly blockedRetryMs: number;
  /** Sends one delivery; rejects with a BusError on timeout or when the peer is gone. */
  readonly send: (routingId: Uint8Array, frame: Uint8Array, timeoutMs: number) => Promise<void>;
  readonly onDelivered: () => void;
  readonly onDropped: (reason: 'queue-full' | 'subscriber-gone', count: number) => void;
  readonly onSendError: (err: unknown) => void;
  readonly now: () => number;
}

/** Subscribers by session id, with leases and delivery queues. */
export class SubscriberTable {
  readonly #options: SubscriberTableOptions;
  readonly #subscribers = new Map<string, Subscriber>();
  readonly #leases = new ExpiryQueue();
  /** Subscribers with something to send, in round-robin order. */
  readonly #ready = new Set<Subscriber>();
  #pumping = false;
  #retryTimer: NodeJS.Timeout | undefined;
  #queuedMessages = 0;
  #queuedBytes = 0;
  #closed = false;

  constructor(options: SubscriberTableOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#subscribers.size;
  }

  get queuedMessages(): number {
    return this.#queuedMessages;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  get(id: string): Subscriber | undefined {
    return this.#subscribers.get(id);
  }

  /** The subscriber of `session` (created when new), its lease renewed and routing id updated. */
  touch(session: RouterSession, routingId: Uint8Array): Subscriber {
    let sub = this.#subscribers.get(session.id);
    if (sub === undefined) {
      sub = {
        session,
        routingId,
        subscriptions: new Set(),
        queue: [],
        queuedBytes: 0,
        dropped: 0,
        blockedUntil: 0,
      };
      this.#subscribers.set(session.id, sub);
    }
    sub.routingId = routingId;
    sub.blockedUntil = 0;
    this.#leases.set(session.id, this.#options.now() + this.#options.leaseMs);
    if (sub.queue.length > 0) this.#wake(sub);
    return sub;
  }

  /** Forgets a subscriber and its queue; returns it (its subscriptions are the caller's to remove). */
  remove(id: string): Subscriber | undefined {
    const sub = this.#subscribers.get(id);
    if (sub === undefined) return undefined;
    this.#subscribers.delete(id);
    this.#leases.delete(id);
    this.#ready.delete(sub);
    if (sub.queue.length > 0) this.#options.onDropped('subscriber-gone', sub.queue.length);
    this.#queuedMessages -= sub.queue.length;
    this.#queuedBytes -= sub.queuedBytes;
    sub.queue.length = 0;
    sub.queuedBytes = 0;
    return sub;
  }

  /** Ids of the subscribers whose lease ended at or before `now` (removed from the table). */
  expire(now: number): Subscriber[] {
    const out: Subscriber[] = [];
    for (const id of this.#leases.popExpired(now)) {
      const sub = this.remove(id);
      if (sub !== undefined) out.push(sub);
    }
    return out;
  }

  /** Queues a delivery; false (and counted) when the subscriber's queue is full. */
  enqueue(sub: Subscriber, frame: Uint8Array): boolean {
    const o = this.#options;
    if (sub.queue.length >= o.queueLength || sub.queuedBytes + frame.length > o.queueBytes) {
      sub.dropped++;
      o.onDropped('queue-full', 1);
      return false;
    }
    sub.queue.push(frame);
    sub.queuedBytes += frame.length;
    this.#queuedMessages++;
    this.#queuedBytes += frame.length;
    this.#wake(sub);
    return true;
  }

  /** Stops pumping; queued deliveries are dropped. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    for (const id of [...this.#subscribers.keys()]) this.remove(id);
  }

  #wake(sub: Subscriber): void {
    if (this.#closed || sub.blockedUntil > this.#options.now()) return;
    this.#ready.add(sub);
    if (!this.#pumping) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      while (!this.#closed) {
        const sub = this.#ready.values().next().value as Subscriber | undefined;
        if (sub === undefined) return;
        this.#ready.delete(sub);
        const frame = sub.queue[0];
        if (frame === undefined) continue;
        if (await this.#sendOne(sub, frame)) {
          this.#dequeue(sub);
          if (sub.queue.length > 0) this.#ready.add(sub);
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  async #sendOne(sub: Subscriber, frame: Uint8Array): Promise<boolean> {
    try {
      await this.#options.send(sub.routingId, frame, this.#options.deliverTimeoutMs);
      this.#options.onDelivered();
      return true;
    } catch (err) {
      if (this.#closed || isBusError(err, 'ERR_BUS_CLOSED')) return false;
      if (!isBusError(err, 'ERR_BUS_TIMEOUT') && !isBusError(err, 'ERR_BUS_UNROUTABLE'))
        this.#options.onSendError(err);
      // Full or gone: set it aside; its queue absorbs (then drops) until it drains or expires.
      sub.blockedUntil = this.#options.now() + this.#options.blockedRetryMs;
      this.#scheduleRetry();
      return false;
    }
  }

  #dequeue(sub: Subscriber): void {
    const frame = sub.queue.shift();
    if (frame === undefined) return;
    sub.queuedBytes -= frame.length;
    this.#queuedMessages--;
    this.#queuedBytes -= frame.length;
  }

  #scheduleRetry(): void {
    if (this.#retryTimer !== undefined || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      const now = this.#options.now();
      let waiting = false;
      for (const sub of this.#subscribers.values()) {
        if (sub.queue.length === 0) continue;
        if (sub.blockedUntil <= now) this.#wake(sub);
        else waiting = true;
      }
      if (waiting) this.#scheduleRetry();
    }, this.#options.blockedRetryMs);
    this.#retryTimer.unref();
  }
}
