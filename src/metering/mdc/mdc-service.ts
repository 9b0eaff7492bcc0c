/**
 * The MDC service: an attested process that owns a CascaDB database (LMDB, page-encrypted, every
 * value sealed) and answers aggregators on the bus channel `metering-ingest` (a CURVE ROUTER the CAS
 * admits aggregators to). Its HTTPS API (CAS-issued certificate) serves `/healthz`, `/metrics`,
 * `/v1/bus` (its bus endpoint and CURVE key, for aggregators to pin) and `/v1/readings` (a meter's
 * stored readings with their INMETRO proofs, for auditors holding the audit token).
 */

import { type KeyObject, timingSafeEqual } from 'node:crypto';
import type { BusIdentity, RouterSocket, Transport } from '../../bus/index.ts';
import {
  createHttpServer,
  HttpError,
  type HttpRequest,
  HttpRouter,
  type HttpServer,
  type HttpTlsOptions,
  healthRoute,
  type MetricsRegistry,
  metricsRoute,
} from '../../platform/index.ts';
import { packMessages, unpackMessages } from '../framing.ts';
import { EnvelopeWorker } from './envelope-worker.ts';
import { encodeSignedBatchJson } from './export-format.ts';
import { INTERVAL_MS, MdcIngest, type MdcIngestOptions } from './ingest.ts';
import { mdcWriteBufferBytes, openMdcDatabase } from './mdc-storage.ts';
import { ReadingStore } from './reading-store.ts';

export {
  MDC_IDLE_FOLD_MS,
  MDC_NODE_ARGS,
  MDC_WRITE_BUFFER_BYTES,
  mdcWriteBufferBytes,
  openMdcDatabase,
} from './mdc-storage.ts';

/** The bus channel between aggregators (requesters) and MDC instances (repliers). */
export const INGEST_CHANNEL = 'metering-ingest';
/** Request kinds on the channel (first frame after the routing id). */
export const INGEST_KIND = 'ingest/v1';

/** Options of {@link startMdc}. */
export interface MdcServiceOptions extends Omit<MdcIngestOptions, 'store' | 'envelopeWorker'> {
  /**
   * Open envelopes and seal receipts in a worker thread (default true), while the main thread
   * stores the batch before; false: on the main thread (envelope-worker.ts).
   */
  readonly envelopeWorker?: boolean;
  /** Directory of the database (LMDB files). */
  readonly dataDir: string;
  /** 32-byte storage key from the CAS: LMDB page key and value key are derived from it. */
  readonly storageKey: Uint8Array;
  /**
   * LMDB page encryption under the sealed blocks: `true` on, `false` off, undefined (default) as
   * the existing store was created, off for a new one. Off, the host sees each block's lower bound
   * (meter id and interval of its first reading), which every aggregator already sees in the
   * envelope headers; on, ingestion costs about twice as much (docs/metering.md, "Storage").
   */
  readonly pageEncryption?: boolean;
  /**
   * Buffered bytes that force a fold before the round pauses (default
   * {@link mdcWriteBufferBytes} of the registry's meter count: a whole round).
   */
  readonly writeBufferBytes?: number;
  readonly transport: Transport;
  readonly identity: KeyObject;
  readonly busIdentity: BusIdentity;
  /** Bus endpoint to bind, e.g. `tcp://127.0.0.1:0`. */
  readonly bind: string;
  /** HTTPS API: TLS material (the CAS-issued certificate), host and port (0: any free port). */
  readonly http: { readonly tls: HttpTlsOptions; readonly host: string; readonly port: number };
  /** Bearer token that `/v1/readings` requires (from the CAS). */
  readonly auditToken: string;
  readonly metrics: MetricsRegistry;
  /** Told about each batch (for logs): sizes and seconds. */
  readonly onBatch?: (info: { messages: number; stored: number; seconds: number }) => void;
  readonly onError?: (err: unknown) => void;
}

/** A running MDC. */
export interface MdcService {
  /** Bound bus endpoint (port resolved). */
  readonly busEndpoint: string;
  /** HTTPS API base URL. */
  readonly apiUrl: string;
  readonly ingest: MdcIngest;
  readonly store: ReadingStore;
  /** Sessions restored from the store at start-up. */
  readonly restoredSessions: number;
  /** Stops taking batches, finishes the ones under way, closes bus, API and database. */
  close(): Promise<void>;
}

