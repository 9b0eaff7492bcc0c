/**
 * The JSON form of a meter's stored readings, as `GET /v1/readings` serves them and
 * `securecloud metering audit --file` reads them: every byte string in base64, each signed batch in
 * the portable binary form of `encodeSignedBatch` (docs/inmetro-signatures.md). The audit trusts
 * nothing in it: every reading is checked against the INMETRO public key.
 */
import {
  decodeSignedBatch,
  encodeSignedBatch,
  type SignedBatch,
  type StoredReading,
} from '../inmetro/index.ts';
import { MeteringError } from '../protocol/index.ts';

/** Most readings one export may hold (a year of one meter, with room for duplicates). */
export const MAX_EXPORT_READINGS = 2 * 366 * 96;

/** A signed batch as a base64 string. */
export function encodeSignedBatchJson(b: SignedBatch): string {
  return encodeSignedBatch(b).toString('base64');
}

/** The export a `/v1/readings` answer or an export file holds. */
export interface ReadingsExport {
  readonly meter: string;
  readonly from: number;
  readonly to: number;
  readonly readings: StoredReading[];
  readonly batches: SignedBatch[];
}

/** Parses and bounds an export (hostile input): `ERR_ENVELOPE_MALFORMED` with the path of what is wrong. */
export function parseReadingsExport(value: unknown): ReadingsExport {
  const bad = (path: string, what: string): never => {
    throw new MeteringError('ERR_ENVELOPE_MALFORMED', `readings export: ${path} ${what}`, { check: path });
  };
  if (value === null || typeof value !== 'object') return bad('$', 'is not an object');
  const v = value as Record<string, unknown>;
  const meter =
    typeof v.meter === 'string' && /^[0-9]{8}$/.test(v.meter) ? v.meter : bad('meter', 'is not 8 digits');
  const from = Number.isSafeInteger(v.from) ? (v.from as number) : bad('from', 'is not an integer');
  const to = Number.isSafeInteger(v.to) ? (v.to as number) : bad('to', 'is not an integer');
  if (!Array.isArray(v.readings) || v.readings.length > MAX_EXPORT_READINGS)
    bad('readings', `is not a list of at most ${MAX_EXPORT_READINGS}`);
  if (!Array.isArray(v.batches) || v.batches.length > MAX_EXPORT_READINGS) bad('batches', 'is not a list');
  const b64 = (x: unknown, path: string, max: number): Buffer => {
    if (typeof x !== 'string' || x.length > Math.ceil(max / 3) * 4 + 4)
      return bad(path, 'is not base64 of a bounded size');
    return Buffer.from(x, 'base64');
  };
  const readings = (v.readings as unknown[]).map((r, i): StoredReading => {
    const p = `readings[${i}]`;
    if (r === null || typeof r !== 'object') return bad(p, 'is not an object');
    const o = r as Record<string, unknown>;
    const values: Record<string, number> = {};
    if (o.values !== undefined) {
      if (o.values === null || typeof o.values !== 'object') bad(`${p}.values`, 'is not an object');
      for (const [k, n] of Object.entries(o.values as object)) {
        if (typeof n !== 'number' || Object.keys(values).length > 64)
          bad(`${p}.values.${k}`, 'is not a number');
        values[k] = n as number;
      }
    }
    return {
      meterId:
        typeof o.meterId === 'string' && /^[0-9]{1,8}$/.test(o.meterId)
          ? o.meterId
          : bad(`${p}.meterId`, 'is not a meter id'),
      ts: Number.isSafeInteger(o.ts) ? (o.ts as number) : bad(`${p}.ts`, 'is not an integer'),
      block: b64(o.block, `${p}.block`, 258),
      batchId:
        typeof o.batchId === 'string' && /^[0-9]{1,20}$/.test(o.batchId)
          ? BigInt(o.batchId)
          : bad(`${p}.batchId`, 'is not an integer string'),
      leafIndex: Number.isSafeInteger(o.leafIndex)
        ? (o.leafIndex as number)
        : bad(`${p}.leafIndex`, 'is not an integer'),
      proof: b64(o.proof, `${p}.proof`, 32 * 64),
      ...(o.values === undefined ? {} : { values }),
    };
  });
  const batches = (v.batches as unknown[]).map((b, i) => decodeSignedBatch(b64(b, `batches[${i}]`, 1024)));
  return { meter, from, to, readings, batches };
}
