import { TeeError } from '../errors.ts';

/** A JSON object whose fields are read with the checked accessors below. */
export type JsonObject = Readonly<Record<string, unknown>>;

/** Throws `ERR_COLLATERAL_MALFORMED` naming the field at `path`. */
export function malformedField(path: string, message: string, value?: unknown): never {
  throw new TeeError('ERR_COLLATERAL_MALFORMED', `${path}: ${message}`, {
    check: 'collateral-parse',
    ...(value !== undefined ? { value: String(JSON.stringify(value)).slice(0, 80) } : {}),
  });
}

/** Parses JSON text; a syntax error is `ERR_COLLATERAL_MALFORMED`. */
export function parseJsonObject(text: string, what: string): JsonObject {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new TeeError('ERR_COLLATERAL_MALFORMED', `${what} is not valid JSON: ${(err as Error).message}`, {
      check: 'collateral-parse',
    });
  }
  return asObject(doc, what);
}

/** A JSON object, or `ERR_COLLATERAL_MALFORMED` naming `path`. */
export function asObject(value: unknown, path: string): JsonObject {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    malformedField(path, 'expected an object', value);
  return value as JsonObject;
}

/** A JSON array, or `ERR_COLLATERAL_MALFORMED` naming `path`. */
export function asArray(value: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(value)) malformedField(path, 'expected an array', value);
  return value;
}

/** A string, or `ERR_COLLATERAL_MALFORMED` naming `path`. */
export function asString(value: unknown, path: string): string {
  if (typeof value !== 'string') malformedField(path, 'expected a string', value);
  return value;
}

/** An integer in 0..`max`, or `ERR_COLLATERAL_MALFORMED` naming `path`. */
export function asInt(value: unknown, path: string, max = 0xffff): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    malformedField(path, `expected an integer in 0..${max}`, value);
  }
  return value;
}

/** A hex string of exactly `size` bytes, as a Buffer. */
export function asHex(value: unknown, path: string, size: number): Buffer {
  const s = asString(value, path);
  if (s.length !== size * 2 || !/^[0-9a-fA-F]*$/.test(s))
    malformedField(path, `expected ${size} bytes of hex`, value);
  return Buffer.from(s, 'hex');
}

/** An ISO 8601 UTC date-time. */
export function asDate(value: unknown, path: string): Date {
  const s = asString(value, path);
  const d = new Date(s);
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(s) || Number.isNaN(d.getTime())) {
    malformedField(path, 'expected an ISO 8601 UTC date-time', value);
  }
  return d;
}

/** Advisory ids (optional field): a sorted, de-duplicated list. */
export function asAdvisories(value: unknown, path: string): readonly string[] {
  if (value === undefined) return [];
  return asArray(value, path).map((v, i) => asString(v, `${path}[${i}]`));
}

/** Throws `ERR_COLLATERAL_EXPIRED` unless issueDate ≤ `at` ≤ nextUpdate. */
export function assertCollateralWindow(
  what: string,
  issueDate: Date,
  nextUpdate: Date,
  at: Date,
  check: string,
): void {
  if (at < issueDate || at > nextUpdate) {
    const when = at < issueDate ? 'was not yet issued' : 'has expired';
    throw new TeeError(
      'ERR_COLLATERAL_EXPIRED',
      `${what} ${when} at ${at.toISOString()}; fetch collateral valid at the verification time`,
      { check, value: at.toISOString(), expected: `${issueDate.toISOString()}..${nextUpdate.toISOString()}` },
    );
  }
}
