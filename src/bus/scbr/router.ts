/**
 * The SCBR router service. It runs attested (inside its TEE), binds two ROUTER sockets on the bus
 * transport — publishers connect to one, subscribers to the other, so the CAS channel policy decides
 * who may do which — opens the headers and subscriptions sealed to its X25519 key, matches headers
 * against the subscription index, and forwards each matching payload to its subscribers still sealed
 * with the group key, which the router never holds.
 */
import { timingSafeEqual, X509Certificate } from 'node:crypto';
import type { MetricsRegistry } from '../../platform/index.ts';
import type { BusIdentity, RouterSocket, Transport } from '../transport.ts';
import type { BusLogger } from '../zap.ts';
import { RouterSessions } from './envelope.ts';
import { isScbrError, ScbrError } from './errors.ts';
import { decodeHeader, Reader } from './header-codec.ts';
import type { SubscriptionMatcher } from './matcher.ts';
import { createIndexMatcher } from './matcher-index.ts';
import { readPayloadPrefix } from './payload-seal.ts';
import { RouterKey, type RouterSigner } from './router-key.ts';
import { createRouterMetrics, type RouterMetrics } from './router-metrics.ts';
import { answerRequest, subscriptionKey } from './router-requests.ts';
import { type Subscriber, SubscriberTable } from './router-subscribers.ts';
import { jsonBytes, KIND, kindOf, plainFrame, readRequest, SCBR_CHANNELS } from './wire.ts';

/** Options of {@link createScbrRouter}. Times are milliseconds. */
export interface ScbrRouterOptions {
  readonly transport: Transport;
  /** The router's CURVE identity on both channels. */
  readonly identity: BusIdentity;
  /** The attested router service: its certificate key signs the X25519 key announcement. */
  readonly signer: RouterSigner;
  readonly publishEndpoint: string;
  readonly subscribeEndpoint: string;
  readonly channels?: { readonly publish?: string; readonly subscribe?: string };
  /** Creates the matcher (default: the index matcher). */
  readonly createMatcher?: () => SubscriptionMatcher;
  readonly metrics?: MetricsRegistry;
  readonly logger?: BusLogger;
  /** A subscriber not heard from for this long is dropped with its subscriptions (default 30,000). */
  readonly subscriberLeaseMs?: number;
  /** Deliveries queued per subscriber (default 1000) and their bytes (default 16 MiB). */
  readonly queueLength?: number;
  readonly queueBytes?: number;
  /** Deadline of one delivery send (default 5); a subscriber that misses it is retried after `blockedRetryMs` (default 100). */
  readonly deliverTimeoutMs?: number;
  readonly blockedRetryMs?: number;
  /** The transport's own outgoing queue per subscriber connection, in messages (default 100). */
  readonly transportHighWaterMark?: number;
  readonly maxSubscribers?: number;
  readonly maxSubscriptionsPerSubscriber?: number;
  /** Lifetime of a key announcement (default 24 h, at most the certificate's). */
  readonly announcementValidMs?: number;
  /** Clock, injectable for tests. */
  readonly now?: () => number;
  readonly signal?: AbortSignal;
}

/** What the router holds and has done (for tests, health and the CLI). */
export interface ScbrRouterStats {
  readonly subscribers: number;
  readonly subscriptions: number;
  readonly sessions: number;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  /** Highest `queuedBytes` seen. */
  readonly maxQueuedBytes: number;
  readonly publications: { readonly routed: number; readonly unmatched: number; readonly refused: number };
  readonly delivered: number;
  readonly dropped: { readonly queueFull: number; readonly subscriberGone: number };
  /** Refused client messages by error code. */
  readonly refusals: Readonly<Record<string, number>>;
}

/** A running router. */
export interface ScbrRouter {
  /** Bound endpoints (port 0 resolved). */
  readonly publishEndpoint: string;
  readonly subscribeEndpoint: string;
  /** Hex id of the router's current X25519 key. */
  readonly keyId: string;
  stats(): ScbrRouterStats;
  /** Drops subscribers whose lease ended and subscriptions whose TTL ended (also done by a timer). */
  expire(now?: number): void;
  /** Stops receiving, drops queued deliveries, closes the sockets, forgets the key. Idempotent. */
  close(): Promise<void>;
}

