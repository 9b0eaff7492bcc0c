import type { InstantaneousQuantities } from '../protocol/instantaneous.ts';
import { signedAt, uniformAt } from './model-noise.ts';

/**
 * What one interval's phasor report is built from. The model fills one reusable instance per report
 * (no allocation besides the returned object).
 */
export interface PhasorInput {
  meterSerial: string;
  /** End of the interval, UTC ms. */
  timestamp: number;
  /** Active energy of the interval, Wh (> 0). */
  energyWh: number;
  /** Reactive energy of the interval, varh (≥ 0, inductive). */
  reactiveVarh: number;
  activeEnergyWh: number;
  reactiveEnergyVarh: number;
  /** Phase-to-neutral nominal voltage, V. */
  nominalVolts: number;
  /** Noise stream of this meter (fixed per meter: feeder voltage, phase imbalance). */
  meterStream: number;
  /** Noise stream of this meter and interval. */
  reportStream: number;
  /** Grid frequency of the interval, Hz (shared by all meters), before the meter's reading noise. */
  frequency: number;
  currentThdMin: number;
  currentThdSpan: number;
}

const DEG = 180 / Math.PI;
const f = Math.fround;
/** Half-widths of the voltage noise: per meter (position on the feeder) and per interval; together ±3 %. */
const VOLTAGE_METER = 0.015;
const VOLTAGE_INTERVAL = 0.015;
/** Fixed phase imbalance of a three-phase customer (±3 %), and its per-interval wobble (±1 %). */
const IMBALANCE_METER = 0.03;
const IMBALANCE_INTERVAL = 0.01;
/** Per-phase spread of the reactive share (so that the three power factors differ slightly). */
const REACTIVE_SPREAD = 0.03;
/** Voltage angle noise of phases B and C, degrees (A is the reference, 0°). */
const ANGLE_NOISE = 0.5;
/** The meter's own frequency reading error, Hz. */
const FREQUENCY_NOISE = 0.005;

function voltageThd(stream: number, j: number): number {
  return 1 + 3 * uniformAt(stream, j); // 1-4 %
}

/** A single-phase (group B) report: phase A carries everything; phases B and C are all zero. */
export function singlePhaseReport(x: PhasorInput): InstantaneousQuantities {
  const r = x.reportStream;
  const p = 4 * x.energyWh; // mean W over 15 minutes
  const q = 4 * x.reactiveVarh;
  const s = Math.sqrt(p * p + q * q);
  const v =
    x.nominalVolts * (1 + VOLTAGE_METER * signedAt(x.meterStream, 0) + VOLTAGE_INTERVAL * signedAt(r, 0));
  const pf = f(p / s);
  return {
    meterSerial: x.meterSerial,
    timestamp: x.timestamp,
    voltageA: f(v),
    voltageB: 0,
    voltageC: 0,
    currentA: f(s / v),
    currentB: 0,
    currentC: 0,
    voltageAngleA: 0,
    voltageAngleB: 0,
    voltageAngleC: 0,
    currentAngleA: f(-Math.atan2(q, p) * DEG),
    currentAngleB: 0,
    currentAngleC: 0,
    activePowerA: f(p),
    activePowerB: 0,
    activePowerC: 0,
    activePowerTotal: f(p),
    reactivePowerA: f(q),
    reactivePowerB: 0,
    reactivePowerC: 0,
    reactivePowerTotal: f(q),
    apparentPowerA: f(s),
    apparentPowerB: 0,
    apparentPowerC: 0,
    apparentPowerTotal: f(s),
    powerFactorA: pf,
    powerFactorB: 0,
    powerFactorC: 0,
    powerFactorTotal: pf,
    voltageThdA: f(voltageThd(r, 1)),
    voltageThdB: 0,
    voltageThdC: 0,
    currentThdA: f(x.currentThdMin + x.currentThdSpan * uniformAt(r, 2)),
    currentThdB: 0,
    currentThdC: 0,
    frequency: f(x.frequency + FREQUENCY_NOISE * signedAt(r, 3)),
    demand: f(p),
    activeEnergyWh: x.activeEnergyWh,
    reactiveEnergyVarh: x.reactiveEnergyVarh,
  };
}

