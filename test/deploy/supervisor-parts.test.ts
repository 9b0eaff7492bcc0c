import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  backoffDelay,
  type RoundRecord,
  renderLiveLine,
  renderLiveView,
  reportsPerSecond,
  type UpState,
} from '../../src/deploy/index.ts';
import {
  createMetricsRegistry,
  PROCESS_METRIC_NAMES,
  registerProcessMetrics,
} from '../../src/platform/index.ts';

const round = (receivedAt: string, sent: number, seconds = 1): RoundRecord => ({
  at: '2026-01-01T00:15:00.000Z',
  receivedAt,
  meters: sent,
  sent,
  stored: sent,
  duplicates: 0,
  unacknowledged: 0,
  resent: 0,
  refusals: {},
  seconds,
});

describe('restart backoff', () => {
  it('doubles from the initial delay up to the maximum', () => {
    const p = { initialMs: 1000, maxMs: 30_000, resetAfterMs: 60_000 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 100].map((a) => backoffDelay(p, a)),
      [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000],
    );
  });
});

describe('reports per second', () => {
  it('is 0 without rounds and a round’s own rate with one', () => {
    assert.equal(reportsPerSecond([]), 0);
    assert.equal(reportsPerSecond([round('2026-01-01T00:00:00.000Z', 100, 0.5)]), 200);
  });

  it('divides the reports after the first round by the wall time between rounds', () => {
    const rounds = [
      round('2026-01-01T00:00:00.000Z', 1000),
      round('2026-01-01T00:00:05.000Z', 1000),
      round('2026-01-01T00:00:10.000Z', 1000),
    ];
    assert.equal(reportsPerSecond(rounds), 200);
    // Only the last `window` rounds count.
    assert.equal(reportsPerSecond([round('2025-01-01T00:00:00.000Z', 5), ...rounds], 3), 200);
  });
});

const state: UpState = {
  version: 1,
  supervisorPid: 1,
  startedAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:01:00.000Z',
  name: 'demo',
  dataDir: '/data',
  deploymentFile: null,
  tee: 'sim',
  simulation: true,
  host: '127.0.0.1',
  casUrl: 'https://127.0.0.1:8443',
  casRoot: '/data/cas/root.pem',
  ownerKey: '/data/owner.pem',
  services: [
    {
      name: 'mdc-0',
      kind: 'mdc',
      pid: 42,
      state: 'running',
      restarts: 1,
      attested: true,
      instanceId: '0123456789abcdef',
      platform: 'sim',
      simulation: true,
      ports: [7100, 7180],
      healthUrl: 'https://127.0.0.1:7180/healthz',
      startedAt: null,
      lastExit: 'signal SIGKILL',
      logFile: '/data/logs/mdc-0.log',
    },
    {
      name: 'aggregator-0',
      kind: 'aggregator',
      pid: null,
      state: 'restarting',
      restarts: 2,
      attested: false,
      instanceId: null,
      platform: null,
      simulation: false,
      ports: [7200],
      healthUrl: null,
      startedAt: null,
      lastExit: 'exit code 1',
      logFile: '/data/logs/aggregator-0.log',
    },
  ],
  rounds: [round('2026-01-01T00:00:50.000Z', 10)],
  totals: { rounds: 1, sent: 10, stored: 10, duplicates: 0, unacknowledged: 0, refusals: {} },
};

describe('live view', () => {
  const counters = { readingsStored: 1234, sessions: 10, refusals: { ERR_REPLAY: 2 }, unreachable: [] };

  it('shows services with their attestation, meters, rate, readings, refusals and restarts', () => {
    const text = renderLiveView({ state, counters, meters: 20, now: new Date('2026-01-01T00:01:05Z') }).join(
      '\n',
    );
    assert.match(text, /up 00:01:05/);
    assert.match(text, /SIMULATION/);
    assert.match(text, /mdc-0 +42 +running +attested sim SIMULATION 01234567 +1/);
    assert.match(text, /aggregator-0 +- +restarting +not attested +2/);
    assert.match(text, /meters connected +10 \/ 20/);
    assert.match(text, /readings stored +1234/);
    assert.match(text, /refusals +ERR_REPLAY 2/);
    assert.match(text, /restarts +3/);
  });

  it('fits one line when not on a terminal', () => {
    const line = renderLiveLine({ state, counters, meters: 20 });
    assert.ok(!line.includes('\n'));
    assert.match(line, /services attested 1\/2 \| meters connected 10\/20 .*readings stored 1234/);
  });
});

