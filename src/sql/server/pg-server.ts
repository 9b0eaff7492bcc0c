/**
 * The PostgreSQL-protocol listener: accepts connections (up to a limit), gives each a backend key
 * for CancelRequest, and shuts down gracefully (stops accepting, lets running queries finish
 * within a deadline, then ends every connection with 57P01 admin_shutdown).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import type { Database } from '../database.ts';
import { type ConnectionHost, PgConnection } from './pg-connection.ts';
import { type PgServerOptions, type ResolvedPgOptions, resolvePgOptions } from './pg-options.ts';

/** A running listener. */
export interface PgServer {
  /** The port it listens on (useful with `port: 0`). */
  readonly port: number;
  /** The address it listens on. */
  readonly address: string;
  /** Open connections. */
  connectionCount(): number;
  /**
   * Stops accepting, lets running queries finish for up to `deadlineMs` (default 10 s), then
   * aborts what still runs; every connection ends with 57P01. Resolves when all are closed.
   */
  close(options?: { readonly deadlineMs?: number }): Promise<void>;
}

class Listener implements ConnectionHost {
  readonly database: Database;
  readonly options: ResolvedPgOptions;
  readonly #connections = new Set<PgConnection>();
  readonly #byPid = new Map<number, { conn: PgConnection; secret: Buffer }>();
  #nextPid = 1000 + (randomBytes(2).readUInt16BE() % 30000);
  #closing = false;

  constructor(database: Database, options: ResolvedPgOptions) {
    this.database = database;
    this.options = options;
  }

  accept(socket: Socket): void {
    if (this.#closing) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn = new PgConnection(socket, this);
    this.#connections.add(conn);
    void conn.closed.then(() => this.#connections.delete(conn));
  }

  get count(): number {
    return this.#connections.size;
  }

  register(conn: PgConnection): { pid: number; secret: number } | undefined {
    if (this.#byPid.size >= this.options.maxConnections) return undefined;
    const pid = this.#nextPid++;
    if (this.#nextPid > 0x7fffffff) this.#nextPid = 1000;
    const secretBytes = randomBytes(4);
    this.#byPid.set(pid, { conn, secret: secretBytes });
    return { pid, secret: secretBytes.readInt32BE() };
  }

  unregister(conn: PgConnection): void {
    for (const [pid, entry] of this.#byPid) {
      if (entry.conn === conn) this.#byPid.delete(pid);
    }
  }

  cancel(pid: number, secret: number): void {
    const entry = this.#byPid.get(pid);
    if (entry === undefined) return;
    const given = Buffer.alloc(4);
    given.writeInt32BE(secret);
    if (timingSafeEqual(given, entry.secret)) entry.conn.cancel();
  }

  async close(deadlineMs: number): Promise<void> {
    this.#closing = true;
    const all = [...this.#connections];
    for (const c of all) c.shutdown();
    const closed = Promise.all(all.map((c) => c.closed));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), deadlineMs);
    });
    const outcome = await Promise.race([closed, deadline]);
    clearTimeout(timer);
    if (outcome === 'deadline') for (const c of this.#connections) c.forceClose();
    await closed;
  }
}

/**
 * Starts a PostgreSQL frontend/backend protocol v3 listener over a CascaDB database. Sessions
 * share the one `Database`; the caller keeps owning it (close the server first, then the
 * database).
 *
 * @example
 * const server = await startPgServer(db, { port: 5433, auth: { passwords: { cascadb: secret } }, tls: { key, cert } });
 * // psql "postgres://cascadb@127.0.0.1:5433/cascadb?sslmode=require"
 * await server.close({ deadlineMs: 5000 });
 */
export async function startPgServer(database: Database, options: PgServerOptions): Promise<PgServer> {
  if (database === undefined || typeof database.session !== 'function') {
    throw new TypeError('startPgServer: a Database is required');
  }
  const resolved = resolvePgOptions(options);
  const listener = new Listener(database, resolved);
  const server: Server = createServer({ pauseOnConnect: false }, (socket) => listener.accept(socket));
  server.maxConnections = resolved.maxConnections + 16;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(resolved.port, resolved.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => resolved.onError(err));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : resolved.port;
  let closing: Promise<void> | undefined;
  return {
    port,
    address: resolved.host,
    connectionCount: () => listener.count,
    close(o = {}) {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        await listener.close(o.deadlineMs ?? 10_000);
        await stopped;
      })();
      return closing;
    },
  };
}
