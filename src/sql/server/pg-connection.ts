/**
 * One client connection: reads messages with back-pressure (the socket is paused while a
 * statement runs and messages queue up), runs the startup and authentication phases
 * ({@link PgStartup}), then simple and extended queries against its own CascaDB session. A
 * malformed message ends this connection only (FATAL 08P01); a disconnect rolls back its open
 * transaction.
 */
import type { Socket } from 'node:net';
import type { Database } from '../database.ts';
import { SqlError } from '../errors.ts';
import type { Session } from '../session.ts';
import { type CatalogSource, type EmulatedResult, emulateCatalog, showDefault } from './pg-catalog.ts';
import { PgExtendedQuery } from './pg-extended.ts';
import {
  errorFields,
  type PgErrorFields,
  toWire,
  type WireResult,
  writeCommandComplete,
  writeDataRow,
  writeEmpty,
  writeError,
  writeReady,
  writeRowDescription,
} from './pg-messages.ts';
import type { ResolvedPgOptions } from './pg-options.ts';
import { BodyReader, MessageFramer, MessageWriter, type PgMessage, PgProtocolError } from './pg-protocol.ts';
import { firstKeyword, splitStatements } from './pg-split.ts';
import { PgStartup, type StartupHost } from './pg-startup.ts';

/** What a connection needs from its server. */
export interface ConnectionHost {
  readonly database: Database;
  readonly options: ResolvedPgOptions;
  register(conn: PgConnection): { pid: number; secret: number } | undefined;
  unregister(conn: PgConnection): void;
  cancel(pid: number, secret: number): void;
}

const FLUSH_BYTES = 64 * 1024;
const PAUSE_BYTES = 1 << 20;
const TXN_KEYWORDS = new Set([
  'BEGIN',
  'START',
  'COMMIT',
  'END',
  'ROLLBACK',
  'ABORT',
  'SAVEPOINT',
  'RELEASE',
  'PREPARE',
]);

export class PgConnection {
  #socket: Socket;
  readonly #host: ConnectionHost;
  readonly #framer: MessageFramer;
  readonly #w = new MessageWriter();
  readonly #startup: PgStartup;
  #extended: PgExtendedQuery | undefined;
  #session: Session | undefined;
  #busy = false;
  #closed = false;
  #shutdown = false;
  #atSync = true;
  #running: AbortController | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  #startupTimer: NodeJS.Timeout | undefined;
  readonly #done: Promise<void>;
  #resolveDone!: () => void;
  #source: CatalogSource | undefined;

