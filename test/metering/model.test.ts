import assert from 'node:assert/strict';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  decodeInstantaneousResponse,
  encodeInstantaneousResponse,
  INSTANTANEOUS_FLOAT_FIELDS,
  type InstantaneousQuantities,
} from '../../src/metering/protocol/instantaneous.ts';
import {
  DATA_DIR_ENV,
  type HouseholdProfiles,
  INTERVALS_PER_PROFILE,
  loadHouseholdProfiles,
  STANDBY_FLOOR_WH,
} from '../../src/metering/simulator/household-data.ts';
import { parseLclCsv } from '../../src/metering/simulator/household-parsers.ts';
import {
  CUSTOMER_GROUPS,
  type CustomerModel,
  createCustomerModel,
  INTERVAL_MS,
  INTERVALS_PER_DAY,
  MODEL_EPOCH_MS,
  profileIntervalAt,
} from '../../src/metering/simulator/model.ts';
import { isSimulatorError } from '../../src/metering/simulator/model-errors.ts';
import { prng } from '../support/prng.ts';

const DATA_DIR = fileURLToPath(new URL('../../../shared/data', import.meta.url));
const HAVE_DATA = existsSync(join(DATA_DIR, 'london_lcl_halfhourly__ryanhilde'));
const skip =
  HAVE_DATA || process.env.CI === 'true'
    ? false
    : `household data not found in ${DATA_DIR} (set up /work/shared)`;
if (skip) console.warn(`SKIPPING the customer model tests: ${skip}`);

/** Local (UTC-3) midnight of 2026-03-02, as UTC ms. */
const DAY_START = Date.UTC(2026, 2, 2, 3);

/** A random interval end between 2000 and 2099 on the 15-minute grid. */
function randomIntervalEnd(rand: () => number): number {
  const intervals = Math.floor((Date.UTC(2099, 11, 31) - MODEL_EPOCH_MS) / INTERVAL_MS);
  return MODEL_EPOCH_MS + (1 + Math.floor(rand() * intervals)) * INTERVAL_MS;
}

/**
 * Runs `f` on a temporary data directory holding the real Pecan Street file (linked) and the given
 * London files: bytes, or the path of a real file to link.
 */
