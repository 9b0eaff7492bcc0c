/**
 * The backend messages CascaDB sends, written into a {@link MessageWriter}: authentication,
 * parameter status, row descriptions and data rows, command completion, errors and notices.
 */
import { isSqlError } from '../errors.ts';
import { type MessageWriter, PgProtocolError } from './pg-protocol.ts';
import { ScramError } from './pg-scram.ts';
import { type PgType, pgTypeOf } from './pg-types.ts';

/** A column as the wire describes it. */
export interface WireColumn {
  readonly name: string;
  readonly type: PgType;
}

/** A statement's answer, engine or emulated, ready to be sent. */
export interface WireResult {
  readonly columns: readonly WireColumn[];
  readonly rows: readonly unknown[][];
  readonly command: string;
}

/** Converts an engine result to wire columns. */
export function toWire(r: {
  columns: readonly { name: string; type: string }[];
  rows: unknown[][];
  command: string;
}): WireResult {
  return {
    columns: r.columns.map((c) => ({ name: c.name, type: pgTypeOf(c.type) })),
    rows: r.rows,
    command: r.command,
  };
}

/** The fields of an ErrorResponse or NoticeResponse. */
export interface PgErrorFields {
  readonly severity: 'ERROR' | 'FATAL' | 'NOTICE' | 'WARNING';
  readonly code: string;
  readonly message: string;
  readonly detail?: string | undefined;
  readonly hint?: string | undefined;
  /** 1-based character position in the query string. */
  readonly position?: number | undefined;
}

export function writeAuth(w: MessageWriter, code: number, data?: Buffer | string): void {
  w.begin('R').int32(code);
  if (typeof data === 'string') w.bytes(Buffer.from(data));
  else if (data !== undefined) w.bytes(data);
  w.end();
}

export function writeParameterStatus(w: MessageWriter, name: string, value: string): void {
  w.begin('S').cstring(name).cstring(value).end();
}

export function writeReady(w: MessageWriter, status: 'I' | 'T' | 'E'): void {
  w.begin('Z').byte(status.charCodeAt(0)).end();
}

export function writeRowDescription(
  w: MessageWriter,
  columns: readonly WireColumn[],
  formats: readonly number[],
): void {
  w.begin('T').int16(columns.length);
  columns.forEach((c, i) => {
    w.cstring(c.name).int32(0).int16(0).int32(c.type.oid).int16(c.type.size).int32(-1);
    w.int16(formatAt(formats, i));
  });
  w.end();
}

/** The format code of column `i` under Bind's rules (none: text; one: all; else one each). */
export function formatAt(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0;
  return (formats.length === 1 ? formats[0] : formats[i]) ?? 0;
}

export function writeDataRow(
  w: MessageWriter,
  row: readonly unknown[],
  columns: readonly WireColumn[],
  formats: readonly number[],
): void {
  w.begin('D').int16(row.length);
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    const type = columns[i]!.type;
    if (v === null || v === undefined) w.int32(-1);
    else if (formatAt(formats, i) === 1) {
      const b = type.binary(v);
      w.int32(b.length).bytes(b);
    } else w.lstring(type.text(v));
  }
  w.end();
}

export function writeCommandComplete(w: MessageWriter, tag: string): void {
  w.begin('C').cstring(tag).end();
}

export function writeParameterDescription(w: MessageWriter, oids: readonly number[]): void {
  w.begin('t').int16(oids.length);
  for (const oid of oids) w.int32(oid);
  w.end();
}

/** A message with no body: `1` ParseComplete, `2` BindComplete, `3` CloseComplete, `n` NoData, `s` PortalSuspended, `I` EmptyQueryResponse. */
export function writeEmpty(w: MessageWriter, type: '1' | '2' | '3' | 'n' | 's' | 'I'): void {
  w.begin(type).end();
}

export function writeError(w: MessageWriter, f: PgErrorFields): void {
  w.begin(f.severity === 'NOTICE' || f.severity === 'WARNING' ? 'N' : 'E');
  w.byte(0x53).cstring(f.severity).byte(0x56).cstring(f.severity);
  w.byte(0x43).cstring(f.code).byte(0x4d).cstring(f.message);
  if (f.detail !== undefined) w.byte(0x44).cstring(f.detail);
  if (f.hint !== undefined) w.byte(0x48).cstring(f.hint);
  if (f.position !== undefined) w.byte(0x50).cstring(String(f.position));
  w.byte(0).end();
}

/** The 1-based character position of a 0-based JS string offset (PostgreSQL counts characters). */
export function characterPosition(text: string, offset: number): number {
  let n = 1;
  for (let i = 0; i < offset && i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}

/**
 * The error fields of anything a statement threw. SQL errors keep their SQLSTATE, position
 * (made relative to the whole query string by `base`), detail and hint; anything else is an
 * internal error whose message is not sent (it may name internals).
 */
export function errorFields(err: unknown, text?: string, base = 0): PgErrorFields {
  if (isSqlError(err)) {
    const position =
      err.position !== undefined && text !== undefined
        ? characterPosition(text, base + err.position.offset - 1)
        : undefined;
    return {
      severity: 'ERROR',
      code: err.sqlstate,
      message: err.message,
      detail: err.detail,
      hint: err.hint,
      position,
    };
  }
  if (err instanceof PgProtocolError || err instanceof ScramError) {
    return { severity: 'ERROR', code: err.sqlstate, message: err.message };
  }
  return { severity: 'ERROR', code: 'XX000', message: 'internal error (see the server log)' };
}
