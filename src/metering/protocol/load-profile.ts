import { BCD_TIME_LENGTH, decodeBcdTime, encodeBcdTime } from './bcd.ts';
import {
  decodeCommandFrame,
  decodeResponseFrame,
  encodeCommandFrame,
  encodeResponseFrame,
  expectCode,
} from './block.ts';
import { fieldError } from './errors.ts';
import { assertZero, viewOf } from './field-codec.ts';

/** Command 0x52: read the load profile (mass memory): per-interval energy from a start time. */
export const CMD_LOAD_PROFILE = 0x52;
/** Records that fit one response: (251 - 8) / 8. */
export const LOAD_PROFILE_MAX_RECORDS = 30;
/** Interval lengths a meter may use, minutes. */
export const LOAD_PROFILE_INTERVALS = [5, 15, 30, 60] as const;

const RECORDS_AT = BCD_TIME_LENGTH + 2; // start (6) + interval (1) + count (1)

/** The 0x52 request: the first interval wanted and how many. */
export interface LoadProfileRequest {
  readonly readerSerial: string;
  /** Start of the first interval, UTC milliseconds. */
  readonly start: number;
  /** 1 to 30. */
  readonly count: number;
}

/** One interval of the load profile. */
export interface LoadProfileRecord {
  /** Active energy in the interval, Wh (uint32). */
  readonly activeWh: number;
  /** Reactive energy in the interval, varh (int32, negative when capacitive). */
  readonly reactiveVarh: number;
}

/** The decoded 0x52 response. */
export interface LoadProfile {
  readonly meterSerial: string;
  /** Start of the first record's interval, UTC milliseconds, aligned to the interval. */
  readonly start: number;
  readonly intervalMinutes: (typeof LOAD_PROFILE_INTERVALS)[number];
  readonly records: readonly LoadProfileRecord[];
}

/** Builds the 0x52 command block: params = start (BCD, 6) + count (1). */
export function encodeLoadProfileCommand(req: LoadProfileRequest): Uint8Array {
  if (!Number.isInteger(req.count) || req.count < 1 || req.count > LOAD_PROFILE_MAX_RECORDS) {
    throw new TypeError(`count must be 1 to ${LOAD_PROFILE_MAX_RECORDS}`);
  }
  const params = new Uint8Array(BCD_TIME_LENGTH + 1);
  encodeBcdTime(req.start, params, 0, 'start');
  params[BCD_TIME_LENGTH] = req.count;
  return encodeCommandFrame({ code: CMD_LOAD_PROFILE, readerSerial: req.readerSerial, params });
}

/** Checks a 0x52 command block and decodes it. */
export function decodeLoadProfileCommand(block: Uint8Array): LoadProfileRequest {
  const frame = decodeCommandFrame(block);
  expectCode(frame.code, CMD_LOAD_PROFILE);
  const start = decodeBcdTime(frame.params, 0, 'start');
  const count = checkCount(frame.params[BCD_TIME_LENGTH] ?? 0);
  assertZero(frame.params, BCD_TIME_LENGTH + 1, frame.params.length, 'params');
  return { readerSerial: frame.readerSerial, start, count };
}

/** Builds the 258-byte 0x52 response (TypeError on misuse). */
export function encodeLoadProfileResponse(p: LoadProfile): Uint8Array {
  checkInterval(p.intervalMinutes, (v) => new TypeError(`intervalMinutes ${v} is not one of 5, 15, 30, 60`));
  if (p.records.length < 1 || p.records.length > LOAD_PROFILE_MAX_RECORDS) {
    throw new TypeError(`a load profile carries 1 to ${LOAD_PROFILE_MAX_RECORDS} records`);
  }
  if (p.start % (p.intervalMinutes * 60_000) !== 0)
    throw new TypeError('start must be aligned to the interval');
  const data = new Uint8Array(RECORDS_AT + p.records.length * 8);
  const view = viewOf(data);
  encodeBcdTime(p.start, data, 0, 'start');
  data[BCD_TIME_LENGTH] = p.intervalMinutes;
  data[BCD_TIME_LENGTH + 1] = p.records.length;
  p.records.forEach((r, i) => {
    view.setUint32(RECORDS_AT + i * 8, checkInt(r.activeWh, 0, 0xffffffff, 'activeWh'), true);
    view.setInt32(
      RECORDS_AT + i * 8 + 4,
      checkInt(r.reactiveVarh, -0x80000000, 0x7fffffff, 'reactiveVarh'),
      true,
    );
  });
  return encodeResponseFrame({ code: CMD_LOAD_PROFILE, meterSerial: p.meterSerial, data });
}

/** Checks a 0x52 response block and decodes it. */
export function decodeLoadProfileResponse(block: Uint8Array): LoadProfile {
  const frame = decodeResponseFrame(block);
  expectCode(frame.code, CMD_LOAD_PROFILE);
  const view = viewOf(frame.data);
  const start = decodeBcdTime(frame.data, 0, 'start');
  const intervalMinutes = checkInterval(frame.data[BCD_TIME_LENGTH] ?? 0, (v) =>
    fieldError('intervalMinutes', String(v), 'one of 5, 15, 30, 60'),
  );
  if (start % (intervalMinutes * 60_000) !== 0) {
    throw fieldError('start', new Date(start).toISOString(), `aligned to ${intervalMinutes} minutes`);
  }
  const count = checkCount(frame.data[BCD_TIME_LENGTH + 1] ?? 0);
  const records: LoadProfileRecord[] = [];
  for (let i = 0; i < count; i++) {
    records.push({
      activeWh: view.getUint32(RECORDS_AT + i * 8, true),
      reactiveVarh: view.getInt32(RECORDS_AT + i * 8 + 4, true),
    });
  }
  assertZero(frame.data, RECORDS_AT + count * 8, frame.data.length, 'reserved');
  return { meterSerial: frame.meterSerial, start, intervalMinutes, records };
}

function checkCount(count: number): number {
  if (count < 1 || count > LOAD_PROFILE_MAX_RECORDS) {
    throw fieldError('count', String(count), `1 to ${LOAD_PROFILE_MAX_RECORDS}`);
  }
  return count;
}

function checkInterval(value: number, fail: (v: number) => Error): LoadProfile['intervalMinutes'] {
  const found = LOAD_PROFILE_INTERVALS.find((i) => i === value);
  if (found === undefined) throw fail(value);
  return found;
}

function checkInt(value: number, min: number, max: number, field: string): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new TypeError(`${field} must be in [${min}, ${max}]`);
  return value;
}
