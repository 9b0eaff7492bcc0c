/**
 * The SCBR subscriber: filters sealed to the router, a lease kept alive by heartbeats, payloads
 * opened with the group key (tampered, replayed or foreign-key payloads are refused and counted),
 * and each payload checked against the subscriber's own filters before it is queued for the
 * subscriptions it matches. Queues are bounded: a subscription that is not read drops and counts.
 */
import { randomBytes } from 'node:crypto';
import { AsyncQueue } from './async-queue.ts';
import { isScbrError, SCBR_ERROR_CODES, ScbrError, type ScbrErrorCode } from './errors.ts';
import { evaluateFilter } from './filter-eval.ts';
import { type ParseFilterOptions, parseFilter } from './filter-parser.ts';
import type { AttributeValue, Filter } from './filter-types.ts';
import { fromHeader } from './filter-values.ts';
import { GroupKey, PayloadOpener } from './payload-seal.ts';
import { RouterLink, type RouterLinkOptions } from './router-link.ts';
import { DEFAULT_SCBR_SPACE, KIND, SCBR_CHANNELS, type ScbrReply } from './wire.ts';

/** Options of {@link createScbrSubscriber}. */
export interface ScbrSubscriberOptions extends RouterLinkOptions {
  /** Group keys accepted (the current one and, during a rotation, the previous): bytes or hex. */
  readonly groupKeys: readonly (Uint8Array | string)[];
  /** The channel subscribers are admitted on (default `scbr.subscribe`). */
  readonly channel?: string;
  /** The name payloads are bound to; publishers must use the same (default `scbr`). */
  readonly space?: string;
  /** Heartbeat period (default 10,000 ms; keep it well under the router's subscriber lease). */
  readonly heartbeatMs?: number;
  /** Messages queued per subscription before drops (default 1000). */
  readonly queueLength?: number;
  /** Sequence numbers remembered per publisher against replays (default 1024). */
  readonly replayWindow?: number;
  /** Told about refused payloads and router trouble. Must not throw. */
  readonly onError?: (err: Error) => void;
}

/** A publication as delivered. */
export interface ScbrMessage {
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly payload: Uint8Array;
  /** Hex id of the publisher instance. */
  readonly publisher: string;
  readonly seq: number;
}

/** Options of {@link ScbrSubscriber.subscribe}. */
export interface SubscribeOptions extends ParseFilterOptions {
  /** The subscription's id (default random); subscribing again with an id replaces its filter. */
  readonly id?: string;
  /** The router drops the subscription after this long (default: when the subscriber goes away). */
  readonly ttlMs?: number;
}

/**
 * One subscription: iterate it to receive (one loop at a time). Iteration ends when it is
 * unsubscribed or the subscriber closes; leaving a loop early does not end it.
 */
export interface ScbrSubscription extends AsyncIterable<ScbrMessage> {
  readonly id: string;
  readonly filter: Filter;
  /** Messages dropped because this subscription was not read fast enough. */
  readonly dropped: number;
  unsubscribe(): Promise<void>;
}

/** Counters of a subscriber. */
export interface ScbrSubscriberStats {
  readonly received: number;
  /** Payloads refused, by error code (`ERR_SCBR_DECRYPT`, `ERR_SCBR_REPLAY`, `ERR_SCBR_GROUP_KEY`, …). */
  readonly refused: Readonly<Record<string, number>>;
  /** Payloads that matched none of this subscriber's filters (the router should not send those). */
  readonly mismatched: number;
  readonly dropped: number;
  /** Times the subscriptions were sent again (after a router restart or lease loss). */
  readonly resubscribed: number;
}

/** Subscribes through the router. */
export interface ScbrSubscriber {
  /** Parses `filter` (errors with line and column), registers it at the router, and returns the subscription. */
  subscribe(filter: string, options?: SubscribeOptions): Promise<ScbrSubscription>;
  stats(): ScbrSubscriberStats;
  /** Says goodbye to the router (best effort), ends every subscription, closes the link. */
  close(): Promise<void>;
}

