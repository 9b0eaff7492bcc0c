/**
 * The MDC's store: LMDB page encryption off for a new store, kept as created for an existing one,
 * chosen with `mdc --page-encryption on|off`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { lmdbPagesEncrypted } from '../../src/kvs/index.ts';
import {
  MDC_WRITE_BUFFER_BYTES,
  mdcWriteBufferBytes,
  openMdcDatabase,
} from '../../src/metering/mdc/mdc-service.ts';
import { runCli } from '../cli/helpers.ts';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
const newDir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'mdc-store-'));
  dirs.push(d);
  return d;
};

describe('MDC store', () => {
  it('creates a new store without page encryption unless asked, and keeps how a store was created', async () => {
    const key = randomBytes(32);
    const plain = await newDir();
    const a = await openMdcDatabase(plain, key);
    await a.db.close();
    await a.engine.close();
    assert.equal(await lmdbPagesEncrypted(join(plain, 'db')), false);

    const encrypted = await newDir();
    const b = await openMdcDatabase(encrypted, key, { pageEncryption: true });
    await b.db.session().query('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
    await b.db.session().query("INSERT INTO t VALUES (1, 'one')");
    await b.db.close();
    await b.engine.close();
    assert.equal(await lmdbPagesEncrypted(join(encrypted, 'db')), true);
    // Reopened without saying: as created, and the row (folded on close) is there.
    const c = await openMdcDatabase(encrypted, key);
    assert.deepEqual((await c.db.session().query('SELECT v FROM t WHERE k = 1')).rows, [['one']]);
    await c.db.close();
    await c.engine.close();
    // Asking for the other setting is refused with the reason, not a crash.
    await assert.rejects(
      openMdcDatabase(encrypted, key, { pageEncryption: false }),
      /encrypted; pass its encryptionKey/,
    );
  });

  it('refuses a --page-encryption value other than on or off (usage error, exit 2)', async () => {
    const r = await runCli('mdc', '--page-encryption', 'maybe');
    assert.equal(r.code, 2);
    assert.match(r.err, /--page-encryption takes on or off, not "maybe"/);
  });

  it('sizes the write buffer for a whole round: 1.5 KiB per meter, from 128 MiB to a quarter of the memory', () => {
    const GiB = 2 ** 30;
    assert.equal(mdcWriteBufferBytes(1_000, 24 * GiB), MDC_WRITE_BUFFER_BYTES);
    assert.equal(mdcWriteBufferBytes(1_000_000, 24 * GiB), 1_536_000_000);
    assert.equal(mdcWriteBufferBytes(1_000_000, 2 * GiB), GiB / 2);
    assert.equal(
      mdcWriteBufferBytes(1_000_000, 256 * 2 ** 20),
      MDC_WRITE_BUFFER_BYTES,
      'never below 128 MiB',
    );
  });

  it('folds once the buffered bytes pass the limit it was opened with', async () => {
    const { db, engine } = await openMdcDatabase(await newDir(), randomBytes(32), { writeBufferBytes: 4096 });
    try {
      await engine.put(Buffer.from('k1'), Buffer.alloc(1000, 1));
      assert.equal(engine.stats().folds, 0);
      assert.equal(engine.stats().bufferedKeys, 1);
      await engine.put(Buffer.from('k2'), Buffer.alloc(4000, 2));
      await engine.settled();
      assert.equal(engine.stats().folds, 1, 'past 4,096 bytes the buffer folds');
      assert.equal(engine.stats().bufferedKeys, 0);
      assert.deepEqual(await engine.get(Buffer.from('k2')), Buffer.alloc(4000, 2));
    } finally {
      await db.close();
      await engine.close();
    }
  });

  it('refuses a --write-buffer-mib that is not a positive integer (usage error, exit 2)', async () => {
    const r = await runCli('mdc', '--write-buffer-mib', '0');
    assert.equal(r.code, 2);
    assert.match(r.err, /--write-buffer-mib 0: expected an integer from 1 to/);
  });
});
