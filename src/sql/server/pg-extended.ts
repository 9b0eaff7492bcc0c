/**
 * The extended query protocol of one connection: Parse, Bind, Describe, Execute, Close with named
 * and unnamed statements and portals, text and binary parameter and result formats, and Execute
 * with a row limit (PortalSuspended). After an error, messages are skipped until Sync.
 */
import { SqlError } from '../errors.ts';
import type { PreparedStatement } from '../prepared.ts';
import type { Session } from '../session.ts';
import { type CatalogSource, emulateCatalog, showDefault } from './pg-catalog.ts';
import {
  errorFields,
  toWire,
  type WireResult,
  writeCommandComplete,
  writeEmpty,
  writeError,
  writeParameterDescription,
  writeRowDescription,
} from './pg-messages.ts';
import { BodyReader, type MessageWriter, type PgMessage, PgProtocolError } from './pg-protocol.ts';
import { firstKeyword, splitStatements } from './pg-split.ts';
import { pgTypeByOid, pgTypeOfParam } from './pg-types.ts';

/** What the extended protocol needs from its connection. */
export interface ExtendedHost {
  readonly session: Session;
  readonly writer: MessageWriter;
  readonly source: CatalogSource;
  run<T>(f: (signal: AbortSignal) => Promise<T>): Promise<T>;
  sendRows(r: WireResult, formats: readonly number[], from: number, count: number): Promise<number>;
  flushIfFull(): Promise<void>;
}

interface Statement {
  readonly sql: string;
  readonly paramOids: readonly number[];
  readonly kind: 'blank' | 'emulated' | 'engine';
  readonly prepared: PreparedStatement | undefined;
}

interface Portal {
  readonly statement: Statement;
  readonly params: unknown[];
  readonly formats: readonly number[];
  result: WireResult | undefined;
  sent: number;
}

const MAX_PARAMS = 65535;
const CACHE_SIZE = 64;

function formatCodes(r: BodyReader, what: string): number[] {
  const n = r.count(MAX_PARAMS, `${what} format count`);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const f = r.int16(`${what} format`);
    if (f !== 0 && f !== 1) throw new PgProtocolError(`invalid ${what} format code ${f}`);
    out.push(f);
  }
  return out;
}

export class PgExtendedQuery {
  readonly #h: ExtendedHost;
  readonly #statements = new Map<string, Statement>();
  readonly #portals = new Map<string, Portal>();
  /** Prepared statements by SQL text: clients re-Parse the same unnamed statement per query. */
  readonly #cache = new Map<string, PreparedStatement>();
  #skipping = false;

  constructor(host: ExtendedHost) {
    this.#h = host;
  }

  /** True after an error, until Sync. */
  get skipping(): boolean {
    return this.#skipping;
  }

  /** Handles P/B/D/E/C; false for another message type. */
  async handle(msg: PgMessage): Promise<boolean> {
    const r = new BodyReader(msg.body);
    try {
      switch (msg.type) {
        case 0x50:
          await this.#parse(r);
          return true;
        case 0x42:
          this.#bind(r);
          return true;
        case 0x44:
          await this.#describe(r);
          return true;
        case 0x45:
          await this.#execute(r);
          return true;
        case 0x43:
          this.#close(r);
          return true;
        default:
          return false;
      }
    } catch (err) {
      if (err instanceof PgProtocolError) throw err;
      this.fail(err);
      return true;
    }
  }