/**
 * Connects a subscriber to the router's subscribe endpoint.
 *
 * @example
 * const sub = await createScbrSubscriber({ transport, identity, endpoint: 'tcp://router:7102', serverKey,
 *   casRootPem: service.caCertificatePem, groupKeys: [service.secret('busGroupKey').hex] });
 * for await (const m of await sub.subscribe('region = "north" AND demand > 5')) console.log(m.attributes);
 */
export async function createScbrSubscriber(options: ScbrSubscriberOptions): Promise<ScbrSubscriber> {
  const keys = options.groupKeys.map((k) => GroupKey.from(k));
  if (keys.length === 0) throw new TypeError('a subscriber needs at least one group key');
  const subscriber = new Subscriber(options, keys);
  await subscriber.open();
  options.signal?.addEventListener('abort', () => void subscriber.close(), { once: true });
  return subscriber;
}

interface Local {
  readonly id: string;
  readonly filter: Filter;
  readonly ttlMs: number | undefined;
  readonly queue: AsyncQueue<ScbrMessage>;
}

class Subscriber implements ScbrSubscriber {
  readonly #o: ScbrSubscriberOptions;
  readonly #opener: PayloadOpener;
  readonly #subs = new Map<string, Local>();
  readonly #counts = { received: 0, mismatched: 0, resubscribed: 0, droppedGone: 0 };
  readonly #refused: Record<string, number> = {};
  #link: RouterLink | undefined;
  #heartbeat: NodeJS.Timeout | undefined;
  #beating = false;
  #closed = false;

