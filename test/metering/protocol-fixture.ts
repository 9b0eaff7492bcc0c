// Shared fixtures of the metering protocol tests: sample reports and deterministic endpoints.
import { createHash } from 'node:crypto';
import {
  createSigningKeyPair,
  INSTANTANEOUS_FLOAT_FIELDS,
  type InstantaneousQuantities,
  MdcEndpoint,
  MeterEndpoint,
  type SessionLimits,
} from '../../src/metering/index.ts';

/** 32 bytes derived from a label: fixed seeds for keys of test vectors. */
export function seed(label: string): Buffer {
  return createHash('sha256').update(label).digest();
}

/** A deterministic randomness source (SHA-256 counter mode over a label). */
export function deterministicRandom(label: string): (size: number) => Uint8Array {
  let n = 0;
  return (size) => {
    const out = Buffer.alloc(size);
    for (let at = 0; at < size; at += 32) seed(`${label}/${n++}`).copy(out, at);
    return out;
  };
}

export const T0 = Date.UTC(2026, 0, 15, 12, 15, 0);

/** A three-phase phasor report whose floats are exactly representable in float32. */
export function sampleReport(meterSerial = '00012345', timestamp = T0): InstantaneousQuantities {
  const floats = Object.fromEntries(
    INSTANTANEOUS_FLOAT_FIELDS.map((f, i) => [
      f.name,
      Math.fround(Math.min(f.max, Math.max(f.min, 0.5 + i * 0.25))),
    ]),
  ) as Record<(typeof INSTANTANEOUS_FLOAT_FIELDS)[number]['name'], number>;
  return {
    ...floats,
    voltageA: 127.25,
    voltageB: 126.5,
    voltageC: 128,
    frequency: 60,
    powerFactorTotal: 0.875,
    meterSerial,
    timestamp,
    activeEnergyWh: 12_345_678,
    reactiveEnergyVarh: 2_345_678,
  };
}

export const MDC = createSigningKeyPair(seed('mdc'));
export const METER = createSigningKeyPair(seed('meter/00012345'));

/** A clock the test moves by hand. */
export function manualClock(start = T0): { now: () => number; advance(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

/** A meter and an MDC sharing a manual clock and deterministic randomness, before any handshake. */
export function pair(limits: Partial<SessionLimits> = {}, label = 'pair') {
  const clock = manualClock();
  const meter = new MeterEndpoint({
    meterId: '00012345',
    privateKey: METER.privateKey,
    mdcPublicKey: MDC.publicKey,
    limits,
    now: clock.now,
    randomBytes: deterministicRandom(`${label}/meter`),
  });
  const mdc = new MdcEndpoint({
    privateKey: MDC.privateKey,
    meterPublicKey: (id) => (id === '00012345' ? METER.publicKey : undefined),
    limits,
    now: clock.now,
    randomBytes: deterministicRandom(`${label}/mdc`),
  });
  const handshake = () => {
    const hello = meter.startHandshake();
    const accept = mdc.acceptHello(hello);
    const finish = meter.completeHandshake(accept);
    mdc.acceptFinish(finish);
    return { hello, accept, finish };
  };
  return { clock, meter, mdc, handshake };
}
