/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
 * exposition format 0.0.4. Label values are escaped; the number of series per metric is bounded so
 * that hostile input cannot grow memory without limit. Never put secrets in label values.
 */

/** The `Content-Type` of {@link MetricsRegistry.render}'s output. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Default histogram buckets, in seconds (request and attestation latencies). */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Label values of one series, by label name. */
export type Labels = Readonly<Record<string, string | number | boolean>>;

/** A monotonically increasing count. */
export interface Counter {
  inc(labels?: Labels, value?: number): void;
}

/** A value that goes up and down. */
export interface Gauge {
  set(labels: Labels, value: number): void;
  inc(labels?: Labels, value?: number): void;
  dec(labels?: Labels, value?: number): void;
  /** Forgets every series (for gauges recomputed at each collection). */
  reset(): void;
}

/** Observations counted into buckets, with their sum. */
export interface Histogram {
  observe(labels: Labels, value: number): void;
  /** Starts a timer; the returned function observes the elapsed seconds and returns them. */
  startTimer(labels?: Labels): (extra?: Labels) => number;
}

/** Options of {@link createMetricsRegistry}. */
export interface MetricsRegistryOptions {
  /** Most series kept per metric; further label combinations are dropped and counted. Default 1000. */
  readonly maxSeriesPerMetric?: number;
}

/** Holds metrics and renders them. */
export interface MetricsRegistry {
  counter(name: string, help: string, labelNames?: readonly string[]): Counter;
  gauge(name: string, help: string, labelNames?: readonly string[]): Gauge;
  histogram(
    name: string,
    help: string,
    labelNames?: readonly string[],
    buckets?: readonly number[],
  ): Histogram;
  /** Runs `fn` before each rendering (to refresh gauges computed from state). */
  onCollect(fn: () => void): void;
  /** The text exposition format 0.0.4. */
  render(): string;
}

type Kind = 'counter' | 'gauge' | 'histogram';

interface Series {
  readonly labels: string;
  value: number;
  /** Histograms: cumulative counts per bucket, then the sum. */
  buckets?: number[];
  sum?: number;
}

