import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { fromHex } from './bytes.ts';
import { TeeError } from './errors.ts';

/** Evidence files larger than this are refused before parsing (a quote is a few KiB). */
export const MAX_EVIDENCE_FILE_BYTES = 1 << 20;

const BASE64_TEXT = /^[A-Za-z0-9+/=\s_-]+$/;

/**
 * Decodes the bytes of an evidence file. `.hex` files are hex text; a JSON document is searched
 * for a `quote` or `report` string (base64 or hex) as cloud providers wrap it; a file made only of
 * base64 characters is base64; everything else is the binary evidence itself.
 */
export function decodeEvidenceFile(bytes: Uint8Array, name: string): Buffer {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (extname(name).toLowerCase() === '.hex') {
    try {
      return fromHex(buf.toString('latin1'));
    } catch (err) {
      throw new TeeError(
        'ERR_EVIDENCE_FORMAT',
        `${name}: a .hex file must hold hexadecimal digits only`,
        {},
        { cause: err },
      );
    }
  }
  const text = buf.toString('latin1').trim();
  if (text.startsWith('{')) return decodeJsonEvidence(text, name);
  if (text.length >= 16 && BASE64_TEXT.test(text)) return Buffer.from(text, 'base64');
  return buf;
}

function decodeJsonEvidence(text: string, name: string): Buffer {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new TeeError(
      'ERR_EVIDENCE_FORMAT',
      `${name}: looks like JSON but does not parse`,
      {},
      { cause: err },
    );
  }
  const found = findEvidenceString(doc, 0);
  if (found === null) {
    throw new TeeError(
      'ERR_EVIDENCE_FORMAT',
      `${name}: JSON document without a "quote" or "report" string; pass the raw evidence, its .hex form, or base64`,
    );
  }
  return /^[0-9a-fA-F]+$/.test(found) && found.length % 2 === 0
    ? fromHex(found)
    : Buffer.from(found, 'base64');
}

function findEvidenceString(doc: unknown, depth: number): string | null {
  if (depth > 8 || doc === null || typeof doc !== 'object') return null;
  for (const [key, value] of Object.entries(doc)) {
    if ((key === 'quote' || key === 'report') && typeof value === 'string' && value.length > 0) return value;
  }
  for (const value of Object.values(doc)) {
    const inner = findEvidenceString(value, depth + 1);
    if (inner !== null) return inner;
  }
  return null;
}

/** Reads and decodes an evidence file (see {@link decodeEvidenceFile}). */
export async function readEvidenceFile(
  path: string,
  options: { signal?: AbortSignal } = {},
): Promise<Buffer> {
  const bytes = await readBoundedFile(path, MAX_EVIDENCE_FILE_BYTES, options.signal);
  return decodeEvidenceFile(bytes, path);
}

/** Reads a whole file, refusing files above `limit` bytes. */
export async function readBoundedFile(path: string, limit: number, signal?: AbortSignal): Promise<Buffer> {
  const bytes = await readFile(path, signal ? { signal } : {});
  if (bytes.length > limit) {
    throw new TeeError(
      'ERR_EVIDENCE_FORMAT',
      `${path} is ${bytes.length} bytes; at most ${limit} are accepted`,
    );
  }
  return bytes;
}
