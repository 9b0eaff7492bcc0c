// Hostile input to the pg wire server: random bytes, oversized and truncated messages, unknown
// message types, disconnects mid-transaction, slow starters. Each ends that connection only;
// the server keeps serving others and loses no committed data. Also graceful shutdown.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type pg from 'pg';
import { createMemoryEngine, type StorageEngine } from '../../src/kvs/index.ts';
import {
  cstr,
  errorFieldsOf,
  int16,
  int32,
  message,
  type PgFixture,
  RawClient,
  startFixture,
  startupPacket,
} from './server-pg-fixture.ts';

describe('pg server: hostile input', () => {
  let f: PgFixture;
  let good: pg.Client;
  before(async () => {
    f = await startFixture({ maxMessageBytes: 1024 * 1024, startupTimeoutMs: 300 });
    good = await f.client();
    await good.query('CREATE TABLE kept (id integer PRIMARY KEY, v text)');
    await good.query("INSERT INTO kept VALUES (1, 'committed')");
  });
  after(() => f.close());

  async function stillServing(): Promise<void> {
    assert.deepEqual((await good.query('SELECT v FROM kept ORDER BY id')).rows, [{ v: 'committed' }]);
  }

  it('closes a connection that sends random bytes instead of a startup packet', async () => {
    for (let i = 0; i < 20; i++) {
      const raw = await RawClient.connect(f.server.port);
      raw.send(randomBytes(1 + ((i * 37) % 300)));
      raw.socket.end();
      await raw.waitClosed();
    }
    await stillServing();
  });

  it('closes a connection that sends random messages after startup, with 08P01 when it answers', async () => {
    for (let i = 0; i < 20; i++) {
      const raw = await RawClient.connect(f.server.port);
      await raw.startup();
      const junk = randomBytes(64);
      junk.writeInt32BE(8 + (i % 50), 1);
      raw.send(junk);
      raw.socket.end();
      const msgs = await raw.readUntil('never');
      for (const m of msgs.filter((x) => x.type === 'E')) {
        assert.match(
          errorFieldsOf(m.body).C!,
          /^(08P01|42601|42000|0A000|26000|34000|42704|22P03|54000)$|^[0-9A-Z]{5}$/,
        );
      }
      await raw.waitClosed();
    }
    await stillServing();
  });

  it('refuses an oversized message length before reading its body', async () => {
    const raw = await RawClient.connect(f.server.port);
    await raw.startup();
    raw.send(Buffer.concat([Buffer.from('Q'), int32(0x7ffffff0)]));
    const [err] = await raw.readUntil('E');
    const fields = errorFieldsOf(err!.body);
    assert.equal(fields.S, 'FATAL');
    assert.equal(fields.C, '54000');
    await raw.waitClosed();
    await stillServing();
  });

  it('answers 08P01 to a message whose fields overrun it and to an unknown message type', async () => {
    for (const bad of [
      message('P', cstr('s'), Buffer.from('SELECT 1')), // unterminated string
      message('B', cstr(''), cstr(''), int16(1), int16(7)), // invalid format code
      message('B', cstr(''), cstr(''), int16(0), int16(1), int32(100), Buffer.from('ab')), // value past the end
      message('Q', cstr('SELECT 1'), Buffer.from('xx')), // trailing bytes
      message('~', cstr('what')),
      Buffer.concat([Buffer.from('Q'), int32(2)]), // length below 4
    ]) {
      const raw = await RawClient.connect(f.server.port);
      await raw.startup();
      raw.send(bad);
      const msgs = await raw.readUntil('E');
      assert.equal(errorFieldsOf(msgs.at(-1)!.body).C, '08P01');
      await raw.waitClosed();
    }
    await stillServing();
  });

  it('waits for the rest of a truncated message and ends the connection when the client leaves', async () => {
    const raw = await RawClient.connect(f.server.port);
    await raw.startup();
    const full = message('Q', cstr("INSERT INTO kept VALUES (2, 'never')"));
    raw.send(full.subarray(0, 10));
    raw.end();
    await stillServing();
  });

  it('rolls back the open transaction of a client that disconnects, keeping committed data', async () => {
    const raw = await RawClient.connect(f.server.port);
    await raw.startup();
    raw.send(message('Q', cstr("BEGIN; INSERT INTO kept VALUES (3, 'uncommitted')")));
    const msgs = await raw.readUntil('Z');
    assert.equal(msgs.at(-1)!.body.toString(), 'T');
    raw.end();
    await raw.waitClosed();
    await stillServing();
    await good.query("INSERT INTO kept VALUES (3, 'later')");
    await good.query('DELETE FROM kept WHERE id = 3');
  });

  it('closes a connection that does not finish its startup in time', async () => {
    const raw = await RawClient.connect(f.server.port);
    raw.send(startupPacket({ user: 'x' }).subarray(0, 6));
    const msgs = await raw.readUntil('E');
    assert.equal(errorFieldsOf(msgs[0]!.body).C, '08P01');
    await raw.waitClosed();
  });

  it('answers N to an SSLRequest when TLS is not configured, then serves the startup', async () => {
    const raw = await RawClient.connect(f.server.port);
    raw.send(Buffer.concat([int32(8), int32(80877103)]));
    const first = await new Promise<Buffer>((r) => raw.socket.once('data', r));
    assert.equal(first.toString(), 'N');
  });
});

/** A memory engine whose next batch (a commit) waits until released, announcing that it started. */
function gatedEngine(): {
  engine: StorageEngine;
  entered: Promise<void>;
  release: () => void;
  arm: () => void;
} {
  const inner = createMemoryEngine();
  let armed = false;
  let signalEntered!: () => void;
  let release!: () => void;
  const entered = new Promise<void>((r) => {
    signalEntered = r;
  });
  const gate = new Promise<void>((r) => {
    release = r;
  });
  const engine: StorageEngine = {
    name: 'gated-memory',
    get: (k, o) => inner.get(k, o),
    put: (k, v, o) => inner.put(k, v, o),
    delete: (k, o) => inner.delete(k, o),
    async batch(ops, o) {
      if (armed) {
        armed = false;
        signalEntered();
        await gate;
      }
      return inner.batch(ops, o);
    },
    scan: (r, o) => inner.scan(r, o),
    close: () => inner.close(),
  };
  return { engine, entered, release, arm: () => (armed = true) };
}

describe('pg server: graceful shutdown', () => {
  it('lets a running query finish, then ends every connection with 57P01', async () => {
    const gated = gatedEngine();
    const f = await startFixture({}, gated.engine);
    const idle = await RawClient.connect(f.server.port);
    await idle.startup();
    const c = await f.client();
    await c.query('CREATE TABLE s (id integer PRIMARY KEY)');
    gated.arm();
    const inserting = c.query('INSERT INTO s VALUES (1)');
    await gated.entered;
    const closing = f.server.close({ deadlineMs: 5000 });
    const msgs = await idle.readUntil('E');
    assert.equal(errorFieldsOf(msgs[0]!.body).C, '57P01');
    gated.release();
    assert.equal((await inserting).rowCount, 1);
    await closing;
    assert.equal(f.server.connectionCount(), 0);
    const s = f.db.session();
    assert.deepEqual((await s.query('SELECT id FROM s')).rows, [[1]]);
    await f.close();
  });
});