interface Metric {
  readonly name: string;
  readonly help: string;
  readonly kind: Kind;
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[];
  readonly series: Map<string, Series>;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Creates an empty registry.
 *
 * @example
 * const metrics = createMetricsRegistry();
 * const requests = metrics.counter('http_requests_total', 'Requests.', ['status']);
 * requests.inc({ status: 200 });
 * res.end(metrics.render());
 */
export function createMetricsRegistry(options: MetricsRegistryOptions = {}): MetricsRegistry {
  const maxSeries = options.maxSeriesPerMetric ?? 1000;
  const metrics = new Map<string, Metric>();
  const collectors: (() => void)[] = [];
  let dropped = 0;

  const register = (
    name: string,
    help: string,
    kind: Kind,
    labelNames: readonly string[],
    buckets: readonly number[] = [],
  ): Metric => {
    if (!METRIC_NAME.test(name)) throw new TypeError(`invalid metric name ${JSON.stringify(name)}`);
    if (metrics.has(name)) throw new TypeError(`metric ${name} is already registered`);
    for (const l of labelNames) {
      if (!LABEL_NAME.test(l) || l.startsWith('__') || (kind === 'histogram' && l === 'le'))
        throw new TypeError(`invalid label name ${JSON.stringify(l)} for metric ${name}`);
    }
    const metric: Metric = { name, help, kind, labelNames, buckets, series: new Map() };
    metrics.set(name, metric);
    return metric;
  };

  const seriesOf = (metric: Metric, labels: Labels | undefined): Series | null => {
    const key = labelKey(metric, labels ?? {});
    let series = metric.series.get(key);
    if (series === undefined) {
      if (metric.series.size >= maxSeries) {
        dropped++;
        return null;
      }
      series = { labels: key, value: 0 };
      if (metric.kind === 'histogram') {
        series.buckets = metric.buckets.map(() => 0);
        series.sum = 0;
      }
      metric.series.set(key, series);
    }
    return series;
  };

  const add = (metric: Metric, labels: Labels | undefined, value: number): void => {
    const series = seriesOf(metric, labels);
    if (series !== null) series.value += value;
  };

  return {
    counter(name, help, labelNames = []) {
      const metric = register(name, help, 'counter', labelNames);
      return {
        inc(labels, value = 1) {
          if (!(value >= 0)) throw new TypeError(`counter ${name} can only increase`);
          add(metric, labels, value);
        },
      };
    },
    gauge(name, help, labelNames = []) {
      const metric = register(name, help, 'gauge', labelNames);
      return {
        set(labels, value) {
          const series = seriesOf(metric, labels);
          if (series !== null) series.value = value;
        },
        inc: (labels, value = 1) => add(metric, labels, value),
        dec: (labels, value = 1) => add(metric, labels, -value),
        reset: () => metric.series.clear(),
      };
    },
    histogram(name, help, labelNames = [], buckets = DEFAULT_BUCKETS) {
      const sorted = [...buckets].sort((a, b) => a - b);
      if (sorted.length === 0 || sorted.some((b) => !Number.isFinite(b)))
        throw new TypeError(`histogram ${name} needs finite buckets`);
      const metric = register(name, help, 'histogram', labelNames, sorted);
      const observe = (labels: Labels, value: number): void => {
        const series = seriesOf(metric, labels);
        if (series === null) return;
        series.value++;
        series.sum = (series.sum ?? 0) + value;
        const counts = series.buckets ?? [];
        for (let i = 0; i < sorted.length; i++)
          if (value <= (sorted[i] ?? 0)) counts[i] = (counts[i] ?? 0) + 1;
      };
      return {
        observe,
        startTimer(labels = {}) {
          const start = process.hrtime.bigint();
          return (extra = {}) => {
            const seconds = Number(process.hrtime.bigint() - start) / 1e9;
            observe({ ...labels, ...extra }, seconds);
            return seconds;
          };
        },
      };
    },
    onCollect(fn) {
      collectors.push(fn);
    },
    render() {
      for (const fn of collectors) fn();
      const out: string[] = [];
      for (const metric of metrics.values()) out.push(...renderMetric(metric));
      out.push(
        '# HELP securecloud_metrics_dropped_series_total Label combinations dropped because a metric reached its series limit.',
        '# TYPE securecloud_metrics_dropped_series_total counter',
        `securecloud_metrics_dropped_series_total ${dropped}`,
      );
      return `${out.join('\n')}\n`;
    },
  };
}

function labelKey(metric: Metric, labels: Labels): string {
  for (const name of Object.keys(labels)) {
    if (!metric.labelNames.includes(name))
      throw new TypeError(`metric ${metric.name} has no label ${JSON.stringify(name)}`);
  }
  return metric.labelNames
    .map((name) => `${name}="${escapeLabelValue(String(labels[name] ?? ''))}"`)
    .join(',');
}

function renderMetric(metric: Metric): string[] {
  const lines = [`# HELP ${metric.name} ${escapeHelp(metric.help)}`, `# TYPE ${metric.name} ${metric.kind}`];
  for (const s of metric.series.values()) {
    if (metric.kind !== 'histogram') {
      lines.push(`${metric.name}${braces(s.labels)} ${formatValue(s.value)}`);
      continue;
    }
    const prefix = s.labels === '' ? '' : `${s.labels},`;
    metric.buckets.forEach((le, i) => {
      lines.push(`${metric.name}_bucket{${prefix}le="${formatValue(le)}"} ${s.buckets?.[i] ?? 0}`);
    });
    lines.push(`${metric.name}_bucket{${prefix}le="+Inf"} ${s.value}`);
    lines.push(`${metric.name}_sum${braces(s.labels)} ${formatValue(s.sum ?? 0)}`);
    lines.push(`${metric.name}_count${braces(s.labels)} ${s.value}`);
  }
  return lines;
}

const braces = (labels: string): string => (labels === '' ? '' : `{${labels}}`);

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}