  /** Sends an error and skips messages until Sync. */
  fail(err: unknown, sql?: string): void {
    writeError(this.#h.writer, errorFields(err, sql));
    this.#skipping = true;
  }

  /** Sync: errors are forgotten; outside a transaction, portals end with it. */
  sync(): void {
    this.#skipping = false;
    if (!this.#h.session.inTransaction) this.#portals.clear();
  }

  async #parse(r: BodyReader): Promise<void> {
    const name = r.cstring('statement name');
    const sql = r.cstring('query string');
    const n = r.count(MAX_PARAMS, 'parameter type count');
    const paramOids: number[] = [];
    for (let i = 0; i < n; i++) paramOids.push(r.int32('parameter type'));
    r.end('Parse');
    if (name !== '' && this.#statements.has(name)) {
      throw new SqlError('ERR_SQL_DUPLICATE_OBJECT', `prepared statement "${name}" already exists`);
    }
    const parts = splitStatements(sql);
    if (parts.length > 1) {
      throw new SqlError('ERR_SQL_SYNTAX', 'cannot insert multiple commands into a prepared statement');
    }
    let statement: Statement;
    if (parts.length === 0) statement = { sql, paramOids, kind: 'blank', prepared: undefined };
    else if (this.#emulated(sql) !== undefined)
      statement = { sql, paramOids, kind: 'emulated', prepared: undefined };
    else {
      try {
        statement = { sql, paramOids, kind: 'engine', prepared: await this.#prepare(sql) };
      } catch (err) {
        this.fail(err, sql);
        return;
      }
    }
    this.#statements.set(name, statement);
    writeEmpty(this.#h.writer, '1');
  }

  async #prepare(sql: string): Promise<PreparedStatement> {
    const hit = this.#cache.get(sql);
    if (hit !== undefined) return hit;
    const p = await this.#h.session.prepare(sql);
    this.#cache.set(sql, p);
    if (this.#cache.size > CACHE_SIZE) this.#cache.delete(this.#cache.keys().next().value!);
    return p;
  }

  #emulated(sql: string): WireResult | undefined {
    const e = emulateCatalog(sql, this.#h.source);
    if (e === 'unsupported') {
      throw new SqlError('ERR_SQL_FEATURE_NOT_SUPPORTED', 'this catalog query is not supported by CascaDB');
    }
    return e;
  }

  #paramTypes(s: Statement): number[] {
    const engine = s.prepared?.paramTypes ?? [];
    return engine.map((t, i) => (s.paramOids[i] ? s.paramOids[i]! : pgTypeOfParam(t).oid));
  }

  #bind(r: BodyReader): void {
    const portalName = r.cstring('portal name');
    const statementName = r.cstring('statement name');
    const paramFormats = formatCodes(r, 'parameter');
    const n = r.count(MAX_PARAMS, 'parameter count');
    const params: unknown[] = [];
    const statement = this.#statements.get(statementName);
    for (let i = 0; i < n; i++) {
      const len = r.int32('parameter length');
      if (len === -1) {
        params.push(null);
        continue;
      }
      if (len < -1) throw new PgProtocolError(`invalid parameter length ${len}`);
      const bytes = r.bytes(len, 'parameter value');
      const binary = (paramFormats.length === 1 ? paramFormats[0] : paramFormats[i]) === 1;
      params.push(binary ? this.#binaryParam(statement, i, bytes) : bytes.toString('utf8'));
    }
    const formats = formatCodes(r, 'result');
    r.end('Bind');
    if (paramFormats.length > 1 && paramFormats.length !== n) {
      throw new PgProtocolError(
        `bind message has ${paramFormats.length} parameter formats but ${n} parameters`,
      );
    }
    if (statement === undefined) {
      throw new SqlError('ERR_SQL_UNDEFINED_OBJECT', `prepared statement "${statementName}" does not exist`);
    }
    const expected = statement.prepared?.paramTypes.length ?? 0;
    if (n !== expected) {
      throw new SqlError(
        'ERR_SQL_PROTOCOL_VIOLATION',
        `bind message supplies ${n} parameters, but prepared statement "${statementName}" requires ${expected}`,
      );
    }
    if (portalName !== '' && this.#portals.has(portalName)) {
      throw new SqlError('ERR_SQL_DUPLICATE_OBJECT', `portal "${portalName}" already exists`);
    }
    this.#portals.set(portalName, { statement, params, formats, result: undefined, sent: 0 });
    writeEmpty(this.#h.writer, '2');
  }

  #binaryParam(s: Statement | undefined, i: number, bytes: Buffer): unknown {
    const declared = s?.paramOids[i];
    const engine = s?.prepared?.paramTypes[i];
    const type = declared ? pgTypeByOid(declared) : engine === undefined ? undefined : pgTypeOfParam(engine);
    if (type === undefined) {
      throw new SqlError(
        'ERR_SQL_FEATURE_NOT_SUPPORTED',
        `binary format of parameter $${i + 1} (type ${declared})`,
      );
    }
    return type.fromBinary(bytes);
  }

  async #describe(r: BodyReader): Promise<void> {
    const kind = r.byte('describe kind');
    const name = r.cstring('name');
    r.end('Describe');
    const w = this.#h.writer;
    if (kind === 0x53) {
      const s = this.#statements.get(name);
      if (s === undefined)
        throw new SqlError('ERR_SQL_UNDEFINED_OBJECT', `prepared statement "${name}" does not exist`);
      writeParameterDescription(w, this.#paramTypes(s));
      const columns =
        s.kind === 'emulated'
          ? this.#emulated(s.sql)!.columns
          : toWire({ columns: s.prepared?.columns ?? [], rows: [], command: '' }).columns;
      if (columns.length > 0) writeRowDescription(w, columns, []);
      else writeEmpty(w, 'n');
      return;
    }
    if (kind !== 0x50) throw new PgProtocolError(`invalid describe kind ${kind}`);
    const p = this.#portals.get(name);
    if (p === undefined) throw new SqlError('ERR_SQL_UNDEFINED_OBJECT', `portal "${name}" does not exist`);
    let columns = p.statement.prepared?.columns.length
      ? toWire({ columns: p.statement.prepared.columns, rows: [], command: '' }).columns
      : [];
    // SHOW, EXPLAIN and emulated answers know their columns only once run: run the portal now.
    if (columns.length === 0 && p.statement.kind !== 'blank' && this.#returnsRows(p.statement)) {
      p.result ??= await this.#run(p);
      columns = p.result.columns;
    }
    if (columns.length > 0) writeRowDescription(w, columns, p.formats);
    else writeEmpty(w, 'n');
  }

  #returnsRows(s: Statement): boolean {
    if (s.kind === 'emulated') return true;
    const k = firstKeyword(s.sql);
    return k === 'SHOW' || k === 'EXPLAIN' || k === 'SELECT';
  }

  async #run(p: Portal): Promise<WireResult> {
    const s = p.statement;
    if (s.kind === 'emulated') return this.#emulated(s.sql)!;
    try {
      return toWire(await this.#h.run((signal) => s.prepared!.query(p.params, { signal })));
    } catch (err) {
      const show = /^\s*SHOW\s+([A-Za-z_]+)\s*;?\s*$/i.exec(s.sql);
      const fallback = show === null ? undefined : showDefault(show[1]!);
      if (fallback !== undefined && err instanceof SqlError && err.code === 'ERR_SQL_UNDEFINED_OBJECT')
        return fallback;
      throw err;
    }
  }

  async #execute(r: BodyReader): Promise<void> {
    const name = r.cstring('portal name');
    const maxRows = r.int32('row limit');
    r.end('Execute');
    const p = this.#portals.get(name);
    if (p === undefined) throw new SqlError('ERR_SQL_UNDEFINED_OBJECT', `portal "${name}" does not exist`);
    if (p.statement.kind === 'blank') {
      writeEmpty(this.#h.writer, 'I');
      return;
    }
    try {
      p.result ??= await this.#run(p);
    } catch (err) {
      this.fail(err, p.statement.sql);
      return;
    }
    const result = p.result;
    const from = p.sent;
    const count = maxRows > 0 ? maxRows : result.rows.length - from;
    p.sent = await this.#h.sendRows(result, p.formats, from, Math.max(count, 0) || Number.MAX_SAFE_INTEGER);
    if (p.sent < result.rows.length) {
      writeEmpty(this.#h.writer, 's');
      return;
    }
    const tag = result.command.startsWith('SELECT') && from > 0 ? `SELECT ${p.sent - from}` : result.command;
    writeCommandComplete(this.#h.writer, tag);
  }

  #close(r: BodyReader): void {
    const kind = r.byte('close kind');
    const name = r.cstring('name');
    r.end('Close');
    if (kind === 0x53) this.#statements.delete(name);
    else if (kind === 0x50) this.#portals.delete(name);
    else throw new PgProtocolError(`invalid close kind ${kind}`);
    writeEmpty(this.#h.writer, '3');
  }
}
