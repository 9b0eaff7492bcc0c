import type { InstantaneousQuantities } from '../protocol/instantaneous.ts';
import { type HouseholdProfiles, INTERVALS_PER_PROFILE } from './household-data.ts';
import { fmix32, hashAt, signedAt, substream, uniformAt } from './model-noise.ts';
import { type PhasorInput, singlePhaseReport, threePhaseReport } from './model-phasor.ts';
import type {
  CustomerGroup,
  CustomerInfo,
  CustomerModel,
  CustomerModelOptions,
  EnergyRegisters,
  ModelSummary,
} from './model-types.ts';

export type {
  CustomerGroup,
  CustomerInfo,
  CustomerModel,
  CustomerModelOptions,
  EnergyRegisters,
  ModelSummary,
} from './model-types.ts';

/** Length of a reporting interval: 15 minutes. */
export const INTERVAL_MS = 15 * 60_000;
/** Reporting intervals per day (Brazil keeps no daylight saving time, so always 96). */
export const INTERVALS_PER_DAY = 96;
/** Interval 0 of every meter starts here (2000-01-01T00:00Z, the first instant a BCD timestamp holds). */
export const MODEL_EPOCH_MS = Date.UTC(2000, 0, 1);
/** Reports end before this instant (BCD timestamps hold years 2000-2099). */
export const MODEL_END_MS = Date.UTC(2100, 0, 1);
/** Share of group-A customers when the caller does not say. */
export const DEFAULT_GROUP_A_SHARE = 0.02;

/** Supply and behaviour of each group: nominal values and the ranges that customers are drawn from. */
export const CUSTOMER_GROUPS = {
  /** Single-phase 127 V (phase-to-neutral of the 127/220 V networks of most Brazilian capitals). */
  B: { phases: 1, nominalVolts: 127, scale: [0.25, 1], powerFactor: [0.86, 0.97], currentThd: [5, 20] },
  /** Three-phase 13.8 kV (subgroup A4), measured as 7,967 V phase-to-neutral; 20-200 households each. */
  A: {
    phases: 3,
    nominalVolts: 13_800 / Math.sqrt(3),
    scale: [20, 200],
    powerFactor: [0.92, 0.97],
    currentThd: [3, 10],
  },
} as const;

/** Local clock (Brasília, UTC-3, no DST) is 12 intervals behind UTC. */
const LOCAL_OFFSET_INTERVALS = 12;
/** Monday 2024-01-01 00:00 local time is aligned with Monday 2013-01-07 00:00 of the profiles (day 6). */
const REFERENCE_MS = Date.UTC(2024, 0, 1) + LOCAL_OFFSET_INTERVALS * INTERVAL_MS;
const PROFILE_AT_REFERENCE = 6 * INTERVALS_PER_DAY;
/**
 * Customers replay the first 52 weeks (364 days) of their profile in a loop, so that a simulated
 * Monday is always a measured Monday (the 365th day is not used).
 */
export const PROFILE_CYCLE_INTERVALS = 364 * INTERVALS_PER_DAY;
/** Profile index of interval 0 for an unshifted meter. */
const PROFILE_AT_EPOCH = mod(
  PROFILE_AT_REFERENCE - (REFERENCE_MS - MODEL_EPOCH_MS) / INTERVAL_MS,
  PROFILE_CYCLE_INTERVALS,
);
/** Time shift of a customer: whole weeks in [-4, 4] plus quarter-hours in [-4, 4] (±1 h). */
const SHIFT_WEEKS = 4;
const SHIFT_QUARTERS = 4;
/** Half-width of the interval-energy noise (±20 %) and of the reactive-energy noise (±15 %). */
const SIGMA_ENERGY = 0.2;
const SIGMA_REACTIVE = 0.15;
/** Register values at the epoch, per unit of scale: Wh in [10 kWh, 2 MWh), varh in [10 kvarh, 0.5 Mvarh). */
const ACTIVE_BASE: readonly [number, number] = [1e4, 2e6];
const REACTIVE_BASE: readonly [number, number] = [1e4, 5e5];

// Salts of the noise streams (arbitrary distinct constants).
const SALT_SHIFT = 2;
const SALT_REACTIVE = 3;
const SALT_REPORT = 4;
const SALT_FREQUENCY = 5;

/**
 * The profile interval (0 … 364·96-1) that a customer with the given time shift replays during the
 * interval ending at `intervalEnd`. Brasília local time (UTC-3) drives the profile: with no shift,
 * local Monday 2024-01-01 00:00-00:15 replays Monday 2013-01-07 00:00-00:15 (index 576), and the
 * first 52 weeks of the profile repeat (weekdays stay aligned; seasons drift 1.24 days a year).
 */
