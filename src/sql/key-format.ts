import { valueToText } from './cast.ts';
import { KeyReader, readAnyElement, readIntNumber } from './key-decoding.ts';
import { formatTimestamp } from './timestamp.ts';

/** Names the table (and index) of a key prefix; undefined when unknown. */
export type KeyNameResolver = (tableId: number, indexId: number) => string | undefined;

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** An element cut short (the bound of a LIKE prefix range): text shown as `abc…`, else hex. */
function partial(rest: Uint8Array): string {
  const tag = rest[0];
  if (tag === 0x02 || tag === 0xfd) {
    const mask = tag === 0x02 ? 0 : 0xff;
    const body = Uint8Array.from(rest.subarray(1), (b) => b ^ mask);
    if (!body.includes(0)) return `${escapeText(new TextDecoder().decode(body))}…`;
  }
  return `0x${hex(rest)}`;
}

function escapeText(s: string): string {
  return s.replace(/[\\|]/g, (c) => `\\${c}`);
}

/**
 * Renders a key in the seed's logical form, `reading|<meter>|<timestamp>`: the table name (or
 * `table@index` for a secondary index, `t<id>` when the table is unknown), then each key column.
 * Timestamps are ISO 8601 UTC; text is shown as is, with `|` and `\` escaped by `\`; bytes as
 * `\x…`. Bytes that do not decode (the end of a prefix range) are shown as `0x…`. Never throws.
 *
 * @example
 * formatKey(key, db.keyNames()) // 'reading|42|2024-03-01T00:15:00Z'
 */
export function formatKey(key: Uint8Array, resolve?: KeyNameResolver): string {
  const r = new KeyReader(key);
  const parts: string[] = [];
  try {
    const tableId = readIntNumber(r);
    if (r.done) return resolve?.(tableId, 0) ?? `t${tableId}`;
    const indexId = readIntNumber(r);
    const name = resolve?.(tableId, indexId) ?? (tableId === 1 && indexId === 1 ? '__catalog' : undefined);
    parts.push(name ?? (indexId === 1 ? `t${tableId}` : `t${tableId}@${indexId}`));
    while (!r.done) {
      const start = r.pos;
      try {
        const el = readAnyElement(r);
        if (el.value === null) parts.push('NULL');
        else if (el.type === 'timestamp') parts.push(formatTimestamp(el.value as bigint, true));
        else if (el.type === 'text') parts.push(escapeText(el.value as string));
        else parts.push(valueToText(el.value, el.type === 'null' ? 'unknown' : el.type));
      } catch {
        parts.push(partial(key.subarray(start)));
        break;
      }
    }
  } catch {
    return `0x${hex(key)}`;
  }
  return parts.join('|');
}
