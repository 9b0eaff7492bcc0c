import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createMetricsRegistry, escapeLabelValue } from '../../src/platform/metrics.ts';

describe('metrics registry', () => {
  it('renders counters with HELP and TYPE lines in the 0.0.4 text format', () => {
    const m = createMetricsRegistry();
    const c = m.counter('jobs_total', 'Jobs done.', ['result']);
    c.inc({ result: 'ok' });
    c.inc({ result: 'ok' }, 2);
    c.inc({ result: 'failed' });
    const text = m.render();
    assert.match(text, /^# HELP jobs_total Jobs done\.\n# TYPE jobs_total counter\n/);
    assert.match(text, /^jobs_total\{result="ok"\} 3$/m);
    assert.match(text, /^jobs_total\{result="failed"\} 1$/m);
    assert.ok(text.endsWith('\n'));
  });

  it('renders unlabelled series without braces and gauges that go up and down', () => {
    const m = createMetricsRegistry();
    const g = m.gauge('queue_depth', 'Depth.');
    g.inc();
    g.inc({}, 4);
    g.dec({}, 2);
    assert.match(m.render(), /^queue_depth 3$/m);
    g.set({}, -1.5);
    assert.match(m.render(), /^queue_depth -1\.5$/m);
  });

  it('renders histograms with cumulative buckets, +Inf, sum and count', () => {
    const m = createMetricsRegistry();
    const h = m.histogram('latency_seconds', 'Latency.', ['route'], [0.1, 1]);
    h.observe({ route: '/a' }, 0.05);
    h.observe({ route: '/a' }, 0.5);
    h.observe({ route: '/a' }, 3);
    const text = m.render();
    assert.match(text, /^latency_seconds_bucket\{route="\/a",le="0\.1"\} 1$/m);
    assert.match(text, /^latency_seconds_bucket\{route="\/a",le="1"\} 2$/m);
    assert.match(text, /^latency_seconds_bucket\{route="\/a",le="\+Inf"\} 3$/m);
    assert.match(text, /^latency_seconds_sum\{route="\/a"\} 3\.55$/m);
    assert.match(text, /^latency_seconds_count\{route="\/a"\} 3$/m);
  });

  it('escapes backslashes, quotes and newlines in label values', () => {
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    const m = createMetricsRegistry();
    m.counter('x_total', 'X.', ['v']).inc({ v: 'say "hi"\n' });
    assert.match(m.render(), /^x_total\{v="say \\"hi\\"\\n"\} 1$/m);
  });

  it('refuses invalid names, unknown labels and decreasing counters', () => {
    const m = createMetricsRegistry();
    assert.throws(() => m.counter('bad-name', 'x'), TypeError);
    assert.throws(() => m.counter('ok_total', 'x', ['__reserved']), TypeError);
    const c = m.counter('ok_total', 'x', ['a']);
    assert.throws(() => m.counter('ok_total', 'again'), TypeError);
    assert.throws(() => c.inc({ b: '1' }), TypeError);
    assert.throws(() => c.inc({ a: '1' }, -1), TypeError);
  });

  it('bounds the series per metric and counts what it drops', () => {
    const m = createMetricsRegistry({ maxSeriesPerMetric: 2 });
    const c = m.counter('hostile_total', 'x', ['v']);
    for (let i = 0; i < 5; i++) c.inc({ v: `value-${i}` });
    const text = m.render();
    assert.equal(text.match(/^hostile_total\{/gm)?.length, 2);
    assert.match(text, /^securecloud_metrics_dropped_series_total 3$/m);
  });

  it('runs collectors before rendering so gauges reflect current state', () => {
    const m = createMetricsRegistry();
    const g = m.gauge('live', 'Live.', ['service']);
    let n = 1;
    m.onCollect(() => {
      g.reset();
      g.set({ service: 'mdc' }, n);
    });
    assert.match(m.render(), /^live\{service="mdc"\} 1$/m);
    n = 7;
    assert.match(m.render(), /^live\{service="mdc"\} 7$/m);
  });

  it('observes elapsed seconds with a timer', () => {
    const m = createMetricsRegistry();
    const h = m.histogram('op_seconds', 'Op.', ['result']);
    const stop = h.startTimer();
    const seconds = stop({ result: 'ok' });
    assert.ok(seconds >= 0);
    assert.match(m.render(), /^op_seconds_count\{result="ok"\} 1$/m);
  });
});