/** A three-phase (group A) report: balanced phases with a small fixed and per-interval imbalance. */
export function threePhaseReport(x: PhasorInput): InstantaneousQuantities {
  const m = x.meterStream;
  const r = x.reportStream;
  const p = 4 * x.energyWh;
  const q = 4 * x.reactiveVarh;
  const wa = 1 + IMBALANCE_METER * signedAt(m, 1) + IMBALANCE_INTERVAL * signedAt(r, 4);
  const wb = 1 + IMBALANCE_METER * signedAt(m, 2) + IMBALANCE_INTERVAL * signedAt(r, 5);
  const wc = 1 + IMBALANCE_METER * signedAt(m, 3) + IMBALANCE_INTERVAL * signedAt(r, 6);
  const ra = wa * (1 + REACTIVE_SPREAD * signedAt(r, 7));
  const rb = wb * (1 + REACTIVE_SPREAD * signedAt(r, 8));
  const rc = wc * (1 + REACTIVE_SPREAD * signedAt(r, 9));
  const pw = p / (wa + wb + wc);
  const qw = q / (ra + rb + rc);
  const pa = pw * wa;
  const pb = pw * wb;
  const pc = pw * wc;
  const qa = qw * ra;
  const qb = qw * rb;
  const qc = qw * rc;
  const sa = Math.sqrt(pa * pa + qa * qa);
  const sb = Math.sqrt(pb * pb + qb * qb);
  const sc = Math.sqrt(pc * pc + qc * qc);
  const s = Math.sqrt(p * p + q * q);
  const nominal = x.nominalVolts;
  const va = nominal * (1 + VOLTAGE_METER * signedAt(m, 4) + VOLTAGE_INTERVAL * signedAt(r, 0));
  const vb = nominal * (1 + VOLTAGE_METER * signedAt(m, 5) + VOLTAGE_INTERVAL * signedAt(r, 10));
  const vc = nominal * (1 + VOLTAGE_METER * signedAt(m, 6) + VOLTAGE_INTERVAL * signedAt(r, 11));
  const angleB = -120 + ANGLE_NOISE * signedAt(r, 12);
  const angleC = 120 + ANGLE_NOISE * signedAt(r, 13);
  const thdI = x.currentThdMin + x.currentThdSpan * uniformAt(r, 2);
  return {
    meterSerial: x.meterSerial,
    timestamp: x.timestamp,
    voltageA: f(va),
    voltageB: f(vb),
    voltageC: f(vc),
    currentA: f(sa / va),
    currentB: f(sb / vb),
    currentC: f(sc / vc),
    voltageAngleA: 0,
    voltageAngleB: f(angleB),
    voltageAngleC: f(angleC),
    currentAngleA: f(-Math.atan2(qa, pa) * DEG),
    currentAngleB: f(angleB - Math.atan2(qb, pb) * DEG),
    currentAngleC: f(angleC - Math.atan2(qc, pc) * DEG),
    activePowerA: f(pa),
    activePowerB: f(pb),
    activePowerC: f(pc),
    activePowerTotal: f(p),
    reactivePowerA: f(qa),
    reactivePowerB: f(qb),
    reactivePowerC: f(qc),
    reactivePowerTotal: f(q),
    apparentPowerA: f(sa),
    apparentPowerB: f(sb),
    apparentPowerC: f(sc),
    apparentPowerTotal: f(s),
    powerFactorA: f(pa / sa),
    powerFactorB: f(pb / sb),
    powerFactorC: f(pc / sc),
    powerFactorTotal: f(p / s),
    voltageThdA: f(voltageThd(r, 1)),
    voltageThdB: f(voltageThd(r, 14)),
    voltageThdC: f(voltageThd(r, 15)),
    currentThdA: f(thdI),
    currentThdB: f(thdI * (1 + 0.1 * signedAt(r, 16))),
    currentThdC: f(thdI * (1 + 0.1 * signedAt(r, 17))),
    frequency: f(x.frequency + FREQUENCY_NOISE * signedAt(r, 3)),
    demand: f(p),
    activeEnergyWh: x.activeEnergyWh,
    reactiveEnergyVarh: x.reactiveEnergyVarh,
  };
}