/**
 * Starts a router.
 *
 * @example
 * const router = await createScbrRouter({ transport, identity, signer: service,
 *   publishEndpoint: 'tcp://0.0.0.0:7101', subscribeEndpoint: 'tcp://0.0.0.0:7102' });
 */
export async function createScbrRouter(options: ScbrRouterOptions): Promise<ScbrRouter> {
  const router = new ScbrRouterImpl(options);
  try {
    await router.start();
  } catch (err) {
    await router.close();
    throw err;
  }
  return router;
}

const DELIVER = plainFrame(KIND.deliver);
const REPLY_TIMEOUT_MS = 100;

class ScbrRouterImpl implements ScbrRouter {
  publishEndpoint = '';
  subscribeEndpoint = '';
  readonly keyId: string;
  readonly #o: ScbrRouterOptions;
  readonly #now: () => number;
  readonly #key = RouterKey.generate();
  readonly #sessions: RouterSessions;
  readonly #matcher: SubscriptionMatcher;
  readonly #table: SubscriberTable;
  readonly #metrics: RouterMetrics;
  readonly #pub: RouterSocket;
  readonly #sub: RouterSocket;
  readonly #counts = {
    routed: 0,
    unmatched: 0,
    refused: 0,
    delivered: 0,
    queueFull: 0,
    subscriberGone: 0,
    maxQueuedBytes: 0,
  };
  readonly #refusals: Record<string, number> = {};
  #announcement: { bytes: Uint8Array; at: number } | undefined;
  #loops: Promise<void>[] = [];
  #sweep: NodeJS.Timeout | undefined;
  #closing: Promise<void> | undefined;

  constructor(o: ScbrRouterOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
    this.keyId = Buffer.from(this.#key.keyId).toString('hex');
    this.#metrics = createRouterMetrics(o.metrics);
    this.#matcher = (o.createMatcher ?? createIndexMatcher)();
    this.#sessions = new RouterSessions(this.#key, { pinned: (id) => this.#table.get(id) !== undefined });
    const security = { mechanism: 'curve', identity: o.identity } as const;
    this.#pub = o.transport.createRouter({ channel: o.channels?.publish ?? SCBR_CHANNELS.publish, security });
    this.#sub = o.transport.createRouter({
      channel: o.channels?.subscribe ?? SCBR_CHANNELS.subscribe,
      security,
      sendHighWaterMark: o.transportHighWaterMark ?? 100,
    });
    this.#table = new SubscriberTable({
      leaseMs: o.subscriberLeaseMs ?? 30_000,
      queueLength: o.queueLength ?? 1000,
      queueBytes: o.queueBytes ?? 16 * 1024 * 1024,
      deliverTimeoutMs: o.deliverTimeoutMs ?? 5,
      blockedRetryMs: o.blockedRetryMs ?? 100,
      now: this.#now,
      send: (routingId, payload, timeoutMs) => this.#sub.send([routingId, DELIVER, payload], { timeoutMs }),
      onDelivered: () => {
        this.#counts.delivered++;
        this.#metrics.deliveries.inc();
      },
      onDropped: (reason, count) => {
        if (reason === 'queue-full') this.#counts.queueFull += count;
        else this.#counts.subscriberGone += count;
        this.#metrics.dropped.inc({ reason }, count);
      },
      onSendError: (err) =>
        this.#o.logger?.log('warn', 'scbr delivery failed', { error: (err as Error).message }),
    });
    o.signal?.addEventListener('abort', () => void this.close(), { once: true });
  }

  async start(): Promise<void> {
    this.publishEndpoint = await this.#pub.bind(this.#o.publishEndpoint);
    this.subscribeEndpoint = await this.#sub.bind(this.#o.subscribeEndpoint);
    this.#loops = [
      this.#loop(this.#pub, (f) => this.#onPublisher(f)),
      this.#loop(this.#sub, (f) => this.#onSubscriber(f)),
    ];
    const every = Math.max(10, Math.min(1000, Math.floor((this.#o.subscriberLeaseMs ?? 30_000) / 4)));
    this.#sweep = setInterval(() => this.expire(), every);
    this.#sweep.unref();
    this.#o.logger?.log('info', 'scbr router listening', {
      publish: this.publishEndpoint,
      subscribe: this.subscribeEndpoint,
      keyId: this.keyId,
      simulation: this.#o.signer.simulation,
    });
  }

  stats(): ScbrRouterStats {
    const c = this.#counts;
    return {
      subscribers: this.#table.size,
      subscriptions: this.#matcher.size,
      sessions: this.#sessions.size,
      queuedMessages: this.#table.queuedMessages,
      queuedBytes: this.#table.queuedBytes,
      maxQueuedBytes: c.maxQueuedBytes,
      publications: { routed: c.routed, unmatched: c.unmatched, refused: c.refused },
      delivered: c.delivered,
      dropped: { queueFull: c.queueFull, subscriberGone: c.subscriberGone },
      refusals: { ...this.#refusals },
    };
  }

  expire(now = this.#now()): void {
    for (const sub of this.#table.expire(now)) this.#dropSubscriber(sub);
    for (const key of this.#matcher.expire(now))
      this.#table.get(key.slice(0, 64))?.subscriptions.delete(key.slice(65));
    this.#gauges();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      clearInterval(this.#sweep);
      this.#table.close();
      await Promise.all([this.#pub.close(), this.#sub.close()]);
      await Promise.allSettled(this.#loops);
      this.#key.destroy();
    })();
    return this.#closing;
  }

  async #loop(socket: RouterSocket, handle: (frames: Uint8Array[]) => void): Promise<void> {
    try {
      for await (const frames of socket) {
        try {
          handle(frames);
        } catch (err) {
          this.#refuse(err, socket, frames[0]);
        }
      }
    } catch (err) {
      if (this.#closing === undefined)
        this.#o.logger?.log('error', 'scbr router receive loop failed', { error: (err as Error).message });
    }
  }

  #onPublisher(frames: Uint8Array[]): void {
    const [routingId, head, payload] = frames;
    const kind = kindOf(head);
    if (kind === KIND.hello && routingId !== undefined) {
      this.#sendAnnouncement(this.#pub, routingId);
      return;
    }
    if (kind !== KIND.publish || frames.length !== 3 || payload === undefined || head === undefined) {
      throw new ScbrError(
        'ERR_SCBR_ENVELOPE_MALFORMED',
        'publish socket: expected HELLO or PUBLISH with a payload frame',
      );
    }
    const opened = this.#sessions.open(head);
    if (opened.kind !== KIND.publish)
      throw new ScbrError('ERR_SCBR_ENVELOPE_MALFORMED', 'sealed kind is not PUBLISH');
    const r = new Reader(opened.plaintext);
    const publisherId = r.bytes(16);
    const seq = r.u64();
    const header = decodeHeader(r.rest());
    const prefix = readPayloadPrefix(payload);
    if (prefix.seq !== seq || !timingSafeEqual(prefix.publisherId, publisherId)) {
      throw new ScbrError(
        'ERR_SCBR_ENVELOPE_MALFORMED',
        'the payload frame does not belong to this header (publisher id or sequence differs)',
      );
    }
    const stop = this.#metrics.matchSeconds.startTimer();
    const ids = this.#matcher.match(header);
    stop();
    const targets = new Set<Subscriber>();
    for (const id of ids) {
      const sub = this.#table.get(id.slice(0, 64));
      if (sub !== undefined) targets.add(sub);
    }
    for (const sub of targets) this.#table.enqueue(sub, payload);
    const result = targets.size > 0 ? 'routed' : 'unmatched';
    this.#counts[result]++;
    this.#metrics.publications.inc({ result });
    this.#counts.maxQueuedBytes = Math.max(this.#counts.maxQueuedBytes, this.#table.queuedBytes);
    this.#gauges();
  }

  #onSubscriber(frames: Uint8Array[]): void {
    const [routingId, frame] = frames;
    const kind = kindOf(frame);
    if (routingId === undefined || frame === undefined || frames.length !== 2) {
      throw new ScbrError('ERR_SCBR_ENVELOPE_MALFORMED', 'subscribe socket: expected one frame');
    }
    if (kind === KIND.hello) {
      this.#sendAnnouncement(this.#sub, routingId);
      return;
    }
    const opened = this.#sessions.open(frame);
    const request = readRequest(opened.kind, opened.plaintext);
    let sub = this.#table.get(opened.session.id);
    if (sub === undefined && this.#table.size >= (this.#o.maxSubscribers ?? 10_000)) {
      throw new ScbrError('ERR_SCBR_SUBSCRIPTION', 'the router has reached its subscriber limit');
    }
    sub = this.#table.touch(opened.session, routingId);
    const reply = answerRequest(request, sub, {
      matcher: this.#matcher,
      now: this.#now(),
      maxSubscriptions: this.#o.maxSubscriptionsPerSubscriber ?? 1000,
    });
    this.#metrics.requests.inc({ kind: request.kind, result: reply.ok ? 'ok' : 'refused' });
    const sealed = opened.session.seal(KIND.reply, jsonBytes(reply));
    if (request.kind === 'bye') this.#dropSubscriber(this.#table.remove(sub.session.id));
    this.#gauges();
    this.#sendQuietly(this.#sub, [routingId, sealed]);
  }

  #dropSubscriber(sub: Subscriber | undefined): void {
    if (sub === undefined) return;
    for (const id of sub.subscriptions) this.#matcher.remove(subscriptionKey(sub, id));
    sub.subscriptions.clear();
    this.#sessions.forget(sub.session.id);
  }

  #sendAnnouncement(socket: RouterSocket, routingId: Uint8Array): void {
    const now = this.#now();
    if (this.#announcement === undefined || now - this.#announcement.at > 60 * 60_000) {
      const certEnd = Date.parse(new X509Certificate(this.#o.signer.certificatePem).validTo);
      const validMs = Math.min(this.#o.announcementValidMs ?? 24 * 60 * 60_000, Math.max(0, certEnd - now));
      this.#announcement = { bytes: this.#key.announce(this.#o.signer, { now, validMs }), at: now };
    }
    this.#sendQuietly(socket, [routingId, plainFrame(KIND.routerKey, this.#announcement.bytes)]);
  }

  #refuse(err: unknown, socket: RouterSocket, routingId: Uint8Array | undefined): void {
    const code = isScbrError(err) ? err.code : 'ERR_INTERNAL';
    this.#refusals[code] = (this.#refusals[code] ?? 0) + 1;
    this.#metrics.refusals.inc({ code });
    if (socket === this.#pub) {
      this.#counts.refused++;
      this.#metrics.publications.inc({ result: 'refused' });
    }
    this.#o.logger?.log(isScbrError(err) ? 'warn' : 'error', 'scbr message refused', {
      code,
      reason: (err as Error).message,
    });
    if (routingId !== undefined) {
      const message = isScbrError(err) ? err.message : 'internal error';
      const keyId = isScbrError(err) ? err.detail?.keyId : undefined;
      this.#sendQuietly(socket, [routingId, plainFrame(KIND.error, jsonBytes({ code, message, keyId }))]);
    }
  }

  #sendQuietly(socket: RouterSocket, frames: Uint8Array[]): void {
    if (this.#closing !== undefined) return;
    socket.send(frames, { timeoutMs: REPLY_TIMEOUT_MS }).catch(() => {});
  }

  #gauges(): void {
    this.#metrics.subscribers.set({}, this.#table.size);
    this.#metrics.subscriptions.set({}, this.#matcher.size);
    this.#metrics.queuedMessages.set({}, this.#table.queuedMessages);
    this.#metrics.queuedBytes.set({}, this.#table.queuedBytes);
  }
}
