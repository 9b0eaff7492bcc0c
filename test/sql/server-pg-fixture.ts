// Shared set-up of the pg wire server tests: a CascaDB database on the memory engine behind
// startPgServer, node-postgres clients, and a raw protocol client for hostile input.
import { connect, type Socket } from 'node:net';
import pg from 'pg';
import { createMemoryEngine, type StorageEngine } from '../../src/kvs/index.ts';
import { type Database, openDatabase } from '../../src/sql/index.ts';
import { type PgServer, type PgServerOptions, startPgServer } from '../../src/sql/server/index.ts';

export interface PgFixture {
  readonly db: Database;
  readonly server: PgServer;
  client(config?: pg.ClientConfig): Promise<pg.Client>;
  close(): Promise<void>;
}

/** A database and a pg server on a free port (trust auth unless `options.auth` says otherwise). */
export async function startFixture(
  options: Partial<PgServerOptions> = {},
  engine: StorageEngine = createMemoryEngine(),
): Promise<PgFixture> {
  const db = await openDatabase({ engine });
  const server = await startPgServer(db, { port: 0, auth: { trust: true }, ...options });
  const clients: pg.Client[] = [];
  return {
    db,
    server,
    async client(config = {}) {
      const c = new pg.Client({
        host: '127.0.0.1',
        port: server.port,
        user: 'tester',
        database: 'cascadb',
        ...config,
      });
      c.on('error', () => undefined);
      await c.connect();
      clients.push(c);
      return c;
    },
    async close() {
      await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
      await server.close({ deadlineMs: 2000 });
      await db.close();
      await engine.close();
    },
  };
}

/** A backend message as the raw client reads it. */
export interface RawMessage {
  readonly type: string;
  readonly body: Buffer;
}

/** A minimal protocol client that sends arbitrary bytes and reads backend messages. */
export class RawClient {
  readonly socket: Socket;
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (d) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  send(b: Buffer): void {
    this.socket.write(b);
  }

  /** Sends a startup packet for `user` and reads until ReadyForQuery. */
  async startup(user = 'tester'): Promise<RawMessage[]> {
    this.send(startupPacket({ user, database: 'cascadb' }));
    return this.readUntil('Z');
  }

  /** The next message, or undefined when the connection closed first. */
  async next(): Promise<RawMessage | undefined> {
    for (;;) {
      if (this.#buf.length >= 5) {
        const len = this.#buf.readInt32BE(1);
        if (this.#buf.length >= len + 1) {
          const m = { type: String.fromCharCode(this.#buf[0]!), body: this.#buf.subarray(5, len + 1) };
          this.#buf = this.#buf.subarray(len + 1);
          return m;
        }
      }
      if (this.closed) return undefined;
      await new Promise<void>((r) => this.#waiters.push(r));
    }
  }

  /** Messages up to and including the first of `type` (or until close). */
  async readUntil(type: string): Promise<RawMessage[]> {
    const out: RawMessage[] = [];
    for (;;) {
      const m = await this.next();
      if (m === undefined) return out;
      out.push(m);
      if (m.type === type) return out;
    }
  }

  /** Resolves when the server has closed the connection. */
  async waitClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.#waiters.push(r));
  }

  end(): void {
    this.socket.destroy();
  }
}

export function startupPacket(params: Record<string, string>): Buffer {
  const body = Buffer.concat([
    int32(196608),
    ...Object.entries(params).flatMap(([k, v]) => [cstr(k), cstr(v)]),
    Buffer.from([0]),
  ]);
  return Buffer.concat([int32(body.length + 4), body]);
}

export function message(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type), int32(body.length + 4), body]);
}

export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

export function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

export function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}

/** The fields of an ErrorResponse body by code letter. */
export function errorFieldsOf(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const end = body.indexOf(0, i + 1);
    out[String.fromCharCode(body[i]!)] = body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return out;
}

/**
 * A memory engine whose scans yield to the event loop after every row, as an engine over the
 * network does: long statements then leave room for other connections and cancel requests.
 */
export function createYieldingEngine(): StorageEngine {
  const inner = createMemoryEngine();
  return {
    name: 'yielding-memory',
    get: (k, o) => inner.get(k, o),
    put: (k, v, o) => inner.put(k, v, o),
    delete: (k, o) => inner.delete(k, o),
    batch: (ops, o) => inner.batch(ops, o),
    async *scan(range, o) {
      for await (const kv of inner.scan(range, o)) {
        await new Promise((r) => setImmediate(r));
        yield kv;
      }
    },
    close: () => inner.close(),
  };
}

/** The values of a DataRow body (null for SQL NULL). */
export function dataRowValues(body: Buffer): (Buffer | null)[] {
  const n = body.readInt16BE(0);
  const out: (Buffer | null)[] = [];
  let at = 2;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(at);
    at += 4;
    if (len < 0) out.push(null);
    else {
      out.push(body.subarray(at, at + len));
      at += len;
    }
  }
  return out;
}
