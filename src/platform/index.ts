/**
 * The service runtime: attested start-up against the CAS (`startService`), mutual TLS between
 * services with CAS-issued certificates, our HTTP(S) server and client wrapper, and Prometheus
 * metrics. Other contexts import only from this file.
 */
export type { AttestedService } from './attested-service.ts';
export {
  createHttpServer,
  DEFAULT_MAX_BODY_BYTES,
  type ErrorReply,
  HttpError,
  type HttpHandler,
  type HttpRequest,
  type HttpResponse,
  HttpRouter,
  type HttpServer,
  type HttpServerOptions,
  type HttpTlsOptions,
  healthRoute,
  metricsRoute,
  type RouteMatch,
} from './http.ts';
export {
  createHttpClient,
  type HttpClient,
  HttpClientError,
  type HttpClientFailure,
  type HttpClientOptions,
  type HttpClientRequest,
  type HttpClientResponse,
  type HttpClientTlsOptions,
  isHttpClientError,
} from './http-client.ts';
export {
  type Counter,
  createMetricsRegistry,
  DEFAULT_BUCKETS,
  escapeLabelValue,
  type Gauge,
  type Histogram,
  type Labels,
  METRICS_CONTENT_TYPE,
  type MetricsRegistry,
  type MetricsRegistryOptions,
} from './metrics.ts';
export {
  type AllowedPeers,
  assertPeerAllowed,
  type ConnectMtlsOptions,
  connectMtls,
  createMtlsServer,
  expectService,
  explainMtlsError,
  MTLS_ERROR_CODES,
  type MtlsClientOptions,
  MtlsError,
  type MtlsErrorCode,
  type MtlsHandler,
  type MtlsIdentity,
  type MtlsServerOptions,
  mtlsAgent,
  type PeerService,
  parseServiceIdentity,
  peerService,
} from './mtls.ts';
export {
  DEFAULT_ENCLAVE_SIZE_BYTES,
  ENCLAVE_SIZE_ENV,
  enclaveSizeFromEnv,
  PROCESS_METRIC_NAMES,
  type ProcessMetricsOptions,
  registerProcessMetrics,
} from './process-metrics.ts';
export { getServiceJson, type ServiceJsonOptions } from './service-json.ts';
export {
  type StartServiceOptions,
  startService,
  type TeeChoice,
} from './start-service.ts';
