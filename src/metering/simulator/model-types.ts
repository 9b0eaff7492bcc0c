import type { InstantaneousQuantities } from '../protocol/instantaneous.ts';
import type { HouseholdProfiles } from './household-data.ts';

/** ANEEL tariff group: B = low voltage (homes), A = medium-voltage supply (large customers). */
export type CustomerGroup = 'A' | 'B';

/** Where a meter's customer comes from: fixed for (seed, index). */
export interface CustomerInfo {
  readonly meterId: string;
  readonly group: CustomerGroup;
  readonly phases: 1 | 3;
  readonly nominalVolts: number;
  /** Index into `profiles.ids` of the source household, and its id. */
  readonly household: number;
  readonly householdId: string;
  /** Multiplier of the household's consumption. */
  readonly scale: number;
  /** Time shift of the household's profile, in 15-minute intervals. */
  readonly shiftIntervals: number;
  /** The customer's typical power factor (each interval varies around it). */
  readonly powerFactor: number;
}

/** Cumulative registers at the end of an interval. */
export interface EnergyRegisters {
  readonly activeEnergyWh: number;
  readonly reactiveEnergyVarh: number;
}

/** Counts and expected consumption of the fleet, for the CLI. */
export interface ModelSummary {
  readonly meters: number;
  readonly groupA: number;
  readonly groupB: number;
  readonly households: number;
  /** Mean expected daily consumption per meter, kWh (all meters, group A, group B; 0 for an empty group). */
  readonly meanDailyKWh: number;
  readonly meanDailyKWhGroupA: number;
  readonly meanDailyKWhGroupB: number;
}

/** Options of `createCustomerModel`. */
export interface CustomerModelOptions {
  /** Number of meters, 1 to 99,999,999 (meter ids have 8 digits). */
  readonly meters: number;
  /** Any integer; the same seed gives the same customers and readings. */
  readonly seed: number;
  readonly profiles: HouseholdProfiles;
  /** Share of group-A (three-phase, large) customers, 0-1; default 0.02. */
  readonly groupAShare?: number;
}

/**
 * N simulated customers modelled on real households. `report` is a pure function of (seed, index,
 * intervalEnd): a restarted simulator produces the same readings, registers included.
 */
export interface CustomerModel {
  readonly meters: number;
  readonly seed: number;
  readonly profiles: HouseholdProfiles;
  /** Bytes held in per-meter typed arrays (profiles not included). */
  readonly byteLength: number;
  /** The meter's id: `index + 1` as 8 decimal digits (`00000001` is index 0). */
  meterId(index: number): string;
  /** Index of a meter id of this model, or -1. */
  indexOf(meterId: string): number;
  customer(index: number): CustomerInfo;
  /** The phasor report of the 15-minute interval ending at `intervalEnd` (UTC ms, a multiple of 15 minutes after the epoch). */
  report(index: number, intervalEnd: number): InstantaneousQuantities;
  /** The registers after the interval ending at `intervalEnd` (the epoch itself is allowed): as in `report`. */
  registersAt(index: number, intervalEnd: number): EnergyRegisters;
  summary(): ModelSummary;
}
