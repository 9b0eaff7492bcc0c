import { SimulatorError } from './model-errors.ts';

/** Days in the profile year (2013 for London, 2018 for Pecan Street: neither is a leap year). */
export const DAYS_PER_YEAR = 365;
/** Half-hours per day in the London files. */
export const HALF_HOURS_PER_DAY = 48;
/** Quarter-hours per day in the Pecan Street file and in the simulator. */
export const QUARTERS_PER_DAY = 96;

const MONTH_START = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365] as const;
const REMEDY =
  'Restore the original file (provenance in SOURCES.md beside the data) or point SECURECLOUD_DATA_DIR at a complete copy.';

/** Day of the year (0-based) of a month (1-12) and day, or -1 when the date does not exist in a non-leap year. */
function dayOfYear(month: number, day: number): number {
  const start = MONTH_START[month - 1];
  const next = MONTH_START[month];
  if (start === undefined || next === undefined || day < 1 || day > next - start) return -1;
  return start + day - 1;
}

function malformed(path: string, line: number, found: string, expected: string): SimulatorError {
  return new SimulatorError(
    'ERR_SIM_DATA',
    `${path} line ${line}: found ${JSON.stringify(found.slice(0, 80))}, expected ${expected}. ${REMEDY}`,
    { path, line, found: found.slice(0, 80), expected },
  );
}

/** Value of `n` ASCII digits at `at`, or -1 if one of them is not a digit. */
function digits(b: Uint8Array, at: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const d = (b[at + i] ?? 0) - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** Parses a decimal such as ` 0.219 ` in `b[start, end)` (spaces allowed around it); NaN if it is not one. */
function decimal(b: Uint8Array, start: number, end: number): number {
  let i = start;
  let j = end;
  while (i < j && (b[i] === 32 || b[i] === 9)) i++;
  while (j > i && (b[j - 1] === 32 || b[j - 1] === 9 || b[j - 1] === 13)) j--;
  let int = 0;
  let frac = 0;
  let scale = 1;
  let seen = false;
  let dot = false;
  for (; i < j; i++) {
    const c = b[i] ?? 0;
    if (c === 46 && !dot) {
      dot = true;
    } else if (c >= 48 && c <= 57) {
      seen = true;
      if (dot) {
        frac = frac * 10 + (c - 48);
        scale *= 10;
      } else int = int * 10 + (c - 48);
    } else return Number.NaN;
  }
  return seen ? int + frac / scale : Number.NaN;
}

function startsWith(b: Uint8Array, at: number, prefix: Uint8Array): boolean {
  for (let i = 0; i < prefix.length; i++) if (b[at + i] !== prefix[i]) return false;
  return true;
}

function lineText(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, Math.max(0, end - start)).toString('latin1');
}

/** One London LCL household: kWh per half hour over 2013, NaN where the file has no reading. */
export interface LclSeries {
  readonly id: string;
  readonly kwh: Float64Array;
  /** Number of half-hours with a reading. */
  readonly present: number;
  /** Number of readings that are exactly zero (an empty home or a faulty meter). */
  readonly zeros: number;
}

const LCL_HEADER = 'LCLid,tstp,energy(kWh/hh)';

/**
 * Parses one London LCL half-hourly CSV (`LCLid,tstp,energy(kWh/hh)`, rows like
 * `MAC000002,2013-01-01 00:00:00, 0.219 `) into a 365 × 48 grid. `Null` values count as missing;
 * a second reading for the same half-hour is ignored. Anything else unexpected is `ERR_SIM_DATA`.
 */