export function profileIntervalAt(shiftIntervals: number, intervalEnd: number): number {
  const k = (intervalEnd - MODEL_EPOCH_MS) / INTERVAL_MS - 1;
  return mod(PROFILE_AT_EPOCH + shiftIntervals + k, PROFILE_CYCLE_INTERVALS);
}

function mod(a: number, n: number): number {
  const r = a % n;
  return r < 0 ? r + n : r;
}

function between(range: readonly [number, number], u: number): number {
  return range[0] + (range[1] - range[0]) * u;
}

function logBetween(range: readonly [number, number], u: number): number {
  return range[0] * (range[1] / range[0]) ** u;
}

/**
 * Creates the customers of a simulated fleet: per meter a household, scale, time shift, noise seed,
 * group and power factor, held in typed arrays (about 33 bytes per meter). Meter i's customer
 * depends only on (seed, i, profiles, groupAShare), not on the number of meters.
 *
 * @example
 * const model = createCustomerModel({ meters: 1_000_000, seed: 7, profiles });
 * const q = model.report(0, Date.UTC(2026, 0, 1, 12, 15)); // interval 12:00-12:15 UTC
 */
export function createCustomerModel(options: CustomerModelOptions): CustomerModel {
  const { meters, seed, profiles } = options;
  const groupAShare = options.groupAShare ?? DEFAULT_GROUP_A_SHARE;
  if (!Number.isInteger(meters) || meters < 1 || meters > 99_999_999) {
    throw new TypeError(`meters must be an integer from 1 to 99,999,999, got ${meters}`);
  }
  if (!Number.isSafeInteger(seed)) throw new TypeError(`seed must be a safe integer, got ${seed}`);
  if (!(groupAShare >= 0 && groupAShare <= 1)) {
    throw new TypeError(`groupAShare must be a number from 0 to 1, got ${groupAShare}`);
  }
  if (profiles.count < 1 || profiles.energyWh.length !== profiles.count * INTERVALS_PER_PROFILE) {
    throw new TypeError('profiles must come from loadHouseholdProfiles or createHouseholdProfiles');
  }
  return new Model(meters, seed, profiles, groupAShare);
}

class Model implements CustomerModel {
  readonly meters: number;
  readonly seed: number;
  readonly profiles: HouseholdProfiles;
  readonly byteLength: number;
  readonly #household: Uint16Array;
  readonly #scale: Float32Array;
  readonly #shift: Int16Array;
  readonly #noiseSeed: Uint32Array;
  readonly #group: Uint8Array; // 0 = B, 1 = A
  readonly #powerFactor: Float32Array;
  readonly #activeBase: Float64Array;
  readonly #reactiveBase: Float64Array;
  readonly #frequencyStream: number;
  readonly #input: PhasorInput;
  // Results of #interval(), read right after it (no allocation per report).
  #energy = 0;
  #reactive = 0;
  #activeRegister = 0;
  #reactiveRegister = 0;
  #summary: ModelSummary | undefined;

