/**
 * Typed attribute values: validation of publication headers, timestamps (a strict ISO 8601 subset),
 * comparison, and the literal syntax of the filter language.
 */
import { ScbrError } from './errors.ts';
import {
  ATTRIBUTE_NAME,
  type Attributes,
  type AttributeValue,
  FILTER_LIMITS,
  type Header,
  RESERVED_WORDS,
  type TypedValue,
} from './filter-types.ts';

// 0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z: what `@…` literals and toISOString() can write.
const MIN_TIMESTAMP = -62_167_219_200_000;
const MAX_TIMESTAMP = 253_402_300_799_999;
const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * Milliseconds since the epoch of an ISO 8601 date or date-time, or null when it is not one.
 * Accepted: `2025-06-01` (midnight UTC), `2025-06-01T12:30Z`, `2025-06-01T12:30:05.250+02:00`. A time
 * needs a zone (`Z` or `±HH:MM`); fractions have at most 3 digits; impossible dates are refused.
 */
export function parseTimestamp(text: string): number | null {
  const m = TIMESTAMP.exec(text);
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const millis = Number((m[7] ?? '').padEnd(3, '0'));
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return null;
  date.setUTCHours(hour, minute, second, millis);
  const offset = zoneOffsetMs(m[8]);
  if (offset === null) return null;
  const value = date.getTime() - offset;
  return value >= MIN_TIMESTAMP && value <= MAX_TIMESTAMP ? value : null;
}

function zoneOffsetMs(zone: string | undefined): number | null {
  if (zone === undefined || zone === 'Z') return 0;
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (hours > 23 || minutes > 59) return null;
  return (zone[0] === '-' ? -1 : 1) * (hours * 60 + minutes) * 60_000;
}

/** True when `ms` is a timestamp the language can write (years 0000–9999, whole milliseconds). */
export function isTimestampInRange(ms: number): boolean {
  return Number.isInteger(ms) && ms >= MIN_TIMESTAMP && ms <= MAX_TIMESTAMP;
}

/** Whether two typed values are equal (same type and value). */
export function sameValue(a: TypedValue, b: TypedValue): boolean {
  return a.type === b.type && a.value === b.value;
}

/** Orders two values of the same type: negative, zero or positive. Strings by UTF-16 code units. */
export function compareValues(a: TypedValue, b: TypedValue): number {
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** The literal syntax of a value: `12.5`, `"text"`, `true`, `@2025-06-01T00:00:00.000Z`. */
export function formatValue(v: TypedValue): string {
  switch (v.type) {
    case 'number':
      return String(v.value);
    case 'string':
      return JSON.stringify(v.value);
    case 'boolean':
      return v.value ? 'true' : 'false';
    case 'timestamp':
      return `@${new Date(v.value).toISOString()}`;
  }
}

/** True when `name` can be an attribute name. */
export function isAttributeName(name: string): boolean {
  return (
    name.length <= FILTER_LIMITS.maxNameLength &&
    ATTRIBUTE_NAME.test(name) &&
    !RESERVED_WORDS.has(name.toUpperCase())
  );
}

/** The typed form of one caller-supplied value, or a reason why it is not valid. */
export function toTypedValue(value: AttributeValue): TypedValue | string {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return 'numbers must be finite';
    return { type: 'number', value: value === 0 ? 0 : value };
  }
  if (typeof value === 'string') {
    if (value.length > FILTER_LIMITS.maxStringLength)
      return `strings have at most ${FILTER_LIMITS.maxStringLength} characters`;
    return { type: 'string', value };
  }
  if (typeof value === 'boolean') return { type: 'boolean', value };
  if (value instanceof Date) {
    const ms = value.getTime();
    if (!isTimestampInRange(ms)) return 'timestamps must be valid dates in years 0000-9999';
    return { type: 'timestamp', value: ms };
  }
  return 'values are numbers, strings, booleans or Dates';
}

/**
 * Validates publication attributes into a {@link Header}. Throws `ERR_SCBR_ATTRIBUTE_INVALID`
 * naming the attribute (never its value).
 */
export function toHeader(attributes: Attributes | ReadonlyMap<string, AttributeValue>): Header {
  const entries = attributes instanceof Map ? [...attributes] : Object.entries(attributes);
  if (entries.length > FILTER_LIMITS.maxAttributes) {
    throw new ScbrError(
      'ERR_SCBR_ATTRIBUTE_INVALID',
      `a header has at most ${FILTER_LIMITS.maxAttributes} attributes, found ${entries.length}`,
    );
  }
  const header = new Map<string, TypedValue>();
  for (const [name, value] of entries) {
    if (!isAttributeName(name)) {
      throw new ScbrError(
        'ERR_SCBR_ATTRIBUTE_INVALID',
        `attribute name ${JSON.stringify(name.slice(0, 80))} is not valid: a letter or _ then letters, digits, _ or ., at most ${FILTER_LIMITS.maxNameLength} characters, not a reserved word`,
      );
    }
    const typed = toTypedValue(value);
    if (typeof typed === 'string') {
      throw new ScbrError('ERR_SCBR_ATTRIBUTE_INVALID', `attribute ${name}: ${typed}`, {
        detail: { attribute: name },
      });
    }
    header.set(name, typed);
  }
  return header;
}

/** The caller-facing form of a header: timestamps become `Date`s. */
export function fromHeader(header: Header): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {};
  for (const [name, v] of header) out[name] = v.type === 'timestamp' ? new Date(v.value) : v.value;
  return out;
}