export function parseLclCsv(bytes: Uint8Array, id: string, path: string): LclSeries {
  const kwh = new Float64Array(DAYS_PER_YEAR * HALF_HOURS_PER_DAY).fill(Number.NaN);
  const idBytes = Buffer.from(id, 'latin1');
  let eol = bytes.indexOf(10);
  if (eol < 0) eol = bytes.length;
  const header = lineText(bytes, 0, eol).trim();
  if (header !== LCL_HEADER) throw malformed(path, 1, header, `the header ${LCL_HEADER}`);
  let present = 0;
  let zeros = 0;
  let line = 1;
  for (let pos = eol + 1; pos < bytes.length; pos = eol + 1) {
    line++;
    eol = bytes.indexOf(10, pos);
    if (eol < 0) eol = bytes.length;
    if (eol - pos <= 1) continue; // blank line (or a lone CR)
    const ts = pos + idBytes.length + 1;
    if (!startsWith(bytes, pos, idBytes) || bytes[ts - 1] !== 44 || bytes[ts + 19] !== 44 || ts + 20 > eol) {
      throw malformed(path, line, lineText(bytes, pos, eol), `${id},YYYY-MM-DD hh:mm:ss,<kWh>`);
    }
    const doy =
      digits(bytes, ts, 4) === 2013 ? dayOfYear(digits(bytes, ts + 5, 2), digits(bytes, ts + 8, 2)) : -1;
    const hour = digits(bytes, ts + 11, 2);
    const minute = digits(bytes, ts + 14, 2);
    if (doy < 0 || hour < 0 || hour > 23 || (minute !== 0 && minute !== 30)) {
      throw malformed(path, line, lineText(bytes, ts, ts + 19), 'a 2013 time on the :00/:30 grid');
    }
    const value = decimal(bytes, ts + 20, eol);
    if (!(value >= 0 && value < 100)) {
      if (lineText(bytes, ts + 20, eol).trim() === 'Null') continue;
      throw malformed(path, line, lineText(bytes, ts + 20, eol), 'kWh per half hour in [0, 100)');
    }
    const slot = doy * HALF_HOURS_PER_DAY + hour * 2 + (minute === 30 ? 1 : 0);
    if (Number.isNaN(kwh[slot])) {
      kwh[slot] = value;
      present++;
      if (value === 0) zeros++;
    }
  }
  return { id, kwh, present, zeros };
}

/**
 * Fills the missing half-hours of a 365 × 48 grid in place, in time order: a missing value takes the
 * value of the same half-hour one week earlier (which may itself have been filled, so a gap repeats
 * the last observed week); in the first week, that of the first later week with a reading; failing
 * that, the mean of all readings. Returns how many values were filled.
 */
export function fillMissing(kwh: Float64Array): number {
  const week = 7 * HALF_HOURS_PER_DAY;
  let sum = 0;
  let n = 0;
  for (const v of kwh) {
    if (!Number.isNaN(v)) {
      sum += v;
      n++;
    }
  }
  const mean = n > 0 ? sum / n : 0;
  let filled = 0;
  for (let i = 0; i < kwh.length; i++) {
    if (!Number.isNaN(kwh[i])) continue;
    let v = i >= week ? (kwh[i - week] ?? mean) : Number.NaN;
    for (let j = i + week; Number.isNaN(v) && j < kwh.length; j += week) v = kwh[j] ?? Number.NaN;
    kwh[i] = Number.isNaN(v) ? mean : v;
    filled++;
  }
  return filled;
}

/** The intra-half-hour shapes taken from Pecan Street: for each shape day, 48 first-quarter shares. */
export interface QuarterShapes {
  /** `days` × 48 values: share of a half-hour's energy that falls in its first quarter-hour. */
  readonly firstShare: Float32Array;
  readonly days: number;
}

const PECAN_HEADER = 'dataid,local_15min,,grid,solar,solar2,Whole Home Use';
/** Both row layouts: `661,1/1/2018,0:00,grid,solar,solar2,use` and `1642,1/1/2018 13:00,,grid,solar,solar2,use`. */
const PECAN_ROW =
  /^(\d*),(\d{1,2})\/(\d{1,2})\/2018(?:,(\d{1,2}):(\d\d)| (\d{1,2}):(\d\d),),[^,]*,[^,]*,[^,]*,([^,]*?)\r?$/;