describe('process metrics', () => {
  it('exposes memory against the enclave size, the attestation and the uptime', () => {
    const registry = createMetricsRegistry();
    let t = 1000;
    registerProcessMetrics(registry, {
      service: 'mdc',
      platform: 'sim',
      simulation: true,
      enclaveSizeBytes: 4096 * 1024,
      memoryUsage: () => ({ rss: 300, heapUsed: 200 }),
      now: () => t,
    });
    t += 2500;
    const text = registry.render();
    assert.match(text, /^securecloud_enclave_memory_bytes\{kind="rss"\} 300$/m);
    assert.match(text, /^securecloud_enclave_memory_bytes\{kind="heap"\} 200$/m);
    assert.match(text, /^securecloud_enclave_size_bytes 4194304$/m);
    assert.match(text, /^securecloud_attestation_info\{service="mdc",platform="sim",simulation="true"\} 1$/m);
    assert.match(text, /^securecloud_process_uptime_seconds 2\.5$/m);
  });

  it('takes the enclave size from SECURECLOUD_ENCLAVE_SIZE and refuses a bad one', () => {
    const saved = process.env.SECURECLOUD_ENCLAVE_SIZE;
    try {
      process.env.SECURECLOUD_ENCLAVE_SIZE = '1048576';
      const r = createMetricsRegistry();
      registerProcessMetrics(r, { service: 'a', platform: 'sim', simulation: true });
      assert.match(r.render(), /^securecloud_enclave_size_bytes 1048576$/m);
      process.env.SECURECLOUD_ENCLAVE_SIZE = '2GB';
      assert.throws(
        () =>
          registerProcessMetrics(createMetricsRegistry(), {
            service: 'a',
            platform: 'sim',
            simulation: true,
          }),
        /SECURECLOUD_ENCLAVE_SIZE=2GB: expected a positive integer/,
      );
    } finally {
      if (saved === undefined) delete process.env.SECURECLOUD_ENCLAVE_SIZE;
      else process.env.SECURECLOUD_ENCLAVE_SIZE = saved;
    }
  });
});

async function sourceText(dir: string): Promise<string> {
  let text = '';
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) text += await sourceText(p);
    else if (e.name.endsWith('.ts')) text += await readFile(p, 'utf8');
  }
  return text;
}

describe('Grafana dashboard', () => {
  it('is a dashboard whose every metric is one the code registers', async () => {
    const file = new URL('../../deploy/grafana/securecloud.json', import.meta.url);
    const dash = JSON.parse(await readFile(file, 'utf8')) as {
      title: string;
      uid: string;
      schemaVersion: number;
      panels: { type: string; targets?: { expr: string }[] }[];
    };
    assert.equal(dash.title, 'securecloud');
    assert.ok(dash.schemaVersion >= 30);
    const src = await sourceText(new URL('../../src', import.meta.url).pathname);
    const names = new Set<string>();
    for (const p of dash.panels) {
      for (const t of p.targets ?? []) {
        for (const m of t.expr.matchAll(/\b((?:securecloud|cascadb)_[a-z0-9_]+)/g))
          names.add(m[1]!.replace(/_(bucket|sum|count)$/, ''));
      }
    }
    assert.ok(names.size >= 15, `${names.size} metrics`);
    for (const name of names)
      assert.ok(src.includes(`'${name}'`), `${name} is not registered anywhere in src/`);
    for (const name of PROCESS_METRIC_NAMES) assert.ok(names.has(name), `the dashboard shows ${name}`);
  });
});
