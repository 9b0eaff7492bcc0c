/**
 * Attested start of the metering services: attest to the CAS, take the granted secrets, make the bus
 * identity (CURVE key registered at the CAS), then start the MDC or the aggregator. Used by the
 * `securecloud mdc` and `securecloud aggregator` commands, `securecloud up` and the tests.
 */
import { createPrivateKey } from 'node:crypto';
import {
  createBusIdentity,
  createCasKeyDirectory,
  createZmqTransport,
  instanceClientCert,
  isCurveKey,
  type Transport,
} from '../bus/index.ts';
import { createCasClient } from '../cas/index.ts';
import {
  type AttestedService,
  createHttpServer,
  createMetricsRegistry,
  expectService,
  getServiceJson,
  HttpRouter,
  type HttpServer,
  healthRoute,
  type MetricsRegistry,
  metricsRoute,
  registerProcessMetrics,
  type ServiceJsonOptions,
  startService,
  type TeeChoice,
} from '../platform/index.ts';
import { type Aggregator, type MdcTarget, startAggregator } from './aggregator/aggregator.ts';
import { type MdcService, startMdc } from './mdc/mdc-service.ts';
import { MDC_SECRETS } from './policy.ts';
import { MeteringError } from './protocol/index.ts';
import { ed25519FromSeed, MeterRegistry } from './provisioning.ts';

/** Where the CAS is and how to attest. */
export interface AttestOptions {
  readonly casUrl: string;
  readonly casRootPem: string;
  readonly tee?: TeeChoice;
  /** Sim backend: what is measured (default: the package's `src/`). */
  readonly measurePath?: string;
  readonly simStateDir?: string;
  readonly signal?: AbortSignal;
}

/** A structured log line sink. */
export type MeteringLog = (
  level: 'info' | 'warn' | 'error',
  msg: string,
  fields?: Record<string, unknown>,
) => void;

interface Plumbing {
  readonly attested: AttestedService;
  readonly transport: Transport;
  readonly close: () => Promise<void>;
}

