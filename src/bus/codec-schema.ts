/**
 * Message schemas: a small description of a message's fields, the TypeScript type it stands for,
 * and validation of untrusted values against it (every failure names the path, what was expected
 * and what was found).
 */
import { BusError } from './errors.ts';

/** One field's type. Every field may be made `optional`. */
export type FieldSchema = (
  | { readonly type: 'string'; readonly maxLength?: number; readonly pattern?: RegExp }
  | { readonly type: 'number'; readonly min?: number; readonly max?: number; readonly integer?: boolean }
  | { readonly type: 'boolean' }
  | { readonly type: 'timestamp' }
  | { readonly type: 'bytes'; readonly maxLength?: number }
  | { readonly type: 'enum'; readonly values: readonly string[] }
  | { readonly type: 'list'; readonly of: FieldSchema; readonly maxItems?: number }
  | { readonly type: 'object'; readonly fields: ObjectFields }
) & { readonly optional?: boolean };

/** The fields of an object schema, by name. */
export type ObjectFields = Readonly<Record<string, FieldSchema>>;

type Required<F extends FieldSchema> = F extends { type: 'string' }
  ? string
  : F extends { type: 'number' }
    ? number
    : F extends { type: 'boolean' }
      ? boolean
      : F extends { type: 'timestamp' }
        ? Date
        : F extends { type: 'bytes' }
          ? Uint8Array
          : F extends { type: 'enum'; values: readonly (infer V)[] }
            ? V
            : F extends { type: 'list'; of: infer O extends FieldSchema }
              ? Infer<O>[]
              : F extends { type: 'object'; fields: infer S extends ObjectFields }
                ? InferObject<S>
                : never;

/** The value type a field schema stands for. */
export type Infer<F extends FieldSchema> = F extends { optional: true }
  ? Required<F> | undefined
  : Required<F>;

type OptionalKeys<S extends ObjectFields> = {
  [K in keyof S]: S[K] extends { optional: true } ? K : never;
}[keyof S];
type RequiredKeys<S extends ObjectFields> = Exclude<keyof S, OptionalKeys<S>>;

/** The object type an object schema's fields stand for. */
export type InferObject<S extends ObjectFields> = { [K in RequiredKeys<S>]: Required<S[K]> } & {
  [K in OptionalKeys<S>]?: Required<S[K]>;
};

/** Default limits where a schema sets none (keep messages bounded even when the schema forgets). */
export const SCHEMA_DEFAULTS = {
  maxStringLength: 65_536,
  maxBytesLength: 1 << 20,
  maxItems: 10_000,
} as const;

/** Throws ERR_BUS_MESSAGE_INVALID naming the codec and the path. */
export function invalid(codec: string, path: string, message: string): never {
  throw new BusError('ERR_BUS_MESSAGE_INVALID', `${codec}: ${path || 'message'}: ${message}`, {
    detail: { codec, path },
  });
}

/** Checks `value` against `schema` (the same rules for encode and for decode). */
export function validate(codec: string, schema: FieldSchema, value: unknown, path: string): void {
  if (value === undefined) {
    if (schema.optional) return;
    invalid(codec, path, `missing (expected ${schema.type})`);
  }
  switch (schema.type) {
    case 'string':
      if (typeof value !== 'string') invalid(codec, path, `expected a string, got ${kind(value)}`);
      if (value.length > (schema.maxLength ?? SCHEMA_DEFAULTS.maxStringLength))
        invalid(codec, path, `longer than ${schema.maxLength ?? SCHEMA_DEFAULTS.maxStringLength} characters`);
      if (schema.pattern && !schema.pattern.test(value))
        invalid(codec, path, `does not match ${schema.pattern}`);
      return;
    case 'number':
      checkNumber(codec, schema, value, path);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') invalid(codec, path, `expected true or false, got ${kind(value)}`);
      return;
    case 'timestamp':
      if (!(value instanceof Date) || Number.isNaN(value.getTime()))
        invalid(codec, path, `expected a valid Date, got ${kind(value)}`);
      return;
    case 'bytes':
      if (!(value instanceof Uint8Array)) invalid(codec, path, `expected bytes, got ${kind(value)}`);
      if (value.length > (schema.maxLength ?? SCHEMA_DEFAULTS.maxBytesLength))
        invalid(codec, path, `longer than ${schema.maxLength ?? SCHEMA_DEFAULTS.maxBytesLength} bytes`);
      return;
    case 'enum':
      if (typeof value !== 'string' || !schema.values.includes(value))
        invalid(codec, path, `expected one of ${schema.values.join(', ')}, got ${kind(value)}`);
      return;
    case 'list':
      checkList(codec, schema, value, path);
      return;
    case 'object':
      checkObject(codec, schema.fields, value, path);
      return;
  }
}

function checkNumber(
  codec: string,
  schema: Extract<FieldSchema, { type: 'number' }>,
  value: unknown,
  path: string,
): void {
  if (typeof value !== 'number' || !Number.isFinite(value))
    invalid(codec, path, `expected a finite number, got ${kind(value)}`);
  if (schema.integer && !Number.isSafeInteger(value))
    invalid(codec, path, `expected an integer, got ${value}`);
  if (schema.min !== undefined && value < schema.min) invalid(codec, path, `${value} is below ${schema.min}`);
  if (schema.max !== undefined && value > schema.max) invalid(codec, path, `${value} is above ${schema.max}`);
}

function checkList(
  codec: string,
  schema: Extract<FieldSchema, { type: 'list' }>,
  value: unknown,
  path: string,
): void {
  if (!Array.isArray(value)) invalid(codec, path, `expected a list, got ${kind(value)}`);
  const max = schema.maxItems ?? SCHEMA_DEFAULTS.maxItems;
  if (value.length > max) invalid(codec, path, `more than ${max} items`);
  for (const [i, item] of value.entries()) validate(codec, schema.of, item, `${path}[${i}]`);
}

/** Checks an object: no unknown keys (a typo must not pass silently), every field valid. */
export function checkObject(codec: string, fields: ObjectFields, value: unknown, path: string): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array)
    invalid(codec, path, `expected an object, got ${kind(value)}`);
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!Object.hasOwn(fields, key) && record[key] !== undefined)
      invalid(codec, join(path, key), `unknown field (expected ${Object.keys(fields).join(', ')})`);
  }
  for (const [key, field] of sortedFields(fields)) validate(codec, field, record[key], join(path, key));
}

/** Fields in their canonical (sorted) order: the binary layout and the schema fingerprint use it. */
export function sortedFields(fields: ObjectFields): [string, FieldSchema][] {
  return Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** A canonical text of a schema (for its fingerprint): types, order, optionality, enum values. */
export function describeSchema(schema: FieldSchema): string {
  const opt = schema.optional ? '?' : '';
  switch (schema.type) {
    case 'enum':
      return `enum(${schema.values.map((v) => JSON.stringify(v)).join(',')})${opt}`;
    case 'list':
      return `list(${describeSchema(schema.of)})${opt}`;
    case 'object':
      return `{${sortedFields(schema.fields)
        .map(([k, f]) => `${JSON.stringify(k)}:${describeSchema(f)}`)
        .join(',')}}${opt}`;
    default:
      return `${schema.type}${opt}`;
  }
}

export function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'bytes';
  if (value instanceof Date) return 'an invalid Date';
  if (typeof value === 'string') return value.length > 40 ? 'a long string' : JSON.stringify(value);
  return typeof value === 'object' ? 'an object' : String(value);
}
