import { SqlError } from './errors.ts';

/** Microseconds per day. */
const DAY_US = 86_400_000_000n;
const TS_RE =
  /^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*$/i;

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
export function daysFromCivil(y: number, m: number, d: number): number {
  const yy = m <= 2 ? y - 1 : y;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** The civil date of a day number (inverse of {@link daysFromCivil}). */
export function civilFromDays(z: number): [number, number, number] {
  const zz = z + 719468;
  const era = Math.floor(zz / 146097);
  const doe = zz - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp + (mp < 10 ? 3 : -9);
  return [era * 400 + yoe + (m <= 2 ? 1 : 0), m, d];
}

function invalid(text: string): SqlError {
  return new SqlError('ERR_SQL_INVALID_DATETIME', `invalid input syntax for type timestamp: "${text}"`, {
    hint: "write 'YYYY-MM-DD[ HH:MM[:SS[.ffffff]]][Z|±HH:MM]'",
  });
}

/**
 * Parses a timestamp literal into microseconds since 1970-01-01 00:00 UTC. TIMESTAMP is UTC wall
 * time: an explicit offset (`+02:00`) converts to UTC. Years 0001–9999.
 */
export function parseTimestamp(text: string): bigint {
  const m = TS_RE.exec(text);
  if (m === null) throw invalid(text);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const [h, mi, s] = [Number(m[4] ?? 0), Number(m[5] ?? 0), Number(m[6] ?? 0)];
  const days = daysFromCivil(y, mo, d);
  const back = civilFromDays(days);
  if (y < 1 || back[0] !== y || back[1] !== mo || back[2] !== d || h > 23 || mi > 59 || s > 59) {
    throw new SqlError('ERR_SQL_DATETIME_OVERFLOW', `date/time field value out of range: "${text}"`);
  }
  const frac = (m[7] ?? '').padEnd(6, '0').slice(0, 6);
  let us = BigInt(days) * DAY_US + BigInt((h * 60 + mi) * 60 + s) * 1_000_000n + BigInt(frac || '0');
  const zone = m[8];
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const minutes = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0);
    us -= BigInt(sign * minutes) * 60_000_000n;
  }
  return us;
}

function pad(n: number, width: number): string {
  return width === 2 && n < 10 ? `0${n}` : String(n).padStart(width, '0');
}

/** Splits microseconds into a day number and the microseconds within that day. */
function split(us: bigint): [number, number] {
  let days = us / DAY_US;
  let rest = us % DAY_US;
  if (rest < 0n) {
    rest += DAY_US;
    days -= 1n;
  }
  return [Number(days), Number(rest)];
}

const DAY = 86_400_000_000;
// A one-entry memo of the date part: rows read in key order mostly share their day.
let lastDay = Number.NaN;
let lastDate = '';

function dateText(days: number): string {
  if (days === lastDay) return lastDate;
  const [y, mo, d] = civilFromDays(days);
  lastDate = `${y < 0 ? '-' : ''}${pad(Math.abs(y), 4)}-${pad(mo, 2)}-${pad(d, 2)}`;
  lastDay = days;
  return lastDate;
}

/**
 * Formats microseconds as PostgreSQL's text output, `2024-01-31 23:59:59.5`; with `iso`, as
 * `2024-01-31T23:59:59.5Z` (the form debugging tools show in keys).
 */
export function formatTimestamp(us: bigint, iso = false): string {
  const n = Number(us);
  let days: number;
  let inDay: number;
  if (Number.isSafeInteger(n)) {
    days = Math.floor(n / DAY);
    inDay = n - days * DAY;
  } else [days, inDay] = split(us);
  const date = dateText(days);
  const secs = Math.floor(inDay / 1_000_000);
  const micro = inDay % 1_000_000;
  const time = `${pad(Math.floor(secs / 3600), 2)}:${pad(Math.floor(secs / 60) % 60, 2)}:${pad(secs % 60, 2)}`;
  const frac = micro === 0 ? '' : `.${pad(micro, 6).replace(/0+$/, '')}`;
  return iso ? `${date}T${time}${frac}Z` : `${date} ${time}${frac}`;
}

/** Microseconds of a JavaScript Date. */
export function timestampFromDate(date: Date): bigint {
  const ms = date.getTime();
  if (Number.isNaN(ms)) throw new SqlError('ERR_SQL_INVALID_DATETIME', 'invalid Date');
  return BigInt(ms) * 1000n;
}

const UNITS: Record<string, bigint> = {
  microseconds: 1n,
  milliseconds: 1000n,
  second: 1_000_000n,
  minute: 60_000_000n,
  hour: 3_600_000_000n,
  day: DAY_US,
};

/** `date_trunc(unit, ts)` for microsecond … year. */
export function truncateTimestamp(unit: string, us: bigint): bigint {
  const u = unit.toLowerCase();
  const step = UNITS[u];
  if (step !== undefined) {
    const r = ((us % step) + step) % step;
    return us - r;
  }
  const [days] = split(us);
  const [y, mo] = civilFromDays(days);
  const firstMonth = u === 'year' ? 1 : u === 'quarter' ? mo - ((mo - 1) % 3) : u === 'month' ? mo : 0;
  if (u === 'week') {
    const dow = (((days + 3) % 7) + 7) % 7; // 0 = Monday
    return BigInt(days - dow) * DAY_US;
  }
  if (firstMonth === 0) {
    throw new SqlError('ERR_SQL_INVALID_PARAMETER_VALUE', `timestamp units "${unit}" not recognized`);
  }
  return BigInt(daysFromCivil(y, firstMonth, 1)) * DAY_US;
}
