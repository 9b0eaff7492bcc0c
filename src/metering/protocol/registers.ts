import { BCD_TIME_LENGTH, decodeBcdTime, encodeBcdTime } from './bcd.ts';
import {
  decodeBareCommand,
  decodeResponseFrame,
  encodeBareCommand,
  encodeResponseFrame,
  expectCode,
} from './block.ts';
import { fieldError } from './errors.ts';
import { assertZero, readSafeU64, viewOf, writeSafeU64 } from './field-codec.ts';

/** Command 0x21: read the current energy registers (billing registers). */
export const CMD_REGISTERS = 0x21;

const REGISTER_NAMES = [
  'activeImportWh',
  'activeExportWh',
  'reactiveInductiveVarh',
  'reactiveCapacitiveVarh',
] as const;
const REGISTERS_AT = BCD_TIME_LENGTH; // 6
const MAX_DEMAND_AT = REGISTERS_AT + REGISTER_NAMES.length * 8; // 38
const MAX_DEMAND_TIME_AT = MAX_DEMAND_AT + 4; // 42
const USED = MAX_DEMAND_TIME_AT + BCD_TIME_LENGTH; // 48

/** The decoded 0x21 response. */
export interface EnergyRegisters {
  /** Meter serial: 8 decimal digits. */
  readonly meterSerial: string;
  /** When the registers were read, UTC milliseconds, whole seconds. */
  readonly timestamp: number;
  readonly activeImportWh: number;
  readonly activeExportWh: number;
  readonly reactiveInductiveVarh: number;
  readonly reactiveCapacitiveVarh: number;
  /** Highest 15-minute demand of the billing period, W (float32, 0 to 1e9). */
  readonly maxDemandW: number;
  /** When that demand was reached, UTC milliseconds. */
  readonly maxDemandTime: number;
}

/** Builds the 0x21 command block (no parameters). */
export function encodeRegistersCommand(readerSerial: string): Uint8Array {
  return encodeBareCommand(CMD_REGISTERS, readerSerial);
}

/** Checks a 0x21 command block and returns the reader serial. */
export function decodeRegistersCommand(block: Uint8Array): { readerSerial: string } {
  return decodeBareCommand(block, CMD_REGISTERS);
}

/** Builds the 258-byte 0x21 response (TypeError on out-of-range values). */
export function encodeRegistersResponse(r: EnergyRegisters): Uint8Array {
  const data = new Uint8Array(USED);
  const view = viewOf(data);
  encodeBcdTime(r.timestamp, data, 0, 'timestamp');
  for (const [i, name] of REGISTER_NAMES.entries()) writeSafeU64(view, REGISTERS_AT + i * 8, r[name], name);
  if (!(r.maxDemandW >= 0 && r.maxDemandW <= 1e9)) throw new TypeError('maxDemandW must be in [0, 1e9]');
  view.setFloat32(MAX_DEMAND_AT, r.maxDemandW, true);
  encodeBcdTime(r.maxDemandTime, data, MAX_DEMAND_TIME_AT, 'maxDemandTime');
  return encodeResponseFrame({ code: CMD_REGISTERS, meterSerial: r.meterSerial, data });
}

/** Checks a 0x21 response block and decodes it. */
export function decodeRegistersResponse(block: Uint8Array): EnergyRegisters {
  const frame = decodeResponseFrame(block);
  expectCode(frame.code, CMD_REGISTERS);
  const view = viewOf(frame.data);
  const timestamp = decodeBcdTime(frame.data, 0, 'timestamp');
  const [activeImportWh, activeExportWh, reactiveInductiveVarh, reactiveCapacitiveVarh] = REGISTER_NAMES.map(
    (name, i) => readSafeU64(view, REGISTERS_AT + i * 8, name),
  ) as [number, number, number, number];
  const maxDemandW = view.getFloat32(MAX_DEMAND_AT, true);
  if (!(maxDemandW >= 0 && maxDemandW <= 1e9))
    throw fieldError('maxDemandW', String(maxDemandW), 'in [0, 1e9]');
  const maxDemandTime = decodeBcdTime(frame.data, MAX_DEMAND_TIME_AT, 'maxDemandTime');
  assertZero(frame.data, USED, frame.data.length, 'reserved');
  return {
    meterSerial: frame.meterSerial,
    timestamp,
    activeImportWh,
    activeExportWh,
    reactiveInductiveVarh,
    reactiveCapacitiveVarh,
    maxDemandW,
    maxDemandTime,
  };
}