  constructor(o: ScbrSubscriberOptions, keys: GroupKey[]) {
    this.#o = o;
    this.#opener = new PayloadOpener(keys, {
      channel: o.space ?? DEFAULT_SCBR_SPACE,
      ...(o.replayWindow === undefined ? {} : { replayWindow: o.replayWindow }),
    });
  }

  async open(): Promise<void> {
    this.#link = await RouterLink.open(this.#o, this.#o.channel ?? SCBR_CHANNELS.subscribe, {
      onDeliver: (payload) => this.#deliver(payload),
      onNewSession: () => void this.#resubscribe(),
      onError: (err) => this.#error(err),
    });
    this.#heartbeat = setInterval(() => void this.#beat(), this.#o.heartbeatMs ?? 10_000);
    this.#heartbeat.unref();
  }

  async subscribe(text: string, options: SubscribeOptions = {}): Promise<ScbrSubscription> {
    if (this.#closed) throw new ScbrError('ERR_SCBR_CLOSED', 'the subscriber is closed');
    const filter = parseFilter(text, options);
    const id = options.id ?? `s-${randomBytes(8).toString('hex')}`;
    const local: Local = {
      id,
      filter,
      ttlMs: options.ttlMs,
      queue: new AsyncQueue(this.#o.queueLength ?? 1000),
    };
    const previous = this.#subs.get(id);
    this.#subs.set(id, local);
    try {
      await this.#register(local);
    } catch (err) {
      if (previous === undefined) this.#subs.delete(id);
      else this.#subs.set(id, previous);
      throw err;
    }
    previous?.queue.end();
    return this.#handle(local);
  }

  stats(): ScbrSubscriberStats {
    let dropped = this.#counts.droppedGone;
    for (const local of this.#subs.values()) dropped += local.queue.dropped;
    const { received, mismatched, resubscribed } = this.#counts;
    return { received, refused: { ...this.#refused }, mismatched, dropped, resubscribed };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    for (const local of this.#subs.values()) local.queue.end();
    this.#subs.clear();
    const link = this.#link;
    if (link === undefined) return;
    await link.request(KIND.bye, {}, { timeoutMs: 1000 }).catch(() => {});
    await link.close();
  }

  #handle(local: Local): ScbrSubscription {
    return {
      id: local.id,
      filter: local.filter,
      get dropped() {
        return local.queue.dropped;
      },
      unsubscribe: async () => {
        if (this.#subs.get(local.id) !== local) return;
        this.#subs.delete(local.id);
        this.#counts.droppedGone += local.queue.dropped;
        local.queue.end();
        const reply = await this.#link?.request(KIND.unsubscribe, { id: local.id });
        if (reply !== undefined && !reply.ok && reply.error?.code !== 'ERR_SCBR_SUBSCRIPTION')
          throw replyError(reply);
      },
      // Leaving a `for await` loop does not end the subscription (iterate again to continue); unsubscribe() does.
      [Symbol.asyncIterator]: () => ({
        next: () => local.queue.next(),
        return: async () => ({ value: undefined, done: true as const }),
      }),
    };
  }

  async #register(local: Local): Promise<void> {
    const link = this.#link as RouterLink;
    const body = {
      id: local.id,
      filter: local.filter.text,
      ...(local.ttlMs === undefined ? {} : { ttlMs: local.ttlMs }),
    };
    const reply = await link.request(KIND.subscribe, body);
    if (!reply.ok) throw replyError(reply);
  }

  async #resubscribe(): Promise<void> {
    if (this.#closed) return;
    this.#counts.resubscribed++;
    for (const local of [...this.#subs.values()]) {
      try {
        await this.#register(local);
      } catch (err) {
        this.#error(err as Error);
      }
    }
  }

  async #beat(): Promise<void> {
    const link = this.#link;
    if (this.#beating || this.#closed || link === undefined) return;
    this.#beating = true;
    try {
      const reply = await link.request(KIND.heartbeat, {});
      // The router lost our subscriptions (our lease ran out while we were away): send them again.
      if (reply.ok && (reply.subscriptions ?? 0) < this.#subs.size) await this.#resubscribe();
    } catch (err) {
      if (isScbrError(err, 'ERR_SCBR_TIMEOUT')) link.reset();
      // A closed link, or a router restart (the link has already fetched the new key), is no news.
      if (!isScbrError(err, 'ERR_SCBR_CLOSED') && !isScbrError(err, 'ERR_SCBR_ROUTER_KEY'))
        this.#error(err as Error);
    } finally {
      this.#beating = false;
    }
  }

  #deliver(payload: Uint8Array): void {
    let opened: ReturnType<PayloadOpener['open']>;
    try {
      opened = this.#opener.open(payload);
    } catch (err) {
      const code = isScbrError(err) ? err.code : 'ERR_INTERNAL';
      this.#refused[code] = (this.#refused[code] ?? 0) + 1;
      this.#error(err as Error);
      return;
    }
    this.#counts.received++;
    const message: ScbrMessage = {
      attributes: fromHeader(opened.header),
      payload: opened.body,
      publisher: opened.publisher,
      seq: opened.seq,
    };
    let matched = false;
    for (const local of this.#subs.values()) {
      if (!evaluateFilter(local.filter.root, opened.header)) continue;
      matched = true;
      local.queue.push(message);
    }
    if (!matched) this.#counts.mismatched++;
  }

  #error(err: Error): void {
    try {
      this.#o.onError?.(err);
    } catch {
      // a listener must not break the subscriber
    }
  }
}

function replyError(reply: ScbrReply): ScbrError {
  const code = (SCBR_ERROR_CODES as readonly string[]).includes(reply.error?.code ?? '')
    ? (reply.error?.code as ScbrErrorCode)
    : 'ERR_SCBR_SUBSCRIPTION';
  const { line, column } = reply.error ?? {};
  const position =
    line !== undefined && column !== undefined ? { position: { line, column, offset: -1 } } : {};
  return new ScbrError(code, `the router refused: ${reply.error?.message ?? 'no reason given'}`, position);
}