  constructor(socket: Socket, host: ConnectionHost) {
    this.#socket = socket;
    this.#host = host;
    this.#framer = new MessageFramer(host.options.maxMessageBytes);
    this.#done = new Promise((r) => {
      this.#resolveDone = r;
    });
    this.#startup = new PgStartup(this.#startupHost());
    this.#attach(socket);
    this.#startupTimer = setTimeout(
      () =>
        this.#fatal({ severity: 'FATAL', code: '08P01', message: 'canceling authentication due to timeout' }),
      host.options.startupTimeoutMs,
    );
    this.#startupTimer.unref();
  }

  /** Resolves when the connection has closed and its session is released. */
  get closed(): Promise<void> {
    return this.#done;
  }

  /** True while a message is being processed (a statement may be running). */
  get busy(): boolean {
    return this.#busy;
  }

  #startupHost(): StartupHost {
    return {
      options: this.#host.options,
      writer: this.#w,
      framer: this.#framer,
      socket: () => this.#socket,
      replaceSocket: (s) => {
        this.#detach(this.#socket);
        this.#socket = s;
        this.#attach(s);
      },
      flush: () => this.#flush(),
      register: () => this.#host.register(this),
      cancel: (pid, secret) => this.#host.cancel(pid, secret),
      ready: (user, database) => this.#ready(user, database),
      fatal: (f) => this.#fatal(f),
      close: () => this.#destroy(),
    };
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#clearIdle();
    this.#framer.push(chunk);
    if (this.#busy && this.#framer.buffered > PAUSE_BYTES) this.#socket.pause();
    void this.#pump();
  };
  readonly #onClose = (): void => {
    void this.#cleanup();
  };
  readonly #onError = (): void => {
    this.#socket.destroy();
  };

  #attach(s: Socket): void {
    s.on('data', this.#onData);
    s.on('close', this.#onClose);
    s.on('error', this.#onError);
  }

  #detach(s: Socket): void {
    s.off('data', this.#onData);
    s.off('close', this.#onClose);
    s.off('error', this.#onError);
  }

  #ready(user: string, database: string): void {
    clearTimeout(this.#startupTimer);
    const session = this.#host.database.session();
    this.#session = session;
    const db = this.#host.database;
    this.#source = { tables: () => db.tables(), user, database };
    this.#extended = new PgExtendedQuery({
      session,
      writer: this.#w,
      source: this.#source,
      run: (f) => this.#withSignal(f),
      sendRows: (r, formats, from, count) => this.#sendRows(r, formats, from, count),
      flushIfFull: () => this.#flushIfFull(),
    });
  }

  async #pump(): Promise<void> {
    if (this.#busy || this.#closed) return;
    this.#busy = true;
    try {
      for (;;) {
        if (this.#closed || (this.#shutdown && this.#atSync && this.#session !== undefined)) break;
        const msg = this.#framer.next();
        if (msg === undefined) break;
        await this.#dispatch(msg);
      }
    } catch (err) {
      await this.#fatal({ ...errorFields(err), severity: 'FATAL' });
    } finally {
      this.#busy = false;
    }
    if (this.#closed) return;
    if (this.#shutdown && this.#atSync && this.#session !== undefined) {
      await this.#terminate();
      return;
    }
    this.#socket.resume();
    this.#armIdle();
  }

  async #dispatch(msg: PgMessage): Promise<void> {
    if (this.#session === undefined) {
      await this.#startup.handle(msg);
      return;
    }
    this.#atSync = false;
    const ext = this.#extended!;
    if (ext.skipping && msg.type !== 0x53 && msg.type !== 0x58) return;
    switch (msg.type) {
      case 0x51: // Q
        await this.#simpleQuery(msg.body);
        break;
      case 0x53: // S
        new BodyReader(msg.body).end('Sync');
        ext.sync();
        this.#endOfCycle();
        await this.#flush();
        break;
      case 0x48: // H
        new BodyReader(msg.body).end('Flush');
        await this.#flush();
        break;
      case 0x58: // X
        this.#destroy();
        break;
      case 0x46: // F
        ext.fail(
          new SqlError('ERR_SQL_FEATURE_NOT_SUPPORTED', 'the function call protocol is not supported'),
        );
        break;
      default:
        if (!(await ext.handle(msg))) {
          throw new PgProtocolError(`invalid frontend message type ${msg.type}`);
        }
    }
    await this.#flushIfFull();
  }

  #endOfCycle(): void {
    const s = this.#session!;
    writeReady(this.#w, s.inFailedTransaction ? 'E' : s.inTransaction ? 'T' : 'I');
    this.#atSync = true;
  }

  async #withSignal<T>(f: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ac = new AbortController();
    this.#running = ac;
    try {
      return await f(ac.signal);
    } finally {
      this.#running = undefined;
    }
  }

  async #simpleQuery(body: Buffer): Promise<void> {
    const r = new BodyReader(body);
    const sql = r.cstring('query string');
    r.end('Query');
    const parts = splitStatements(sql);
    const session = this.#session!;
    if (parts.length === 0) writeEmpty(this.#w, 'I');
    // Several statements outside a transaction run as one, as PostgreSQL's implicit transaction.
    const wrap =
      parts.length > 1 &&
      !session.inTransaction &&
      parts.every((p) => !TXN_KEYWORDS.has(firstKeyword(p.text)));
    try {
      if (wrap) await session.query('BEGIN');
      for (const part of parts) {
        try {
          await this.#sendRows(await this.#runText(part.text), [], 0, 0);
          await this.#flushIfFull();
        } catch (err) {
          writeError(this.#w, errorFields(err, sql, part.offset));
          if (wrap) await session.query('ROLLBACK');
          return;
        }
      }
      if (wrap) await session.query('COMMIT');
    } catch (err) {
      writeError(this.#w, errorFields(err));
    } finally {
      this.#endOfCycle();
      await this.#flush();
    }
  }

  /** Runs one statement's text: emulated catalog answer, or the engine. */
  async #runText(text: string): Promise<WireResult> {
    const emulated = this.#emulate(text);
    if (emulated !== undefined) return emulated;
    try {
      return toWire(await this.#withSignal((signal) => this.#session!.query(text, [], { signal })));
    } catch (err) {
      const show = /^\s*SHOW\s+([A-Za-z_]+)\s*$/i.exec(text);
      const fallback = show === null ? undefined : showDefault(show[1]!);
      if (fallback !== undefined && err instanceof SqlError && err.code === 'ERR_SQL_UNDEFINED_OBJECT')
        return fallback;
      throw err;
    }
  }

  #emulate(text: string): EmulatedResult | undefined {
    const e = emulateCatalog(text, this.#source!);
    if (e === 'unsupported') {
      throw new SqlError('ERR_SQL_FEATURE_NOT_SUPPORTED', 'this catalog query is not supported by CascaDB', {
        hint: 'CascaDB emulates the pg_catalog queries of psql \\d, \\dt and \\di',
      });
    }
    return e;
  }

  /** Sends RowDescription (unless `count` > 0: a portal), rows [from, from+count), then the tag. */
  async #sendRows(r: WireResult, formats: readonly number[], from: number, count: number): Promise<number> {
    const portal = count > 0 || from > 0;
    if (!portal && r.columns.length > 0) writeRowDescription(this.#w, r.columns, formats);
    const end = count > 0 ? Math.min(r.rows.length, from + count) : r.rows.length;
    for (let i = from; i < end; i++) {
      writeDataRow(this.#w, r.rows[i]!, r.columns, formats);
      if (this.#w.length >= FLUSH_BYTES) await this.#flush();
    }
    if (!portal) writeCommandComplete(this.#w, r.command);
    return end;
  }

  async #flushIfFull(): Promise<void> {
    if (this.#w.length >= FLUSH_BYTES) await this.#flush();
  }

  /** Writes what is buffered; waits for the socket to drain (bounded by the write timeout). */
  async #flush(): Promise<void> {
    if (this.#w.length === 0 || this.#closed) {
      this.#w.take();
      return;
    }
    const socket = this.#socket;
    if (socket.write(this.#w.take())) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        done();
        socket.destroy();
      }, this.#host.options.writeTimeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        socket.off('drain', done);
        socket.off('close', done);
        resolve();
      };
      socket.on('drain', done);
      socket.on('close', done);
    });
  }

  #armIdle(): void {
    const ms = this.#host.options.idleTimeoutMs;
    if (ms <= 0 || this.#session === undefined || this.#closed) return;
    this.#clearIdle();
    this.#idleTimer = setTimeout(() => {
      if (!this.#busy)
        void this.#fatal({
          severity: 'FATAL',
          code: '57P05',
          message: 'terminating connection due to idle-session timeout',
        });
    }, ms);
    this.#idleTimer.unref();
  }

  #clearIdle(): void {
    if (this.#idleTimer !== undefined) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }

  /** Sends a FATAL error and closes the connection. */
  async #fatal(f: PgErrorFields): Promise<void> {
    if (this.#closed) return;
    writeError(this.#w, { ...f, severity: 'FATAL' });
    await this.#flush();
    this.#destroy();
  }

  async #terminate(): Promise<void> {
    await this.#fatal({
      severity: 'FATAL',
      code: '57P01',
      message: 'terminating connection due to administrator command',
    });
  }

  #destroy(): void {
    if (this.#closed) return;
    this.#socket.end();
    this.#socket.destroySoon?.();
    void this.#cleanup();
  }

  async #cleanup(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#startupTimer);
    this.#clearIdle();
    this.#running?.abort();
    this.#host.unregister(this);
    // Closing the session rolls back an open transaction (after a running statement ends).
    await this.#session?.close().catch(() => undefined);
    if (!this.#socket.destroyed) this.#socket.destroy();
    this.#resolveDone();
  }

  /** Aborts the running statement (a CancelRequest). */
  cancel(): void {
    this.#running?.abort();
  }

  /**
   * Graceful shutdown: an idle connection gets 57P01 now; a busy one when its current query
   * cycle ends (ReadyForQuery would be next).
   */
  shutdown(): void {
    this.#shutdown = true;
    if (this.#session === undefined) this.#destroy();
    else if (!this.#busy) void this.#terminate();
  }

  /** Ends the connection now: aborts a running statement and sends 57P01. */
  forceClose(): void {
    this.#running?.abort();
    void this.#terminate();
    setImmediate(() => this.#socket.destroy()).unref();
  }
}