/** A shape day needs this many of its 48 half-hours measured; the others get an even split. */
const MIN_VALID_HALF_HOURS = 44;
/** Below this mean power (kW) over a half-hour, the split is meter noise: such half-hours count as invalid. */
const MIN_SHAPE_KW = 0.05;

/**
 * Parses the Pecan Street 15-minute file (two homes, two date layouts, CRLF) and derives, for every
 * day of each home with at least 44 measured half-hours, the share of each half-hour's `Whole Home
 * Use` that falls in its first quarter. Rows without a dataid (4 fill rows) and rows whose `Whole Home
 * Use` is blank or not positive (grid and solar missing) are skipped; unmeasured half-hours of a
 * kept day get 0.5.
 */
export function parsePecanShapes(text: string, path: string): QuarterShapes {
  const lines = text.split('\n');
  const header = (lines[0] ?? '').trim();
  if (header !== PECAN_HEADER) throw malformed(path, 1, header, `the header ${PECAN_HEADER}`);
  const homes = new Map<string, Float64Array>();
  for (let n = 1; n < lines.length; n++) {
    const row = lines[n] ?? '';
    const m = PECAN_ROW.exec(row);
    if (m === null) {
      if (row.trim() === '') continue;
      throw malformed(
        path,
        n + 1,
        row,
        'dataid,M/D/2018,h:mm,grid,solar,solar2,use or dataid,M/D/2018 h:mm,,…',
      );
    }
    const [, id = '', month, day, hour1, minute1, hour2, minute2, use = ''] = m;
    const hour = hour1 ?? hour2;
    const minute = minute1 ?? minute2;
    const doy = dayOfYear(Number(month), Number(day));
    if (doy < 0 || Number(hour) > 23 || Number(minute) % 15 !== 0) {
      throw malformed(path, n + 1, row, 'a 2018 date and a time on the 15-minute grid');
    }
    const kw = use === '' ? Number.NaN : Number(use);
    if (id === '' || !(kw > 0)) continue;
    let series = homes.get(id);
    if (series === undefined) {
      series = new Float64Array(DAYS_PER_YEAR * QUARTERS_PER_DAY).fill(Number.NaN);
      homes.set(id, series);
    }
    series[doy * QUARTERS_PER_DAY + Number(hour) * 4 + Number(minute) / 15] = kw;
  }
  return shapesOf(
    [...homes.entries()].sort((a, b) => Number(a[0]) - Number(b[0])).map((e) => e[1]),
    path,
  );
}

function shapesOf(homes: readonly Float64Array[], path: string): QuarterShapes {
  const out: number[] = [];
  const day = new Float64Array(HALF_HOURS_PER_DAY);
  for (const kw of homes) {
    for (let d = 0; d < DAYS_PER_YEAR; d++) {
      let valid = 0;
      for (let s = 0; s < HALF_HOURS_PER_DAY; s++) {
        const a = kw[d * QUARTERS_PER_DAY + 2 * s] ?? Number.NaN;
        const b = kw[d * QUARTERS_PER_DAY + 2 * s + 1] ?? Number.NaN;
        const ok = a > 0 && b > 0 && a + b >= 2 * MIN_SHAPE_KW;
        day[s] = ok ? a / (a + b) : 0.5;
        if (ok) valid++;
      }
      if (valid >= MIN_VALID_HALF_HOURS) out.push(...day);
    }
  }
  if (out.length === 0) {
    throw new SimulatorError(
      'ERR_SIM_DATA',
      `${path} has no day with ${MIN_VALID_HALF_HOURS} measured half-hours. ${REMEDY}`,
      {
        path,
        expected: 'at least one well-measured day',
      },
    );
  }
  return { firstShare: Float32Array.from(out), days: out.length / HALF_HOURS_PER_DAY };
}
