/** Validation of request bodies at the HTTP edge: shapes and sizes, before the CAS sees them. */
import type { HttpRequest } from '../platform/http.ts';
import { CasError } from './errors.ts';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The JSON body as an object, or ERR_BAD_REQUEST. */
export async function bodyObject(req: HttpRequest): Promise<Record<string, unknown>> {
  const body = await req.json();
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new CasError('ERR_BAD_REQUEST', 'the request body must be a JSON object');
  return body as Record<string, unknown>;
}

/** A string field of at most `max` characters. */
export function stringField(body: Record<string, unknown>, name: string, max: number): string {
  const value = body[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > max)
    throw new CasError(
      'ERR_BAD_REQUEST',
      `"${name}" must be a non-empty string of at most ${max} characters`,
      {
        path: name,
      },
    );
  return value;
}

/** Decodes strict base64 of at most `maxBytes` decoded bytes. */
export function base64Value(value: unknown, path: string, maxBytes: number): Buffer {
  if (typeof value !== 'string' || value.length % 4 !== 0 || !BASE64.test(value))
    throw new CasError('ERR_BAD_REQUEST', `"${path}" must be base64`, { path });
  if ((value.length / 4) * 3 > maxBytes + 2)
    throw new CasError('ERR_BAD_REQUEST', `"${path}" exceeds ${maxBytes} bytes`, { path });
  return Buffer.from(value, 'base64');
}

/** The SPKI (DER) of the client certificate, or null when none was presented. */
export function callerKey(req: HttpRequest): Buffer | null {
  return req.peerCertificate?.publicKey.export({ type: 'spki', format: 'der' }) ?? null;
}
