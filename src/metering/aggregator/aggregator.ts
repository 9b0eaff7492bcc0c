/**
 * The aggregator: untrusted, it sees envelopes only. It takes meter links (TCP, many meters per
 * link), routes each meter to its MDC shard (meter number mod shard count: each MDC instance owns its
 * meters' sessions and readings), journals every report envelope in that shard's disk queue before
 * forwarding it over the bus (CURVE DEALER → the MDC's ROUTER), resends until the MDC answers, and
 * passes the MDC's results (accepts, receipts, refusals) back to the meter's link. Handshake messages
 * are relayed at once and not journalled (a meter retries its handshake). Memory is bounded: the
 * backlog lives on disk, in-flight requests are capped.
 */
import { join } from 'node:path';
import type { BusIdentity, DealerSocket, Transport } from '../../bus/index.ts';
import { BusError } from '../../bus/index.ts';
import type { MetricsRegistry } from '../../platform/index.ts';
import { packMessages, unpackMessages } from '../framing.ts';
import { pushTo } from '../group.ts';
import { decodeResult, envelopeMeterId } from '../ingest-wire.ts';
import { type Link, type LinkServer, listenLinks } from '../link.ts';
import { INGEST_CHANNEL, INGEST_KIND } from '../mdc/mdc-service.ts';
import { messageType } from '../protocol/index.ts';
import { DiskQueue } from './disk-queue.ts';

/** Where one MDC shard is. */
export interface MdcTarget {
  readonly endpoint: string;
  readonly curveKey: string;
}

/** Options of {@link startAggregator}. */
export interface AggregatorOptions {
  /** The MDC shards, in shard order. */
  readonly mdcs: readonly MdcTarget[];
  readonly transport: Transport;
  readonly busIdentity: BusIdentity;
  /** Directory of the disk queues (one per shard). */
  readonly dataDir: string;
  /** Link listener. */
  readonly listen: { readonly host: string; readonly port: number };
  readonly metrics: MetricsRegistry;
  /** Envelopes per request to an MDC (default 2000). */
  readonly batchSize?: number;
  /** Requests in flight per MDC (default 4). */
  readonly window?: number;
  /** A request unanswered this long is resent (default 15 s). */
  readonly requestTimeoutMs?: number;
  /** Queue limit on disk per shard (default 4 GiB). */
  readonly maxQueueBytes?: number;
  readonly log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
  /** Where shard i is now (called when it stops answering: a restarted MDC has a new key). */
  readonly rediscover?: (shard: number) => Promise<MdcTarget>;
}

/** A running aggregator. */
export interface Aggregator {
  readonly linkPort: number;
  /** Counters, for status and tests. */
  stats(): AggregatorStats;
  close(): Promise<void>;
}

/** Aggregator counters. */
export interface AggregatorStats {
  links: number;
  received: number;
  forwarded: number;
  acknowledged: number;
  resent: number;
  malformed: number;
  queueFull: number;
  pending: number;
}

interface Inflight {
  readonly ids: bigint[];
  readonly sentAt: number;
}

class Shard {
  readonly index: number;
  readonly queue: DiskQueue;
  dealer: DealerSocket;
  target: MdcTarget;
  lastReply = Date.now();
  rediscovering = false;
  readonly inflight = new Map<number, Inflight>();
  cursor: bigint;
  wake: (() => void) | undefined;
  backoffUntil = 0;

  constructor(index: number, queue: DiskQueue, dealer: DealerSocket, target: MdcTarget) {
    this.target = target;
    this.index = index;
    this.queue = queue;
    this.dealer = dealer;
    this.cursor = queue.firstUnacked() ?? queue.nextId;
  }

  notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

/** Starts an aggregator (see the module comment). */
export async function startAggregator(o: AggregatorOptions): Promise<Aggregator> {
  if (o.mdcs.length === 0) throw new TypeError('an aggregator needs at least one MDC');
  const batchSize = o.batchSize ?? 2000;
  const window = o.window ?? 4;
  const timeoutMs = o.requestTimeoutMs ?? 15_000;
  const log = o.log ?? (() => undefined);
  const stats: AggregatorStats = {
    links: 0,
    received: 0,
    forwarded: 0,
    acknowledged: 0,
    resent: 0,
    malformed: 0,
    queueFull: 0,
    pending: 0,
  };
  const meterLinks = new Map<string, Link>();
  const shards: Shard[] = [];
  let closing = false;
  let nextReq = 1;
  const handshakes = new Map<number, { shard: number; sentAt: number }>();

  for (const [i, target] of o.mdcs.entries()) {
    const queue = await DiskQueue.open(join(o.dataDir, `shard-${i}`), {
      ...(o.maxQueueBytes ? { maxBytes: o.maxQueueBytes } : {}),
    });
    shards.push(new Shard(i, queue, await connectDealer(target), target));
  }

  async function connectDealer(target: MdcTarget): Promise<DealerSocket> {
    const dealer = o.transport.createDealer({
      channel: INGEST_CHANNEL,
      security: { mechanism: 'curve', identity: o.busIdentity },
      sendHighWaterMark: window * 2,
      receiveHighWaterMark: 256,
      maxFrameBytes: 16 << 20,
      sendTimeoutMs: 2000,
    });
    await dealer.connect(target.endpoint, { serverKey: target.curveKey });
    return dealer;
  }

  /**
   * A restarted MDC has a new CURVE key (made at each attested start): when a shard stops answering,
   * ask where it is again and reconnect if its endpoint or key changed.
   */
  const rediscover = async (shard: Shard): Promise<void> => {
    if (o.rediscover === undefined || shard.rediscovering || closing) return;
    shard.rediscovering = true;
    try {
      const target = await o.rediscover(shard.index);
      if (closing || (target.endpoint === shard.target.endpoint && target.curveKey === shard.target.curveKey))
        return;
      const old = shard.dealer;
      shard.dealer = await connectDealer(target);
      shard.target = target;
      shard.inflight.clear();
      rewind(shard);
      log('info', 'reconnected to a restarted MDC', { shard: shard.index, endpoint: target.endpoint });
      await old.close();
      shard.notify();
    } catch (err) {
      log('warn', 'cannot find the MDC again yet', { shard: shard.index, error: (err as Error).message });
    } finally {
      shard.lastReply = Date.now();
      shard.rediscovering = false;
    }
  };

  const shardOf = (meterId: string): Shard => shards[Number(meterId) % shards.length]!;

  const deliver = (results: Buffer[]): void => {
    const byLink = new Map<Link, Buffer[]>();
    for (const r of results) {
      let meterId: string;
      try {
        meterId = decodeResult(r).meterId;
      } catch {
        continue;
      }
      const link = meterLinks.get(meterId);
      if (link === undefined || link.closed) continue;
      pushTo(byLink, link, r);
    }
    for (const [link, list] of byLink) void link.send(list).catch(() => undefined);
  };

  const onMessages = (link: Link, messages: Buffer[]): void => {
    const reports = new Map<Shard, Buffer[]>();
    const hs = new Map<Shard, Buffer[]>();
    for (const m of messages) {
      stats.received += 1;
      let type: string;
      try {
        type = messageType(m);
      } catch {
        stats.malformed += 1;
        continue;
      }
      const meterId = envelopeMeterId(m);
      if (
        meterId === undefined ||
        (type !== 'hello' && type !== 'finish' && type !== 'dataUp' && type !== 'plainUp')
      ) {
        stats.malformed += 1;
        continue;
      }
      meterLinks.set(meterId, link);
      const shard = shardOf(meterId);
      const target = type === 'dataUp' || type === 'plainUp' ? reports : hs;
      pushTo(target, shard, m);
    }
    for (const [shard, list] of hs) {
      const req = nextReq++;
      handshakes.set(req, { shard: shard.index, sentAt: Date.now() });
      void shard.dealer.send([KIND_BYTES, reqIdBytes(req), packMessages(list)]).catch((err) =>
        log('warn', 'handshake relay failed; meters will retry', {
          shard: shard.index,
          error: String(err),
        }),
      );
    }
    for (const [shard, list] of reports) {
      shard.queue.append(list).then(
        () => shard.notify(),
        (err) => {
          stats.queueFull += list.length;
          log(
            'warn',
            'report envelopes dropped: the disk queue refused them (meters resend unacknowledged reports)',
            {
              shard: shard.index,
              count: list.length,
              error: (err as Error).message,
            },
          );
        },
      );
    }
  };

  const linkServer: LinkServer = await listenLinks(o.listen.host, o.listen.port, {
    onMessages,
    onClose: (link) => {
      for (const [meter, l] of meterLinks) if (l === link) meterLinks.delete(meter);
    },
  });

  const onReply = (shard: Shard, frames: Uint8Array[]): void => {
    const [kind, reqId, pack] = frames;
    if (kind === undefined || reqId === undefined || pack === undefined) return;
    if (Buffer.from(kind).toString() !== INGEST_KIND) return;
    const req = readReqId(reqId);
    shard.lastReply = Date.now();
    let results: Buffer[];
    try {
      results = unpackMessages(pack);
    } catch {
      return;
    }
    if (handshakes.delete(req)) {
      deliver(results);
      return;
    }
    const inflight = shard.inflight.get(req);
    if (inflight === undefined) {
      deliver(results.filter((r) => r[0] !== 5));
      return;
    }
    shard.inflight.delete(req);
    let retry = false;
    for (let i = 0; i < inflight.ids.length; i++) {
      const r = results[i];
      if (r === undefined || r[0] === 5) {
        retry = true;
        continue;
      }
      shard.queue.ack(inflight.ids[i]!);
      stats.acknowledged += 1;
    }
    if (retry) {
      shard.backoffUntil = Date.now() + 1000;
      rewind(shard);
    }
    deliver(results.filter((r) => r[0] !== 5));
    shard.notify();
  };

  const rewind = (shard: Shard): void => {
    const first = shard.queue.firstUnacked();
    if (first !== undefined && first < shard.cursor) {
      shard.cursor = first;
      shard.inflight.clear();
    }
  };

  const receiveLoop = async (shard: Shard): Promise<void> => {
    while (!closing) {
      try {
        const frames = await shard.dealer.receive({ timeoutMs: 1000 });
        onReply(shard, frames);
      } catch (err) {
        if (closing) return;
        // timeouts, or the dealer was replaced (ERR_BUS_CLOSED): check for stale requests
        if (!(err instanceof BusError)) throw err;
      }
      const now = Date.now();
      const waiting = shard.inflight.size > 0 || shard.queue.pending > 0;
      if (waiting && now - shard.lastReply > timeoutMs) void rediscover(shard);
      for (const [req, f] of shard.inflight) {
        if (now - f.sentAt > timeoutMs) {
          log('warn', 'MDC did not answer; resending from the disk queue', {
            shard: shard.index,
            request: req,
          });
          stats.resent += f.ids.length;
          shard.inflight.clear();
          rewind(shard);
          shard.notify();
          break;
        }
      }
      for (const [req, h] of handshakes) if (now - h.sentAt > timeoutMs) handshakes.delete(req);
    }
  };

  const sendLoop = async (shard: Shard): Promise<void> => {
    while (!closing) {
      const wait = shard.backoffUntil - Date.now();
      if (shard.inflight.size >= window || wait > 0) {
        await new Promise<void>((r) => {
          shard.wake = r;
          setTimeout(r, wait > 0 ? wait : 200).unref();
        });
        continue;
      }
      const records = await shard.queue.read(shard.cursor, batchSize);
      if (records.length === 0) {
        await new Promise<void>((r) => {
          shard.wake = r;
          setTimeout(r, 500).unref();
        });
        continue;
      }
      const req = nextReq++;
      const ids = records.map((r) => r.id);
      shard.cursor = ids[ids.length - 1]! + 1n;
      shard.inflight.set(req, { ids, sentAt: Date.now() });
      try {
        await shard.dealer.send([KIND_BYTES, reqIdBytes(req), packMessages(records.map((r) => r.data))]);
        stats.forwarded += ids.length;
      } catch (err) {
        if (closing) return;
        shard.inflight.delete(req);
        log('warn', 'MDC unreachable; keeping the reports on disk and retrying', {
          shard: shard.index,
          pending: shard.queue.pending,
          error: (err as Error).message,
        });
        shard.backoffUntil = Date.now() + 1000;
        rewind(shard);
        if (shard.cursor > ids[0]!) shard.cursor = ids[0]!;
      }
    }
  };

  const loops = shards.flatMap((s) => [receiveLoop(s), sendLoop(s)]);
  const pendingGauge = o.metrics.gauge(
    'securecloud_aggregator_queue_pending',
    'Report envelopes on disk not yet acknowledged by the MDC.',
    ['shard'],
  );
  const counters = o.metrics.gauge('securecloud_aggregator_envelopes_total', 'Envelopes by stage.', [
    'stage',
  ]);
  const linksGauge = o.metrics.gauge('securecloud_aggregator_links', 'Meter links connected.');
  o.metrics.onCollect(() => {
    for (const s of shards) pendingGauge.set({ shard: s.index }, s.queue.pending);
    for (const stage of [
      'received',
      'forwarded',
      'acknowledged',
      'resent',
      'malformed',
      'queueFull',
    ] as const)
      counters.set({ stage }, stats[stage]);
    linksGauge.set({}, linkServer.links.size);
  });

  return {
    linkPort: linkServer.port,
    stats: () => ({
      ...stats,
      links: linkServer.links.size,
      pending: shards.reduce((n, s) => n + s.queue.pending, 0),
    }),
    async close() {
      if (closing) return;
      closing = true;
      await linkServer.close();
      for (const s of shards) s.notify();
      for (const s of shards) await s.dealer.close();
      await Promise.allSettled(loops);
      for (const s of shards) await s.queue.close();
    },
  };
}

const KIND_BYTES = Buffer.from(INGEST_KIND);

function reqIdBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

function readReqId(b: Uint8Array): number {
  return b.length === 8 ? Number(Buffer.from(b.buffer, b.byteOffset, 8).readBigUInt64BE(0)) : -1;
}
