import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { createKeyring } from '../../src/kvs/keyring.ts';
import { createLmdbEngine } from '../../src/kvs/lmdb-engine.ts';
import { LMDB_KEY_FILE } from '../../src/kvs/lmdb-key-file.ts';
import { createSecureStore } from '../../src/kvs/secure-store.ts';
import { b, collect, hex, pairs, rejectsWithCode, text } from './kvs-test-helpers.ts';

describe('lmdb engine', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kvs-lmdb-test-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps data across reopening with the same key', async () => {
    const key = randomBytes(32);
    const first = await createLmdbEngine({ path: dir, encryptionKey: key });
    await first.put(b(1), b(2));
    await first.close();
    const again = await createLmdbEngine({ path: dir, encryptionKey: key });
    assert.equal(hex((await again.get(b(1))) as Uint8Array), '02');
    await again.close();
  });

  it('refuses a wrong key with ERR_KVS_INTEGRITY and a missing one with ERR_KVS_KEY_UNKNOWN, before lmdb opens', async () => {
    const engine = await createLmdbEngine({ path: dir, encryptionKey: randomBytes(32) });
    await engine.put(b(1), b(2));
    await engine.close();
    await rejectsWithCode(
      createLmdbEngine({ path: dir, encryptionKey: randomBytes(32) }),
      'ERR_KVS_INTEGRITY',
    );
    await rejectsWithCode(createLmdbEngine({ path: dir }), 'ERR_KVS_KEY_UNKNOWN');
  });

  it('refuses a key for a store created without one, and a data file without its key file', async () => {
    const engine = await createLmdbEngine({ path: dir });
    await engine.put(b(1), b(2));
    await engine.close();
    await rejectsWithCode(createLmdbEngine({ path: dir, encryptionKey: randomBytes(32) }), 'ERR_KVS_IO');
    await rm(join(dir, LMDB_KEY_FILE));
    await rejectsWithCode(createLmdbEngine({ path: dir }), 'ERR_KVS_IO');
    await writeFile(join(dir, LMDB_KEY_FILE), '{"format":"other"}');
    await rejectsWithCode(createLmdbEngine({ path: dir }), 'ERR_KVS_IO');
  });

  it("commits on the calling thread with blockingCommits, and on lmdb's write thread without", async () => {
    for (const blockingCommits of [true, false]) {
      const path = join(dir, String(blockingCommits));
      const engine = await createLmdbEngine({ path, blockingCommits });
      // A read issued before the write is awaited sees it only when the write already committed.
      const writes = [engine.put(b(1), b(1)), engine.batch([{ type: 'put', key: b(2), value: b(2) }])];
      const seen = [await engine.get(b(1)), await engine.get(b(2))];
      await Promise.all(writes);
      assert.deepEqual(
        seen.map((v) => v !== undefined),
        [blockingCommits, blockingCommits],
      );
      const deleting = engine.delete(b(1));
      assert.equal((await engine.get(b(1))) === undefined, blockingCommits);
      assert.equal(await deleting, true);
      await engine.close();
      const again = await createLmdbEngine({ path });
      assert.deepEqual(pairs(await collect(again.scan({}))), [['02', '02']]);
      await again.close();
    }
  });

  it('refuses malformed options with a TypeError and an aborted signal with ERR_KVS_ABORTED', async () => {
    await assert.rejects(createLmdbEngine({ path: '' }), TypeError);
    await assert.rejects(createLmdbEngine({ path: dir, encryptionKey: randomBytes(31) }), TypeError);
    await rejectsWithCode(createLmdbEngine({ path: dir, signal: AbortSignal.abort() }), 'ERR_KVS_ABORTED');
  });

  it('hides keys and values in the data file when pages are encrypted', async () => {
    const keyMarker = 'KEY-MARKER-e7d1';
    const valueMarker = 'VALUE-MARKER-9a3b';
    const engine = await createLmdbEngine({ path: dir, encryptionKey: randomBytes(32) });
    for (let i = 0; i < 50; i++) await engine.put(text(`${keyMarker}|${i}`), text(valueMarker.repeat(i + 1)));
    await engine.close();
    const file = await readFile(join(dir, 'data.mdb'));
    assert.equal(file.includes(keyMarker), false);
    assert.equal(file.includes(valueMarker), false);
  });

  it('shows keys in the data file without page encryption, values being sealed by the secure layer', async () => {
    const keyMarker = 'KEY-MARKER-e7d1';
    const valueMarker = 'VALUE-MARKER-9a3b';
    const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
    const store = createSecureStore(await createLmdbEngine({ path: dir }), keyring, { namespace: 'db' });
    await store.put(text(`${keyMarker}|1`), text(valueMarker));
    assert.equal((await collect(store.scan({}))).length, 1);
    await store.close();
    const file = await readFile(join(dir, 'data.mdb'));
    assert.equal(file.includes(keyMarker), true, 'this is what the host sees without page encryption');
    assert.equal(file.includes(valueMarker), false);
  });
});