async function attestAndBus(
  name: string,
  o: AttestOptions,
  metrics: MetricsRegistry,
  log: MeteringLog,
): Promise<Plumbing & { identity: Awaited<ReturnType<typeof createBusIdentity>> }> {
  const attested = await startService({
    name,
    casUrl: o.casUrl,
    casRootPem: o.casRootPem,
    ...(o.tee ? { tee: o.tee } : {}),
    ...(o.measurePath ? { measurePath: o.measurePath } : {}),
    ...(o.simStateDir ? { simStateDir: o.simStateDir } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
    onLeaseError: (err) => log('warn', 'CAS lease renewal failed', { error: err.message }),
  });
  const cas = createCasClient({
    url: o.casUrl,
    rootPem: o.casRootPem,
    clientCert: instanceClientCert(attested),
  });
  const identity = await createBusIdentity(attested, cas);
  const keyDirectory = createCasKeyDirectory({ cas, channels: ['metering-ingest'] });
  const transport = createZmqTransport({
    keyDirectory,
    metrics,
    logger: {
      log: (level, msg, fields) =>
        level === 'info' ? undefined : log(level, msg, fields as Record<string, unknown>),
    },
  });
  return {
    attested,
    identity,
    transport,
    close: async () => {
      await transport.close();
      keyDirectory.close();
      cas.close();
      await attested.close();
    },
  };
}

/** Options of {@link runAttestedMdc}. */
export interface RunMdcOptions extends AttestOptions {
  readonly dataDir: string;
  /** registry.bin from provisioning; its SHA-256 must be the one the CAS releases. */
  readonly registryPath: string;
  readonly bind: string;
  readonly httpHost: string;
  readonly httpPort: number;
  readonly now?: () => number;
  readonly log?: MeteringLog;
  /** Accept clear reports too: ONLY for the envelope-cost benchmark. */
  readonly allowPlaintext?: boolean;
  /** LMDB page encryption under the sealed blocks (see `MdcServiceOptions.pageEncryption`). */
  readonly pageEncryption?: boolean;
  /** Write-buffer limit in bytes (see `MdcServiceOptions.writeBufferBytes`). */
  readonly writeBufferBytes?: number;
  /** Envelope AEAD in a worker thread (default true; see `MdcServiceOptions.envelopeWorker`). */
  readonly envelopeWorker?: boolean;
}

/** A running attested MDC. */
export interface RunningMdc {
  readonly mdc: MdcService;
  readonly attested: AttestedService;
  readonly metrics: MetricsRegistry;
  close(): Promise<void>;
}

/** Attests as `mdc` and starts the MDC service. */
export async function runAttestedMdc(o: RunMdcOptions): Promise<RunningMdc> {
  const log = o.log ?? (() => undefined);
  const metrics = createMetricsRegistry();
  const p = await attestAndBus('mdc', o, metrics, log);
  try {
    registerProcessMetrics(metrics, {
      service: 'mdc',
      platform: p.attested.platform,
      simulation: p.attested.simulation,
    });
    const secret = (name: string, field: string): string => {
      const v = p.attested.secret(name)[field];
      if (v === undefined || v === '') {
        throw new MeteringError(
          'ERR_REGISTRY',
          `the CAS granted no ${name}.${field}: add it to the mdc service's env templates`,
          { check: name },
        );
      }
      return v;
    };
    const digest = secret(MDC_SECRETS.registryDigest, 'value').trim();
    const registry = await MeterRegistry.load(o.registryPath, digest);
    const seed = Buffer.from(secret(MDC_SECRETS.identity, 'hex'), 'hex');
    if (seed.length !== 32)
      throw new MeteringError(
        'ERR_REGISTRY',
        'the mdcIdentity secret is not a 32-byte seed (upload mdc.key from provisioning)',
        { check: 'mdc-identity' },
      );
    const identity = ed25519FromSeed(seed);
    seed.fill(0);
    const storageKey = Buffer.from(secret(MDC_SECRETS.storage, 'hex'), 'hex');
    const tls = p.attested.tlsOptions();
    const mdc = await startMdc({
      dataDir: o.dataDir,
      storageKey,
      ...(o.pageEncryption !== undefined && { pageEncryption: o.pageEncryption }),
      ...(o.writeBufferBytes !== undefined && { writeBufferBytes: o.writeBufferBytes }),
      ...(o.envelopeWorker !== undefined && { envelopeWorker: o.envelopeWorker }),
      transport: p.transport,
      identity,
      busIdentity: p.identity,
      registry,
      inmetroKey: createPrivateKey(secret(MDC_SECRETS.inmetro, 'privatePem')),
      signer: `mdc/${p.attested.instanceId}`,
      bind: o.bind,
      http: { tls: { key: tls.key as string, cert: tls.cert as string }, host: o.httpHost, port: o.httpPort },
      auditToken: secret(MDC_SECRETS.auditToken, 'value'),
      metrics,
      ...(o.now ? { now: o.now } : {}),
      ...(o.allowPlaintext ? { allowPlaintext: true } : {}),
      onError: (err) => log('error', 'MDC error', { error: String(err) }),
      onBatch: (info) => log('info', 'batch handled', info),
    });
    storageKey.fill(0);
    return {
      mdc,
      attested: p.attested,
      metrics,
      close: async () => {
        await mdc.close();
        await p.close();
      },
    };
  } catch (err) {
    await p.close();
    throw err;
  }
}

/** Options of {@link runAttestedAggregator}. */
export interface RunAggregatorOptions extends AttestOptions {
  /** The MDC shards' API URLs (`https://host:port`), in shard order. */
  readonly mdcUrls: readonly string[];
  readonly dataDir: string;
  readonly listenHost: string;
  readonly listenPort: number;
  readonly log?: MeteringLog;
  readonly requestTimeoutMs?: number;
  /** Envelopes per request to an MDC (default 2000). */
  readonly batchSize?: number;
  /** HTTPS API (`/healthz`, `/metrics`) host and port; none when omitted. */
  readonly http?: { readonly host: string; readonly port: number };
}

/** A running attested aggregator. */
export interface RunningAggregator {
  readonly aggregator: Aggregator;
  /** HTTPS API base URL, when started with `http`. */
  readonly apiUrl: string | undefined;
  readonly attested: AttestedService;
  readonly metrics: MetricsRegistry;
  close(): Promise<void>;
}

/** Attests as `aggregator`, finds each MDC's bus endpoint and key over mTLS, and starts. */
export async function runAttestedAggregator(o: RunAggregatorOptions): Promise<RunningAggregator> {
  const log = o.log ?? (() => undefined);
  const metrics = createMetricsRegistry();
  const p = await attestAndBus('aggregator', o, metrics, log);
  try {
    registerProcessMetrics(metrics, {
      service: 'aggregator',
      platform: p.attested.platform,
      simulation: p.attested.simulation,
    });
    const own = p.attested.tlsOptions();
    const mdcTls: MdcTls = {
      ca: o.casRootPem,
      cert: String(own.cert),
      key: String(own.key),
      checkServerIdentity: expectService('mdc', 'aggregator'),
    };
    const mdcs: MdcTarget[] = [];
    for (const url of o.mdcUrls) mdcs.push(await fetchBusInfo(url, mdcTls));
    const aggregator = await startAggregator({
      mdcs,
      transport: p.transport,
      busIdentity: p.identity,
      dataDir: o.dataDir,
      listen: { host: o.listenHost, port: o.listenPort },
      metrics,
      ...(o.requestTimeoutMs ? { requestTimeoutMs: o.requestTimeoutMs } : {}),
      ...(o.batchSize ? { batchSize: o.batchSize } : {}),
      log: (level, msg, fields) => log(level, msg, fields),
      rediscover: (shard) => fetchBusInfo(o.mdcUrls[shard]!, mdcTls, 1),
    });
    let server: HttpServer | undefined;
    let apiUrl: string | undefined;
    if (o.http) {
      const router = new HttpRouter();
      healthRoute(router, () => ({ service: 'aggregator', ...aggregator.stats() }));
      metricsRoute(router, metrics);
      const tls = p.attested.tlsOptions();
      server = createHttpServer({ router, tls: { key: tls.key as string, cert: tls.cert as string } });
      apiUrl = (await server.listen(o.http.port, o.http.host)).url;
    }
    return {
      aggregator,
      apiUrl,
      attested: p.attested,
      metrics,
      close: async () => {
        await server?.close({ deadlineMs: 2000 });
        await aggregator.close();
        await p.close();
      },
    };
  } catch (err) {
    await p.close();
    throw err;
  }
}

/** GET /v1/bus of an MDC, over mutual TLS; the server must hold the CAS-issued certificate of `mdc`. */
async function fetchBusInfo(url: string, tls: MdcTls, attempts = 20): Promise<MdcTarget> {
  for (let attempt = 0; ; attempt++) {
    try {
      const v = (await getServiceJson(new URL('/v1/bus', url), {
        ...tls,
        timeoutMs: 5000,
        maxBytes: 4096,
      })) as {
        endpoint?: unknown;
        curveKey?: unknown;
      };
      if (
        typeof v.endpoint !== 'string' ||
        !/^tcp:\/\/[^\s]{1,200}$/.test(v.endpoint) ||
        !isCurveKey(v.curveKey)
      ) {
        throw new Error('the answer has no valid endpoint and CURVE key');
      }
      // An MDC bound to 0.0.0.0 reports that address: reach it at the host of its API URL.
      const endpoint = v.endpoint.replace('//0.0.0.0:', `//${new URL(url).hostname}:`);
      return { endpoint, curveKey: v.curveKey as string };
    } catch (err) {
      if (attempt + 1 >= attempts) {
        throw new MeteringError(
          'ERR_LINK',
          `cannot get the bus endpoint of the MDC at ${url}: ${(err as Error).message}; is the MDC running and attested?`,
          { check: 'mdc-bus-info' },
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** TLS settings for reaching MDCs: the CAS root, the instance's certificate, the `mdc` identity check. */
type MdcTls = Pick<ServiceJsonOptions, 'ca' | 'cert' | 'key' | 'checkServerIdentity'>;