  constructor(meters: number, seed: number, profiles: HouseholdProfiles, groupAShare: number) {
    this.meters = meters;
    this.seed = seed;
    this.profiles = profiles;
    this.#household = new Uint16Array(meters);
    this.#scale = new Float32Array(meters);
    this.#shift = new Int16Array(meters);
    this.#noiseSeed = new Uint32Array(meters);
    this.#group = new Uint8Array(meters);
    this.#powerFactor = new Float32Array(meters);
    this.#activeBase = new Float64Array(meters);
    this.#reactiveBase = new Float64Array(meters);
    const root = fmix32(fmix32(seed >>> 0) ^ Math.floor(seed / 4294967296));
    this.#frequencyStream = substream(root, SALT_FREQUENCY);
    this.#input = {
      meterSerial: '',
      timestamp: 0,
      energyWh: 0,
      reactiveVarh: 0,
      activeEnergyWh: 0,
      reactiveEnergyVarh: 0,
      nominalVolts: 0,
      meterStream: 0,
      reportStream: 0,
      frequency: 60,
      currentThdMin: 0,
      currentThdSpan: 0,
    };
    for (let i = 0; i < meters; i++) this.#draw(i, hashAt(root, i), groupAShare);
    this.byteLength = [
      this.#household,
      this.#scale,
      this.#shift,
      this.#noiseSeed,
      this.#group,
      this.#powerFactor,
      this.#activeBase,
      this.#reactiveBase,
    ].reduce((n, a) => n + a.byteLength, 0);
  }

  /** Draws meter i's customer from its own stream (so it does not depend on the fleet size). */
  #draw(i: number, stream: number, groupAShare: number): void {
    const isA = uniformAt(stream, 0) < groupAShare;
    const g = isA ? CUSTOMER_GROUPS.A : CUSTOMER_GROUPS.B;
    const scale = logBetween(g.scale, uniformAt(stream, 2));
    this.#group[i] = isA ? 1 : 0;
    this.#household[i] = Math.floor(uniformAt(stream, 1) * this.profiles.count);
    this.#scale[i] = scale;
    const weeks = Math.floor(uniformAt(stream, 3) * (2 * SHIFT_WEEKS + 1)) - SHIFT_WEEKS;
    const quarters = Math.floor(uniformAt(stream, 4) * (2 * SHIFT_QUARTERS + 1)) - SHIFT_QUARTERS;
    this.#shift[i] = weeks * 7 * INTERVALS_PER_DAY + quarters;
    this.#powerFactor[i] = between(g.powerFactor, uniformAt(stream, 5));
    this.#noiseSeed[i] = hashAt(stream, 6);
    this.#activeBase[i] = scale * between(ACTIVE_BASE, uniformAt(stream, 7));
    this.#reactiveBase[i] = scale * between(REACTIVE_BASE, uniformAt(stream, 8));
  }

  meterId(index: number): string {
    this.#checkIndex(index);
    return String(index + 1).padStart(8, '0');
  }

  indexOf(meterId: string): number {
    if (typeof meterId !== 'string' || !/^\d{8}$/.test(meterId)) return -1;
    const n = Number(meterId);
    return n >= 1 && n <= this.meters ? n - 1 : -1;
  }

  customer(index: number): CustomerInfo {
    this.#checkIndex(index);
    const group: CustomerGroup = this.#group[index] === 1 ? 'A' : 'B';
    const household = this.#household[index] ?? 0;
    return {
      meterId: this.meterId(index),
      group,
      phases: CUSTOMER_GROUPS[group].phases,
      nominalVolts: CUSTOMER_GROUPS[group].nominalVolts,
      household,
      householdId: this.profiles.ids[household] ?? '',
      scale: this.#scale[index] ?? 0,
      shiftIntervals: this.#shift[index] ?? 0,
      powerFactor: this.#powerFactor[index] ?? 0,
    };
  }

  report(index: number, intervalEnd: number): InstantaneousQuantities {
    this.#checkIndex(index);
    const k = this.#intervalOf(intervalEnd, false);
    this.#interval(index, k);
    const isA = this.#group[index] === 1;
    const g = isA ? CUSTOMER_GROUPS.A : CUSTOMER_GROUPS.B;
    const ns = this.#noiseSeed[index] ?? 0;
    const x = this.#input;
    x.meterSerial = String(index + 1).padStart(8, '0');
    x.timestamp = intervalEnd;
    x.energyWh = this.#energy;
    x.reactiveVarh = this.#reactive;
    x.activeEnergyWh = this.#activeRegister;
    x.reactiveEnergyVarh = this.#reactiveRegister;
    x.nominalVolts = g.nominalVolts;
    x.meterStream = ns;
    x.reportStream = hashAt(substream(ns, SALT_REPORT), k);
    x.frequency = 60 + 0.045 * signedAt(this.#frequencyStream, k);
    x.currentThdMin = g.currentThd[0];
    x.currentThdSpan = g.currentThd[1] - g.currentThd[0];
    return isA ? threePhaseReport(x) : singlePhaseReport(x);
  }

  registersAt(index: number, intervalEnd: number): EnergyRegisters {
    this.#checkIndex(index);
    this.#interval(index, this.#intervalOf(intervalEnd, true));
    return { activeEnergyWh: this.#activeRegister, reactiveEnergyVarh: this.#reactiveRegister };
  }

  summary(): ModelSummary {
    if (this.#summary !== undefined) return this.#summary;
    const stride = INTERVALS_PER_PROFILE + 1;
    const sum = [0, 0];
    // Energy of one 364-day cycle of each household (what a customer replays), per day.
    const count = [0, 0];
    for (let i = 0; i < this.meters; i++) {
      const g = this.#group[i] ?? 0;
      const cycleWh =
        this.profiles.prefixWh[(this.#household[i] ?? 0) * stride + PROFILE_CYCLE_INTERVALS] ?? 0;
      sum[g] = (sum[g] ?? 0) + (this.#scale[i] ?? 0) * cycleWh;
      count[g] = (count[g] ?? 0) + 1;
    }
    const [sumB = 0, sumA = 0] = sum;
    const [groupB = 0, groupA = 0] = count;
    const daily = (wh: number, n: number) => (n === 0 ? 0 : wh / n / 364 / 1000);
    this.#summary = {
      meters: this.meters,
      groupA,
      groupB,
      households: this.profiles.count,
      meanDailyKWh: daily(sumA + sumB, this.meters),
      meanDailyKWhGroupA: daily(sumA, groupA),
      meanDailyKWhGroupB: daily(sumB, groupB),
    };
    return this.#summary;
  }

  #checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.meters) {
      throw new TypeError(`meter index must be an integer from 0 to ${this.meters - 1}, got ${index}`);
    }
  }

  /** The interval index k (interval [epoch + k·15 min, epoch + (k+1)·15 min)) that ends at `intervalEnd`. */
  #intervalOf(intervalEnd: number, allowEpoch: boolean): number {
    const elapsed = intervalEnd - MODEL_EPOCH_MS;
    if (
      !(
        elapsed % INTERVAL_MS === 0 &&
        elapsed >= (allowEpoch ? 0 : INTERVAL_MS) &&
        intervalEnd < MODEL_END_MS
      )
    ) {
      throw new TypeError(
        `intervalEnd must be a UTC time on the 15-minute grid from ${new Date(MODEL_EPOCH_MS + INTERVAL_MS).toISOString()} ` +
          `to 2099, got ${intervalEnd}`,
      );
    }
    return elapsed / INTERVAL_MS - 1;
  }

  /**
   * Energy of interval k and the registers at its end. The energy is the scaled, shifted profile B(k)
   * plus a telescoping noise t(k) - t(k-1), where t(k) moves up to ±10 % of min(B(k), B(k+1)) between
   * intervals k and k+1. So Σ_{j≤k} E(j) = Σ_{j≤k} B(j) + t(k) - t(-1): the register is a prefix sum
   * of the profile plus one noise term, computed in O(1) for any k. The reactive energy is built the
   * same way on top of tan φ · E.
   */
  #interval(i: number, k: number): void {
    const C = PROFILE_CYCLE_INTERVALS;
    const h = this.#household[i] ?? 0;
    const sc = this.#scale[i] ?? 0;
    const ns = this.#noiseSeed[i] ?? 0;
    const pf = this.#powerFactor[i] ?? 1;
    const energy = this.profiles.energyWh;
    const row = h * INTERVALS_PER_PROFILE;
    const first = mod(PROFILE_AT_EPOCH + (this.#shift[i] ?? 0), C); // profile index of interval 0
    const p = (first + k + C) % C; // profile index of interval k (k ≥ -1)
    const b0 = sc * (energy[row + (p < 2 ? p + C - 2 : p - 2)] ?? 0); // B(k-2)
    const b1 = sc * (energy[row + (p < 1 ? p + C - 1 : p - 1)] ?? 0); // B(k-1)
    const b2 = sc * (energy[row + p] ?? 0); // B(k)
    const b3 = sc * (energy[row + (p + 1 >= C ? p + 1 - C : p + 1)] ?? 0); // B(k+1)
    const b4 = sc * (energy[row + (p + 2 >= C ? p + 2 - C : p + 2)] ?? 0); // B(k+2)
    const st = substream(ns, SALT_SHIFT);
    const half = SIGMA_ENERGY / 2;
    const t0 = half * signedAt(st, k - 2) * Math.min(b0, b1); // t(k-2)
    const t1 = half * signedAt(st, k - 1) * Math.min(b1, b2); // t(k-1)
    const t2 = half * signedAt(st, k) * Math.min(b2, b3); // t(k)
    const t3 = half * signedAt(st, k + 1) * Math.min(b3, b4); // t(k+1)
    const ePrev = b1 + t1 - t0;
    const e = b2 + t2 - t1;
    const eNext = b3 + t3 - t2;
    const tan = Math.sqrt(1 - pf * pf) / pf;
    const sq = substream(ns, SALT_REACTIVE);
    const halfQ = (SIGMA_REACTIVE / 2) * tan;
    const s0 = halfQ * signedAt(sq, k - 1) * Math.min(ePrev, e); // s(k-1)
    const s1 = halfQ * signedAt(sq, k) * Math.min(e, eNext); // s(k)
    const cumulative = sc * (this.#prefix(h, first + k + 1) - this.#prefix(h, first)) + t2;
    this.#energy = e;
    this.#reactive = tan * e + s1 - s0;
    this.#activeRegister = Math.floor((this.#activeBase[i] ?? 0) + cumulative);
    this.#reactiveRegister = Math.floor((this.#reactiveBase[i] ?? 0) + tan * cumulative + s1);
  }

  /** Energy of household h's 364-day cycle, repeated, over its intervals 0…n-1 (n ≥ 0). */
  #prefix(h: number, n: number): number {
    const C = PROFILE_CYCLE_INTERVALS;
    const base = h * (INTERVALS_PER_PROFILE + 1);
    const cycles = Math.floor(n / C);
    return (
      cycles * (this.profiles.prefixWh[base + C] ?? 0) + (this.profiles.prefixWh[base + n - cycles * C] ?? 0)
    );
  }
}