/** Starts the MDC (see the module comment). */
export async function startMdc(o: MdcServiceOptions): Promise<MdcService> {
  const { db, engine } = await openMdcDatabase(o.dataDir, o.storageKey, {
    pageEncryption: o.pageEncryption,
    onStoreError: o.onError,
    writeBufferBytes: o.writeBufferBytes ?? mdcWriteBufferBytes(o.registry.count),
  });
  const store = await ReadingStore.open(db);
  const worker = o.envelopeWorker === false ? undefined : await startEnvelopeWorker(o.onError);
  const { envelopeWorker: _, ...ingestOptions } = o;
  const ingest = new MdcIngest({ ...ingestOptions, store, ...(worker && { envelopeWorker: worker }) });
  const restoredSessions = await ingest.restoreSessions();
  const m = o.metrics;
  const batchSeconds = m.histogram(
    'securecloud_mdc_batch_seconds',
    'Time from the arrival of a batch from an aggregator to its answer.',
  );
  const readingsStored = m.gauge(
    'securecloud_mdc_readings_stored_total',
    'Readings stored since start (exactly once).',
  );
  const duplicates = m.gauge(
    'securecloud_mdc_duplicates_total',
    'Reports already stored (answered with a duplicate receipt).',
  );
  const refusals = m.gauge('securecloud_mdc_refusals_total', 'Refused messages by reason (error code).', [
    'reason',
  ]);
  const sessions = m.gauge('securecloud_mdc_sessions', 'Meters with an established session.');
  const handshakes = m.gauge('securecloud_mdc_handshakes_total', 'Sessions established since start.');
  const retries = m.gauge(
    'securecloud_mdc_store_retries_total',
    'Batches answered retry because the store failed.',
  );
  const bufferedKeys = m.gauge(
    'securecloud_mdc_write_buffer_keys',
    'Rows acknowledged and logged, not yet folded into their tables.',
  );
  const folds = m.gauge(
    'securecloud_mdc_folds_total',
    'Folds of the write buffer into the tables since start.',
  );
  m.onCollect(() => {
    const b = engine.stats();
    bufferedKeys.set({}, b.bufferedKeys);
    folds.set({}, b.folds);
    const c = ingest.counters;
    readingsStored.set({}, c.stored);
    duplicates.set({}, c.duplicates);
    handshakes.set({}, c.handshakes);
    retries.set({}, c.retries);
    sessions.set({}, ingest.sessionCount);
    refusals.reset();
    for (const [reason, n] of c.refusals) refusals.set({ reason }, n);
  });

  const router = o.transport.createRouter({
    channel: INGEST_CHANNEL,
    security: { mechanism: 'curve', identity: o.busIdentity },
    maxFrameBytes: 16 << 20,
    receiveHighWaterMark: 64,
    sendHighWaterMark: 64,
  });
  const busEndpoint = await router.bind(o.bind);
  // Batches overlap (MdcIngest.handle): the next one's envelopes are opened in the worker while
  // this one is stored. At most MAX_BATCHES_IN_FLIGHT are taken off the socket at a time.
  const inFlight = new Set<Promise<void>>();
  const loop = serve(router, inFlight, async (frames) => {
    const [rid, kind, reqId, pack] = frames;
    if (rid === undefined || kind === undefined || reqId === undefined || pack === undefined) return;
    if (Buffer.from(kind).toString() !== INGEST_KIND || reqId.length > 32) return;
    const t = performance.now();
    let messages: Buffer[];
    try {
      messages = unpackMessages(pack);
    } catch {
      ingest.counters.refusals.set(
        'ERR_ENVELOPE_MALFORMED',
        (ingest.counters.refusals.get('ERR_ENVELOPE_MALFORMED') ?? 0) + 1,
      );
      return;
    }
    try {
      const before = ingest.counters.stored;
      const results = await ingest.handle(messages);
      const seconds = (performance.now() - t) / 1000;
      batchSeconds.observe({}, seconds);
      o.onBatch?.({ messages: messages.length, stored: ingest.counters.stored - before, seconds });
      await router.send([rid, kind, reqId, packMessages(results)]).catch((err) => o.onError?.(err));
    } catch (err) {
      o.onError?.(err);
    }
  });

  const api = new HttpRouter();
  healthRoute(api, () => ({
    sessions: ingest.sessionCount,
    readingsStored: ingest.counters.stored,
    // Readings acknowledged and logged, not yet folded into the reading table (src/kvs/write-buffer.ts).
    bufferedKeys: engine.stats().bufferedKeys,
    // Folds started, by trigger (size limit, idle pause, call).
    foldsBy: engine.stats().foldsBy,
  }));
  metricsRoute(api, m);
  api.get('/v1/bus', () => ({
    json: { channel: INGEST_CHANNEL, endpoint: busEndpoint, curveKey: o.busIdentity.publicKey },
  }));
  const token = Buffer.from(o.auditToken);
  const authorize = (req: HttpRequest): void => {
    const auth = Buffer.from(String(req.headers.authorization ?? ''));
    const expected = Buffer.concat([Buffer.from('Bearer '), token]);
    if (auth.length !== expected.length || !timingSafeEqual(auth, expected)) {
      throw new HttpError(
        401,
        'ERR_UNAUTHORIZED',
        'this API needs "Authorization: Bearer <audit token>" (CAS secret auditToken)',
      );
    }
  };
  api.get('/v1/stats', async (req) => {
    authorize(req);
    const c = ingest.counters;
    return {
      json: {
        readings: await store.countReadings(),
        sessions: ingest.sessionCount,
        stored: c.stored,
        duplicates: c.duplicates,
        batches: c.batches,
        handshakes: c.handshakes,
        retries: c.retries,
        refusals: Object.fromEntries(c.refusals),
        writeBuffer: engine.stats(),
      },
    };
  });
  api.get('/v1/readings', async (req) => {
    authorize(req);
    const meter = req.query.get('meter') ?? '';
    const from = Number(req.query.get('from'));
    const to = Number(req.query.get('to'));
    if (!/^[0-9]{1,8}$/.test(meter))
      throw new HttpError(400, 'ERR_BAD_REQUEST', 'meter must be 1 to 8 digits');
    if (
      !Number.isSafeInteger(from) ||
      !Number.isSafeInteger(to) ||
      to <= from ||
      to - from > 366 * 86_400_000
    ) {
      throw new HttpError(
        400,
        'ERR_BAD_REQUEST',
        'from and to are UTC ms with from < to, at most a year apart',
      );
    }
    if (from % INTERVAL_MS !== 0 || to % INTERVAL_MS !== 0) {
      throw new HttpError(400, 'ERR_BAD_REQUEST', 'from and to must lie on the 15-minute grid');
    }
    const readings = await store.readings(meter.padStart(8, '0'), from, to);
    const batchIds = [...new Set(readings.map((r) => BigInt(r.batchId)))];
    const batches = [];
    for (const id of batchIds) {
      const b = await store.batch(id);
      if (b !== undefined) batches.push(encodeSignedBatchJson(b));
    }
    return {
      json: {
        meter: meter.padStart(8, '0'),
        from,
        to,
        readings: readings.map((r) => ({
          meterId: r.meterId,
          ts: r.ts,
          block: Buffer.from(r.block).toString('base64'),
          batchId: String(r.batchId),
          leafIndex: r.leafIndex,
          proof: Buffer.from(r.proof).toString('base64'),
          values: r.values,
        })),
        batches,
      },
    };
  });
  const server: HttpServer = createHttpServer({
    router: api,
    tls: o.http.tls,
    onError: (err) => o.onError?.(err),
  });
  const listening = await server.listen(o.http.port, o.http.host);

  let closed = false;
  return {
    busEndpoint,
    apiUrl: listening.url,
    ingest,
    store,
    restoredSessions,
    async close() {
      if (closed) return;
      closed = true;
      await server.close({ deadlineMs: 2000 });
      await router.close();
      await loop;
      await Promise.all(inFlight);
      await worker?.close();
      ingest.close();
      await db.close();
      await engine.close();
    },
  };
}

/** Batches taken off the bus socket and not yet answered, at most. */
const MAX_BATCHES_IN_FLIGHT = 16;

async function serve(
  router: RouterSocket,
  inFlight: Set<Promise<void>>,
  handle: (frames: Uint8Array[]) => Promise<void>,
): Promise<void> {
  try {
    for await (const frames of router) {
      const p = handle(frames).finally(() => inFlight.delete(p));
      inFlight.add(p);
      while (inFlight.size >= MAX_BATCHES_IN_FLIGHT) await Promise.race(inFlight);
    }
  } catch {
    // closed
  }
}

/** The envelope worker, or none (reported) if it cannot start: the MDC then opens envelopes itself. */
async function startEnvelopeWorker(onError?: (err: unknown) => void): Promise<EnvelopeWorker | undefined> {
  try {
    return await EnvelopeWorker.start((err) => onError?.(err));
  } catch (err) {
    onError?.(err);
    return undefined;
  }
}
