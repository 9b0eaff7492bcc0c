/**
 * Typed message codecs: a schema ({@link FieldSchema}) gives a TypeScript type, a compact binary
 * encoding (or JSON), a size limit, and validation of everything decoded — a message from the bus is
 * hostile until its codec has accepted it. Decoding never lets a RangeError or TypeError escape:
 * every refusal is a BusError `ERR_BUS_MESSAGE_INVALID` or `ERR_BUS_MESSAGE_TOO_LARGE`.
 *
 * Binary layout: `SC` (2 bytes), format version 1 (1 byte), the schema fingerprint (the first 4
 * bytes of SHA-256 of the canonical schema text: a peer with another schema is refused), then the
 * fields in sorted key order: strings and bytes as LEB128 length + content (UTF-8 for strings),
 * numbers and timestamps (ms since the epoch) as IEEE-754 float64 big-endian, booleans as 0/1,
 * enums as LEB128 index, lists as LEB128 count + items; an optional field has a 0/1 presence byte.
 */
import { createHash } from 'node:crypto';
import { CODEC_MAGIC, readBinary, writeBinary } from './codec-binary.ts';
import {
  checkObject,
  describeSchema,
  type FieldSchema,
  type InferObject,
  invalid,
  type ObjectFields,
  sortedFields,
} from './codec-schema.ts';
import { BusError } from './errors.ts';
import { BUS_DEFAULTS } from './transport.ts';

export type { FieldSchema, Infer, InferObject, ObjectFields } from './codec-schema.ts';

/** Encodes and decodes one message type. */
export interface MessageCodec<T> {
  readonly name: string;
  readonly format: 'binary' | 'json';
  /** Largest encoded message accepted either way. */
  readonly maxBytes: number;
  /** 8 hex digits identifying the schema (in every binary message). */
  readonly fingerprint: string;
  /** Validates and encodes; ERR_BUS_MESSAGE_INVALID / ERR_BUS_MESSAGE_TOO_LARGE. */
  encode(value: T): Uint8Array;
  /** Decodes and validates untrusted bytes; ERR_BUS_MESSAGE_INVALID / ERR_BUS_MESSAGE_TOO_LARGE. */
  decode(bytes: Uint8Array): T;
}

/** Options of {@link defineCodec}. */
export interface CodecOptions {
  /** Default `binary`. */
  readonly format?: 'binary' | 'json';
  /** Default 1 MiB (the transport's default frame limit). */
  readonly maxBytes?: number;
}

export { CODEC_MAGIC };

/**
 * Defines a codec for objects with `fields`.
 *
 * @example
 * const Reading = defineCodec('reading', {
 *   meter: { type: 'string', maxLength: 32 },
 *   at: { type: 'timestamp' },
 *   kw: { type: 'number', min: 0 },
 *   region: { type: 'enum', values: ['north', 'south'] },
 *   note: { type: 'string', optional: true },
 * });
 * const bytes = Reading.encode({ meter: 'm1', at: new Date(), kw: 5.2, region: 'north' });
 * const reading = Reading.decode(bytes); // typed, validated
 */
export function defineCodec<S extends ObjectFields>(
  name: string,
  fields: S,
  options: CodecOptions = {},
): MessageCodec<InferObject<S>> {
  const format = options.format ?? 'binary';
  const maxBytes = options.maxBytes ?? BUS_DEFAULTS.maxFrameBytes;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 8)
    throw new TypeError('maxBytes must be an integer >= 8');
  const schema: FieldSchema = { type: 'object', fields };
  const digest = createHash('sha256').update(describeSchema(schema)).digest();
  const fingerprint = digest.subarray(0, 4);
  const tooLarge = (size: number) =>
    new BusError('ERR_BUS_MESSAGE_TOO_LARGE', `${name}: ${size} bytes exceeds the limit of ${maxBytes}`, {
      detail: { codec: name, size, maxBytes },
    });
  return {
    name,
    format,
    maxBytes,
    fingerprint: fingerprint.toString('hex'),
    encode(value) {
      checkObject(name, fields, value, '');
      const bytes =
        format === 'json'
          ? new TextEncoder().encode(JSON.stringify(toJson(fields, value)))
          : writeBinary(schema, value, fingerprint);
      if (bytes.length > maxBytes) throw tooLarge(bytes.length);
      return bytes;
    },
    decode(bytes) {
      if (!(bytes instanceof Uint8Array)) throw new TypeError('decode takes a Uint8Array');
      if (bytes.length > maxBytes) throw tooLarge(bytes.length);
      const value =
        format === 'json' ? fromJsonBytes(name, fields, bytes) : readBinary(name, schema, bytes, fingerprint);
      checkObject(name, fields, value, '');
      return value as InferObject<S>;
    },
  };
}

function toJson(fields: ObjectFields, value: unknown): unknown {
  const record = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, field] of sortedFields(fields)) {
    if (record[key] !== undefined) out[key] = fieldToJson(field, record[key]);
  }
  return out;
}

function fieldToJson(field: FieldSchema, value: unknown): unknown {
  if (field.type === 'timestamp') return (value as Date).toISOString();
  if (field.type === 'bytes') return Buffer.from(value as Uint8Array).toString('base64');
  if (field.type === 'list') return (value as unknown[]).map((v) => fieldToJson(field.of, v));
  if (field.type === 'object') return toJson(field.fields, value);
  return value;
}

function fromJsonBytes(codec: string, fields: ObjectFields, bytes: Uint8Array): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return invalid(codec, '', 'not valid UTF-8 JSON');
  }
  return fromJson(codec, { type: 'object', fields }, parsed, '');
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Converts JSON forms (ISO time, base64) back; shape errors are left to validation. */
function fromJson(codec: string, field: FieldSchema, value: unknown, path: string): unknown {
  if (value === undefined || value === null) return value === null ? null : undefined;
  switch (field.type) {
    case 'timestamp':
      if (typeof value !== 'string' || !ISO_TIME.test(value))
        invalid(codec, path, 'expected an ISO 8601 UTC time');
      return new Date(value);
    case 'bytes':
      if (typeof value !== 'string' || value.length % 4 !== 0 || !BASE64.test(value))
        invalid(codec, path, 'expected base64');
      return new Uint8Array(Buffer.from(value, 'base64'));
    case 'list':
      return Array.isArray(value)
        ? value.map((v, i) => fromJson(codec, field.of, v, `${path}[${i}]`))
        : value;
    case 'object': {
      if (typeof value !== 'object' || Array.isArray(value)) return value;
      const out: Record<string, unknown> = {};
      for (const [key, v] of Object.entries(value)) {
        const sub = Object.hasOwn(field.fields, key) ? field.fields[key] : undefined;
        // Unknown keys are kept so that validation reports them (defineProperty: "__proto__" stays data).
        Object.defineProperty(out, key, {
          value: sub ? fromJson(codec, sub, v, path === '' ? key : `${path}.${key}`) : v,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    default:
      return value;
  }
}