async function withDataDir(files: Record<string, Uint8Array | string>, f: (dir: string) => Promise<void>) {
  const dir = mkdtempSync(join(tmpdir(), 'securecloud-model-'));
  try {
    mkdirSync(join(dir, 'london_lcl_halfhourly__ryanhilde/part'), { recursive: true });
    mkdirSync(join(dir, 'pecanstreet_austin__dlanzave'));
    const pecan = 'pecanstreet_austin__dlanzave/15minute_data_austin.csv';
    symlinkSync(join(DATA_DIR, pecan), join(dir, pecan));
    for (const [name, content] of Object.entries(files)) {
      const target = join(dir, 'london_lcl_halfhourly__ryanhilde/part', name);
      if (typeof content === 'string') symlinkSync(content, target);
      else writeFileSync(target, content);
    }
    await f(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function firstOfGroup(model: CustomerModel, group: 'A' | 'B'): number {
  for (let i = 0; i < model.meters; i++) if (model.customer(i).group === group) return i;
  throw new Error(`no group ${group} meter`);
}

describe('loadHouseholdProfiles', { skip }, () => {
  let profiles: HouseholdProfiles;
  before(async () => {
    profiles = await loadHouseholdProfiles({ dataDir: DATA_DIR });
  });

  it('loads 64 full-year London households as 365 × 96 quarter-hours with prefix sums', () => {
    assert.equal(profiles.count, 64);
    assert.equal(profiles.energyWh.length, 64 * 365 * 96);
    assert.deepEqual([...profiles.ids].sort(), profiles.ids);
    assert.ok(profiles.ids.every((id) => /^MAC\d{6}$/.test(id)));
    const h = 5;
    const stride = INTERVALS_PER_PROFILE + 1;
    let sum = 0;
    for (let i = 0; i < INTERVALS_PER_PROFILE; i++)
      sum += profiles.energyWh[h * INTERVALS_PER_PROFILE + i] ?? 0;
    assert.ok(Math.abs((profiles.prefixWh[(h + 1) * stride - 1] ?? 0) - sum) < 1e-6 * sum);
    assert.ok(profiles.energyWh.every((v) => v >= STANDBY_FLOOR_WH));
  });

  it('splits each measured half-hour into two quarter-hours that add up to it', () => {
    const file = join(DATA_DIR, 'london_lcl_halfhourly__ryanhilde/meter_readings/MAC000002.csv.gz');
    const raw = parseLclCsv(gunzipSync(readFileSync(file)), 'MAC000002', file);
    assert.equal(profiles.ids[0], 'MAC000002');
    let checked = 0;
    let uneven = 0;
    for (let j = 0; j < raw.kwh.length; j++) {
      const a = profiles.energyWh[2 * j] ?? 0;
      const b = profiles.energyWh[2 * j + 1] ?? 0;
      if (a <= STANDBY_FLOOR_WH || b <= STANDBY_FLOOR_WH) continue; // raised to the floor
      assert.ok(Math.abs(a + b - (raw.kwh[j] ?? 0) * 1000) < 1e-3, `half-hour ${j}`);
      if (Math.abs(a - b) > 0.05 * (a + b)) uneven++;
      checked++;
    }
    assert.ok(checked > 17_000, `${checked} half-hours checked`);
    assert.ok(uneven > checked / 4, 'the Pecan Street shapes split most half-hours unevenly');
  });

  it('loads a smaller subset on request', async () => {
    const few = await loadHouseholdProfiles({ dataDir: DATA_DIR, households: 3 });
    assert.deepEqual(few.ids, profiles.ids.slice(0, 3));
    assert.deepEqual(few.energyWh, profiles.energyWh.subarray(0, 3 * INTERVALS_PER_PROFILE));
  });

  it('fails with ERR_SIM_DATA naming the directory when the data is missing', async () => {
    const missing = join(tmpdir(), 'securecloud-no-such-data-dir');
    await assert.rejects(loadHouseholdProfiles({ dataDir: missing }), (e: unknown) => {
      assert.ok(isSimulatorError(e, 'ERR_SIM_DATA'));
      assert.match(e.message, /securecloud-no-such-data-dir/);
      assert.match(e.message, new RegExp(DATA_DIR_ENV));
      return true;
    });
    const saved = process.env[DATA_DIR_ENV];
    process.env[DATA_DIR_ENV] = missing;
    try {
      await assert.rejects(loadHouseholdProfiles(), (e: unknown) => isSimulatorError(e, 'ERR_SIM_DATA'));
    } finally {
      if (saved === undefined) delete process.env[DATA_DIR_ENV];
      else process.env[DATA_DIR_ENV] = saved;
    }
  });

  it('fails with ERR_SIM_DATA naming the file and line of a malformed row', async () => {
    const csv =
      'LCLid,tstp,energy(kWh/hh)\nMAC000001,2013-01-01 00:00:00, 0.2 \nMAC000001,2013-01-01 00:30:00, oops \n';
    await withDataDir({ 'MAC000001.csv.gz': gzipSync(csv) }, async (dir) => {
      await assert.rejects(loadHouseholdProfiles({ dataDir: dir, households: 1 }), (e: unknown) => {
        assert.ok(isSimulatorError(e, 'ERR_SIM_DATA'));
        assert.match(e.message, /MAC000001\.csv\.gz line 3/);
        assert.equal(e.detail.line, 3);
        return true;
      });
    });
  });

  it('fails with ERR_SIM_DATA when more households are asked for than qualify', async () => {
    const real = join(DATA_DIR, 'london_lcl_halfhourly__ryanhilde/meter_readings/MAC000002.csv.gz');
    await withDataDir({ 'MAC000002.csv.gz': real }, async (dir) => {
      assert.equal((await loadHouseholdProfiles({ dataDir: dir, households: 1 })).count, 1);
      await assert.rejects(loadHouseholdProfiles({ dataDir: dir, households: 2 }), (e: unknown) => {
        assert.ok(isSimulatorError(e, 'ERR_SIM_DATA'));
        assert.match(e.message, /only 1 of the 1 London households .* 2 were asked for/);
        return true;
      });
    });
  });

  it('stops when its signal is aborted', async () => {
    await assert.rejects(loadHouseholdProfiles({ dataDir: DATA_DIR, signal: AbortSignal.abort() }), {
      name: 'AbortError',
    });
  });
});

describe('createCustomerModel', { skip }, () => {
  let profiles: HouseholdProfiles;
  let model: CustomerModel;
  before(async () => {
    profiles = await loadHouseholdProfiles({ dataDir: DATA_DIR });
    model = createCustomerModel({ meters: 5000, seed: 11, profiles });
  });

  it('gives identical reports for the same seed and different ones for another seed', () => {
    const again = createCustomerModel({ meters: 5000, seed: 11, profiles });
    const other = createCustomerModel({ meters: 5000, seed: 12, profiles });
    const rand = prng(1);
    let differ = 0;
    for (let n = 0; n < 200; n++) {
      const i = Math.floor(rand() * 5000);
      const t = randomIntervalEnd(rand);
      assert.deepEqual(model.report(i, t), again.report(i, t));
      if (model.report(i, t).demand !== other.report(i, t).demand) differ++;
    }
    assert.equal(differ, 200);
  });

  it('keeps meter i the same customer whatever the fleet size', () => {
    const small = createCustomerModel({ meters: 10, seed: 11, profiles });
    for (let i = 0; i < 10; i++) {
      assert.deepEqual(small.customer(i), model.customer(i));
      assert.deepEqual(small.report(i, DAY_START), model.report(i, DAY_START));
    }
  });

  it('reports every field in range, float32-exact, and encodable, for random meters and times', () => {
    const rand = prng(2);
    const meters = [firstOfGroup(model, 'A'), firstOfGroup(model, 'B')];
    for (let n = 0; n < 2000; n++) meters.push(Math.floor(rand() * model.meters));
    let groupA = 0;
    for (const i of meters) {
      const q = model.report(i, randomIntervalEnd(rand));
      for (const f of INSTANTANEOUS_FLOAT_FIELDS) {
        const v = q[f.name];
        assert.ok(v >= f.min && v <= f.max, `${f.name} = ${v}`);
        assert.equal(v, Math.fround(v), `${f.name} is a float32`);
      }
      assert.deepEqual(decodeInstantaneousResponse(encodeInstantaneousResponse(q)), q);
      if (model.customer(i).group === 'A') groupA++;
      assertPhysical(q, model.customer(i).group);
    }
    assert.ok(groupA >= 10, `${groupA} group-A reports checked`);
  });

  it('keeps registers strictly increasing and consistent with demand over consecutive intervals', () => {
    for (const i of [firstOfGroup(model, 'A'), firstOfGroup(model, 'B'), 17, 4321]) {
      // Three days, then the first day after the epoch, then across the end of the 364-day cycle.
      const shift = model.customer(i).shiftIntervals;
      let wrap = DAY_START;
      while (profileIntervalAt(shift, wrap) !== 0) wrap += INTERVAL_MS;
      const windows = [
        [DAY_START, DAY_START + 3 * 86_400_000],
        [MODEL_EPOCH_MS + INTERVAL_MS, MODEL_EPOCH_MS + 86_400_000],
        [wrap - 100 * INTERVAL_MS, wrap + 100 * INTERVAL_MS],
      ] as const;
      for (const [from, to] of windows) {
        let prev = model.registersAt(i, from - INTERVAL_MS);
        for (let t = from; t <= to; t += INTERVAL_MS) {
          const q = model.report(i, t);
          const dActive = q.activeEnergyWh - prev.activeEnergyWh;
          const dReactive = q.reactiveEnergyVarh - prev.reactiveEnergyVarh;
          const at = `meter ${i} at ${new Date(t).toISOString()}`;
          assert.ok(dActive >= 1, `${at}: active register +${dActive}`);
          assert.ok(dReactive >= 0, `${at}: reactive register +${dReactive}`);
          assert.ok(
            Math.abs(dActive - q.demand / 4) < 1 + 1e-6 * q.demand,
            `${at}: Δ ${dActive} vs ${q.demand / 4}`,
          );
          assert.ok(Math.abs(dReactive - q.reactivePowerTotal / 4) < 1 + 1e-6 * q.reactivePowerTotal, at);
          prev = q;
        }
      }
    }
  });

  it('reports the same values whatever order intervals are asked in (a pure function)', () => {
    const times = Array.from({ length: 20 }, (_, j) => DAY_START + j * INTERVAL_MS);
    const forward = times.map((t) => model.report(3, t));
    const backward = [...times].reverse().map((t) => model.report(3, t));
    assert.deepEqual(backward.reverse(), forward);
    const { activeEnergyWh, reactiveEnergyVarh } = forward[7] as InstantaneousQuantities;
    assert.deepEqual(model.registersAt(3, times[7] as number), { activeEnergyWh, reactiveEnergyVarh });
    assert.ok(model.registersAt(3, MODEL_EPOCH_MS).activeEnergyWh > 0);
  });

  it('has 96 intervals in a local day whose energy follows the source household day × scale', () => {
    for (const i of [firstOfGroup(model, 'A'), 0, 1, 2, 99]) {
      const c = model.customer(i);
      const start = model.registersAt(i, DAY_START).activeEnergyWh;
      let sum = 0;
      let expected = 0;
      let edges = 0;
      for (let j = 1; j <= INTERVALS_PER_DAY; j++) {
        const t = DAY_START + j * INTERVAL_MS;
        sum += model.report(i, t).demand / 4;
        const wh =
          c.scale *
          (profiles.energyWh[c.household * INTERVALS_PER_PROFILE + profileIntervalAt(c.shiftIntervals, t)] ??
            0);
        expected += wh;
        if (j === 1 || j === INTERVALS_PER_DAY) edges += wh;
      }
      assert.equal(profileIntervalAt(0, DAY_START + INTERVAL_MS) % INTERVALS_PER_DAY, 0, 'local midnight');
      const end = model.registersAt(i, DAY_START + INTERVALS_PER_DAY * INTERVAL_MS).activeEnergyWh;
      assert.ok(Math.abs(end - start - sum) < 1 + 1e-6 * sum, 'registers advance by the day energy');
      // The noise only moves energy between neighbouring intervals: ±10 % of the edge intervals leak.
      assert.ok(Math.abs(sum - expected) <= 0.2 * edges + 1e-6 * sum, `meter ${i}: ${sum} vs ${expected} Wh`);
    }
    assert.equal(profileIntervalAt(0, Date.UTC(2024, 0, 1, 3, 15)), 6 * INTERVALS_PER_DAY, 'Monday ↔ Monday');
  });

  it('replays a measured day of the same weekday for every simulated local day', () => {
    const rand = prng(4);
    for (let n = 0; n < 500; n++) {
      const localMidnight = Date.UTC(2000, 0, 2 + Math.floor(rand() * 36_000), 3); // 00:00 in UTC-3
      const p = profileIntervalAt(
        7 * INTERVALS_PER_DAY * Math.floor(rand() * 9 - 4),
        localMidnight + INTERVAL_MS,
      );
      assert.equal(p % INTERVALS_PER_DAY, 0);
      const measuredDay = new Date(Date.UTC(2013, 0, 1 + p / INTERVALS_PER_DAY));
      assert.equal(measuredDay.getUTCDay(), new Date(localMidnight - 3 * 3_600_000).getUTCDay());
    }
  });

  it('makes distinct customers', () => {
    const seen = new Set<string>();
    const demands = new Set<number>();
    for (let i = 0; i < 1000; i++) {
      const c = model.customer(i);
      seen.add(`${c.household}/${c.scale}/${c.shiftIntervals}`);
      demands.add(model.report(i, DAY_START).demand);
    }
    assert.equal(seen.size, 1000);
    assert.equal(demands.size, 1000);
    const households = new Set(Array.from({ length: 1000 }, (_, i) => model.customer(i).household));
    assert.equal(households.size, profiles.count, 'every household is used');
  });

  it('draws group A with the requested share, three-phase at 13.8 kV, larger by 20-200×', () => {
    const s = model.summary();
    assert.equal(s.groupA + s.groupB, 5000);
    assert.ok(s.groupA > 60 && s.groupA < 140, `${s.groupA} group-A meters of 5000 at 2 %`);
    assert.ok(s.meanDailyKWhGroupB > 3 && s.meanDailyKWhGroupB < 10, `${s.meanDailyKWhGroupB} kWh/day`);
    assert.ok(s.meanDailyKWhGroupA > 20 * s.meanDailyKWhGroupB);
    const a = model.customer(firstOfGroup(model, 'A'));
    assert.equal(a.phases, 3);
    assert.ok(a.scale >= 20 && a.scale <= 200);
    assert.equal(createCustomerModel({ meters: 100, seed: 1, profiles, groupAShare: 0 }).summary().groupA, 0);
    assert.equal(
      createCustomerModel({ meters: 100, seed: 1, profiles, groupAShare: 1 }).summary().groupA,
      100,
    );
  });

  it('names meters with 8 digits and maps them back', () => {
    assert.equal(model.meterId(0), '00000001');
    assert.equal(model.meterId(4999), '00005000');
    assert.equal(model.indexOf('00005000'), 4999);
    assert.equal(model.indexOf('00005001'), -1);
    assert.equal(model.indexOf('00000000'), -1);
    assert.equal(model.indexOf('1'), -1);
    assert.equal(model.report(41, DAY_START).meterSerial, model.meterId(41));
  });

  it('refuses bad indexes and times with a TypeError', () => {
    assert.throws(() => model.report(5000, DAY_START), TypeError);
    assert.throws(() => model.report(-1, DAY_START), TypeError);
    assert.throws(() => model.report(0, DAY_START + 1000), TypeError);
    assert.throws(() => model.report(0, MODEL_EPOCH_MS), TypeError);
    assert.throws(() => model.report(0, Date.UTC(2100, 0, 1)), TypeError);
    assert.throws(() => createCustomerModel({ meters: 0, seed: 1, profiles }), TypeError);
    assert.throws(() => createCustomerModel({ meters: 10, seed: 1.5, profiles }), TypeError);
  });

  it('holds a million meters in typed arrays of about 33 bytes each', (t) => {
    const started = performance.now();
    const big = createCustomerModel({ meters: 1_000_000, seed: 3, profiles });
    const created = performance.now() - started;
    assert.equal(big.byteLength, 33_000_000);
    assert.equal(big.summary().groupA + big.summary().groupB, 1_000_000);
    const t0 = performance.now();
    let acc = 0;
    for (let i = 0; i < 200_000; i++) acc += big.report(i * 5, DAY_START + (i % 96) * INTERVAL_MS).demand;
    const perReport = ((performance.now() - t0) / 200_000) * 1000;
    assert.ok(acc > 0);
    t.diagnostic(`1M meters: created in ${created.toFixed(0)} ms; report() ${perReport.toFixed(2)} µs each`);
  });
});

/** Checks the relations between the fields of one report. */
function assertPhysical(q: InstantaneousQuantities, group: 'A' | 'B'): void {
  const near = (a: number, b: number, rel = 1e-4) =>
    Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-3);
  const nominal = CUSTOMER_GROUPS[group].nominalVolts;
  const phases = group === 'A' ? (['A', 'B', 'C'] as const) : (['A'] as const);
  assert.ok(near(q.activePowerTotal, q.demand));
  assert.ok(near(q.apparentPowerTotal, Math.hypot(q.activePowerTotal, q.reactivePowerTotal)));
  assert.ok(q.powerFactorTotal >= 0.8 && q.powerFactorTotal <= 0.99, `pf ${q.powerFactorTotal}`);
  assert.ok(Math.abs(q.frequency - 60) <= 0.05);
  let p = 0;
  for (const x of phases) {
    const v = q[`voltage${x}`];
    const s = q[`apparentPower${x}`];
    const pf = q[`powerFactor${x}`];
    p += q[`activePower${x}`];
    assert.ok(Math.abs(v / nominal - 1) <= 0.03, `voltage ${x} ${v}`);
    assert.ok(near(q[`current${x}`], s / v));
    assert.ok(pf >= 0.8 && pf <= 0.99, `pf ${x} ${pf}`);
    const lag = q[`voltageAngle${x}`] - q[`currentAngle${x}`];
    assert.ok(near(lag, (Math.acos(pf) * 180) / Math.PI, 1e-3), `angle ${x}`);
    assert.ok(q[`voltageThd${x}`] >= 1 && q[`voltageThd${x}`] <= 4);
    assert.ok(q[`currentThd${x}`] >= 2 && q[`currentThd${x}`] <= 20);
  }
  assert.ok(near(p, q.activePowerTotal));
  assert.ok(Math.abs(q.voltageAngleB - (group === 'A' ? -120 : 0)) <= 0.5);
  assert.ok(Math.abs(q.voltageAngleC - (group === 'A' ? 120 : 0)) <= 0.5);
  if (group === 'B') {
    for (const name of [
      'voltageB',
      'currentC',
      'activePowerB',
      'reactivePowerC',
      'apparentPowerB',
      'powerFactorC',
    ] as const) {
      assert.equal(q[name], 0, name);
    }
  }
}
