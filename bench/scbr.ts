// SCBR matching throughput: publications matched per second with 1,000, 10,000 and 100,000
// subscriptions, index matcher against the naive linear matcher in the same run, on two workloads:
// the smart-grid mix (per-meter, per-region, alarm, prefix, range and negated filters; matches grow
// with the subscriptions) and a selective one (few matches at any size). Prints JSON.
// Usage: npm run bench -- scbr [--seconds S] [--sizes 1000,10000,100000] [--seed N]
import {
  type Attributes,
  createIndexMatcher,
  createNaiveMatcher,
  type Header,
  parseFilter,
  type SubscriptionMatcher,
  toHeader,
} from '../src/bus/scbr/index.ts';
import { prng } from '../test/support/prng.ts';

const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const seconds = Number(arg('--seconds')) || 1;
const sizes = (arg('--sizes') ?? '1000,10000,100000').split(',').map(Number);
const seed = Number(arg('--seed')) || 42;

const METERS = 100_000;
const REGIONS = 20;
const KINDS = ['reading', 'reading', 'reading', 'reading', 'alarm', 'status', 'tamper', 'outage'];
const T0 = Date.UTC(2025, 5, 1);

class Generator {
  readonly #r: () => number;
  constructor(s: number) {
    this.#r = prng(s);
  }
  #int(n: number) {
    return Math.floor(this.#r() * n);
  }
  #meter() {
    return `m${String(this.#int(METERS)).padStart(5, '0')}`;
  }
  #region() {
    return `r${this.#int(REGIONS)}`;
  }

  /** Mostly selective filters: few matches per publication, whatever the number of subscriptions. */
  selectiveFilter(): string {
    const roll = this.#int(100);
    if (roll < 70) return `meter = "${this.#meter()}" AND kind IN {"reading", "alarm"}`;
    if (roll < 85) return `meter ^= "${this.#meter()}" AND voltage < 230`;
    const low = this.#int(4990) / 100;
    return `demand IN [${low}, ${(low + 0.01).toFixed(2)}) AND phase = "A" AND region = "${this.#region()}"`;
  }

  /** The smart-grid mix: a constant share of subscribers (per region) wants each publication. */
  gridFilter(): string {
    const roll = this.#int(100);
    const demand = (this.#int(500) / 10).toFixed(1);
    if (roll < 40)
      return `meter = "${this.#meter()}"${this.#int(2) === 0 ? ' AND kind IN {"reading", "alarm"}' : ''}`;
    if (roll < 65) return `region = "${this.#region()}" AND demand > ${demand}`;
    if (roll < 80) return `region = "${this.#region()}" AND kind = "alarm"`;
    if (roll < 90) return `meter ^= "${this.#meter().slice(0, 4)}" AND voltage < ${200 + this.#int(15)}`;
    if (roll < 95) {
      const low = this.#int(490) / 10;
      return `demand BETWEEN ${low} AND ${(low + 0.2).toFixed(1)} AND phase = "A"`;
    }
    return `kind IN {"tamper", "outage"} AND NOT region = "${this.#region()}" AND at >= @2025-06-01T12:00:00Z`;
  }

  publication(): Attributes {
    return {
      meter: this.#meter(),
      region: this.#region(),
      kind: KINDS[this.#int(KINDS.length)] as string,
      demand: this.#int(5000) / 100,
      voltage: 195 + this.#int(5000) / 100,
      phase: ['A', 'B', 'C'][this.#int(3)] as string,
      at: new Date(T0 + this.#int(86_400_000)),
    };
  }
}

function rate(matcher: SubscriptionMatcher, headers: readonly Header[]) {
  let matches = 0;
  for (let i = 0; i < Math.min(20, headers.length); i++)
    matches += matcher.match(headers[i] as Header).length;
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  let runs = 0;
  matches = 0;
  while (performance.now() < end || runs < 3) {
    matches += matcher.match(headers[runs % headers.length] as Header).length;
    runs++;
  }
  const us = ((performance.now() - start) * 1000) / runs;
  return {
    perSecond: Math.round(1e6 / us),
    usPerPublication: Number(us.toFixed(2)),
    runs,
    avgMatches: Number((matches / runs).toFixed(2)),
  };
}

interface Workload {
  readonly name: string;
  readonly description: string;
  readonly filter: () => string;
}

function measure(workload: Workload, headers: readonly Header[]) {
  const results = [];
  for (const size of sizes) {
    const texts = Array.from({ length: size }, () => workload.filter());
    const t0 = performance.now();
    const filters = texts.map((t) => parseFilter(t));
    const parseUs = ((performance.now() - t0) * 1000) / size;
    const index = createIndexMatcher();
    const naive = createNaiveMatcher();
    const t1 = performance.now();
    for (const [i, f] of filters.entries()) index.add(`s${i}`, f);
    const addUs = ((performance.now() - t1) * 1000) / size;
    for (const [i, f] of filters.entries()) naive.add(`s${i}`, f);
    for (const h of headers.slice(0, 50)) {
      if (index.match(h).sort().join() !== naive.match(h).sort().join()) {
        throw new Error(`${workload.name}: index and naive disagree at ${size} subscriptions`);
      }
    }
    const indexRate = rate(index, headers);
    const naiveRate = rate(naive, headers);
    results.push({
      subscriptions: size,
      index: indexRate,
      naive: naiveRate,
      speedup: Number((indexRate.perSecond / naiveRate.perSecond).toFixed(1)),
      parseUsPerFilter: Number(parseUs.toFixed(2)),
      indexAddUsPerSubscription: Number(addUs.toFixed(2)),
      indexStats: index.stats(),
    });
  }
  return { workload: workload.name, description: workload.description, results };
}

function main(): void {
  const work = new Generator(seed);
  const headers = Array.from({ length: 4096 }, () => toHeader(work.publication()));
  const workloads: Workload[] = [
    {
      name: 'grid',
      description:
        '40% meter = ID (half AND kind IN {…}); 25% region AND demand > x; 15% region AND kind = alarm; 10% meter prefix AND voltage < v; 5% demand BETWEEN (0.2 kW wide) AND phase; 5% kind IN {…} AND NOT region AND at >= t',
      filter: () => work.gridFilter(),
    },
    {
      name: 'selective',
      description:
        '70% meter = ID AND kind IN {…}; 15% meter ^= ID AND voltage < 230; 15% demand IN [d, d+0.01) AND phase AND region',
      filter: () => work.selectiveFilter(),
    },
  ];
  const runs = workloads.map((w) => measure(w, headers));
  const at10k = runs[0]?.results.find((r) => r.subscriptions === 10_000);
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'scbr',
        node: process.version,
        seconds,
        seed,
        publications:
          '100,000 meters, 20 regions, 8 kinds, demand 0-50 kW, voltage 195-245 V, 3 phases, one day of timestamps',
        workloads: runs,
        goal: { workload: 'grid', subscriptions: 10_000, speedup: 10 },
        meetsGoal: at10k === undefined ? null : at10k.speedup >= 10,
      },
      null,
      2,
    )}\n`,
  );
}

main();
