/** The router's Prometheus metrics (`securecloud_scbr_*`). Labels never hold ids, keys or attributes. */
import type { Counter, Gauge, Histogram, MetricsRegistry } from '../../platform/index.ts';

/** Counters and gauges the router updates. */
export interface RouterMetrics {
  readonly publications: Counter;
  readonly refusals: Counter;
  readonly deliveries: Counter;
  readonly dropped: Counter;
  readonly requests: Counter;
  readonly matchSeconds: Histogram;
  readonly subscribers: Gauge;
  readonly subscriptions: Gauge;
  readonly queuedMessages: Gauge;
  readonly queuedBytes: Gauge;
}

const NOOP_COUNTER: Counter = { inc() {} };
const NOOP_GAUGE: Gauge = { set() {}, inc() {}, dec() {}, reset() {} };
const NOOP_HISTOGRAM: Histogram = { observe() {}, startTimer: () => () => 0 };

/** Registers the router metrics, or no-ops without a registry. */
export function createRouterMetrics(registry: MetricsRegistry | undefined): RouterMetrics {
  if (registry === undefined) {
    return {
      publications: NOOP_COUNTER,
      refusals: NOOP_COUNTER,
      deliveries: NOOP_COUNTER,
      dropped: NOOP_COUNTER,
      requests: NOOP_COUNTER,
      matchSeconds: NOOP_HISTOGRAM,
      subscribers: NOOP_GAUGE,
      subscriptions: NOOP_GAUGE,
      queuedMessages: NOOP_GAUGE,
      queuedBytes: NOOP_GAUGE,
    };
  }
  return {
    publications: registry.counter(
      'securecloud_scbr_publications_total',
      'Publications received, by result (routed, unmatched, refused).',
      ['result'],
    ),
    refusals: registry.counter('securecloud_scbr_refusals_total', 'Client messages refused, by error code.', [
      'code',
    ]),
    deliveries: registry.counter(
      'securecloud_scbr_deliveries_total',
      'Payloads handed to the transport for a subscriber.',
    ),
    dropped: registry.counter(
      'securecloud_scbr_dropped_total',
      'Deliveries dropped, by reason (queue-full, subscriber-gone).',
      ['reason'],
    ),
    requests: registry.counter(
      'securecloud_scbr_requests_total',
      'Subscriber requests, by kind and result.',
      ['kind', 'result'],
    ),
    matchSeconds: registry.histogram(
      'securecloud_scbr_match_seconds',
      'Time to match one publication against the index.',
      [],
      [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05],
    ),
    subscribers: registry.gauge('securecloud_scbr_subscribers', 'Subscribers with a live lease.'),
    subscriptions: registry.gauge('securecloud_scbr_subscriptions', 'Subscriptions in the matching index.'),
    queuedMessages: registry.gauge(
      'securecloud_scbr_queued_messages',
      'Deliveries waiting in subscriber queues.',
    ),
    queuedBytes: registry.gauge('securecloud_scbr_queued_bytes', 'Bytes waiting in subscriber queues.'),
  };
}
