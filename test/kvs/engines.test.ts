/**
 * Runs the engine contract against every engine: memory, LMDB (plain, with page encryption, and
 * with blocking commits), PostgreSQL (a table per test, dropped after; skipped loudly when
 * unreachable, except in CI), and the secure store in both layouts: blocks (default, also with tiny blocks and no cache, so that
 * every write splits and merges blocks) over memory, encrypted LMDB and PostgreSQL, and values.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createKeyring } from '../../src/kvs/keyring.ts';
import { createLmdbEngine } from '../../src/kvs/lmdb-engine.ts';
import { createMemoryEngine } from '../../src/kvs/memory-engine.ts';
import { createSecureStore, type SecureStoreOptions } from '../../src/kvs/secure-store.ts';
import { createWriteBuffer, type WriteBufferOptions } from '../../src/kvs/write-buffer.ts';
import { type EngineUnderTest, runEngineContract } from './engine-contract.ts';
import { postgresUnavailable, postgresUnderTest } from './postgres-test-db.ts';

async function lmdbUnderTest(encrypted: boolean, blockingCommits = false): Promise<EngineUnderTest> {
  const path = await mkdtemp(join(tmpdir(), 'kvs-lmdb-'));
  const engine = await createLmdbEngine({
    path,
    blockingCommits,
    ...(encrypted && { encryptionKey: randomBytes(32) }),
  });
  return { engine, dispose: () => rm(path, { recursive: true, force: true }) };
}

async function secureUnderTest(
  inner: EngineUnderTest,
  options: Omit<SecureStoreOptions, 'namespace'> = {},
): Promise<EngineUnderTest> {
  const keyring = createKeyring({ keys: [{ id: 7, key: randomBytes(32) }] });
  return {
    engine: createSecureStore(inner.engine, keyring, { namespace: 'contract', ...options }),
    dispose: async () => {
      keyring.destroy();
      await inner.dispose();
    },
  };
}

async function bufferedUnderTest(
  inner: EngineUnderTest,
  options: WriteBufferOptions,
): Promise<EngineUnderTest> {
  return { engine: await createWriteBuffer(inner.engine, options), dispose: inner.dispose };
}

runEngineContract('memory', async () => ({ engine: createMemoryEngine(), dispose: async () => undefined }));
runEngineContract('lmdb', () => lmdbUnderTest(false));
runEngineContract('lmdb (encrypted pages)', () => lmdbUnderTest(true));
runEngineContract('lmdb (blocking commits)', () => lmdbUnderTest(false, true));
runEngineContract('secure store over memory', () =>
  secureUnderTest({ engine: createMemoryEngine(), dispose: async () => undefined }),
);
runEngineContract('secure store over encrypted lmdb', async () => secureUnderTest(await lmdbUnderTest(true)));
runEngineContract('secure store over lmdb with blocking commits', async () =>
  secureUnderTest(await lmdbUnderTest(false, true)),
);
runEngineContract('secure store, 64-byte blocks, no cache, over memory', () =>
  secureUnderTest(
    { engine: createMemoryEngine(), dispose: async () => undefined },
    { blockBytes: 64, cacheBytes: 0 },
  ),
);
runEngineContract('secure store, 64-byte blocks, over lmdb', async () =>
  secureUnderTest(await lmdbUnderTest(false), { blockBytes: 64 }),
);
runEngineContract('secure store, values layout, over memory', () =>
  secureUnderTest({ engine: createMemoryEngine(), dispose: async () => undefined }, { layout: 'values' }),
);
runEngineContract('secure store, values layout, over encrypted lmdb', async () =>
  secureUnderTest(await lmdbUnderTest(true), { layout: 'values' }),
);
// The write buffer: never folding (reads merge buffer and store), folding after every few hundred
// bytes (folds between and during the contract's writes), and on a tiny-block secure store.
runEngineContract('write buffer (no fold) over secure store over memory', async () =>
  bufferedUnderTest(await secureUnderTest({ engine: createMemoryEngine(), dispose: async () => undefined }), {
    idleFoldMs: 0,
  }),
);
runEngineContract(
  'write buffer (folds at 300 bytes) over secure store, 64-byte blocks, over lmdb',
  async () =>
    bufferedUnderTest(await secureUnderTest(await lmdbUnderTest(false), { blockBytes: 64 }), {
      idleFoldMs: 0,
      maxBytes: 300,
    }),
);

const unavailable = await postgresUnavailable();
if (unavailable === undefined || process.env.CI === 'true') {
  runEngineContract('postgres', postgresUnderTest);
  runEngineContract('secure store, 64-byte blocks, over postgres', async () =>
    secureUnderTest(await postgresUnderTest(), { blockBytes: 64 }),
  );
} else {
  describe('StorageEngine contract: postgres', () => {
    it('runs against a reachable PostgreSQL', (t) => {
      t.skip(unavailable);
    });
  });
}

describe('snapshot scans (memory, lmdb)', () => {
  for (const [name, make] of [
    ['memory', async () => ({ engine: createMemoryEngine(), dispose: async () => undefined })],
    ['lmdb', () => lmdbUnderTest(true)],
  ] as const) {
    it(`does not show writes made during a ${name} scan`, async () => {
      const { engine, dispose } = await make();
      try {
        await engine.batch(
          Array.from({ length: 10 }, (_, i) => ({
            type: 'put' as const,
            key: Uint8Array.of(i),
            value: Uint8Array.of(i),
          })),
        );
        const seen: number[] = [];
        for await (const { key } of engine.scan({})) {
          seen.push(key[0] as number);
          if (key[0] === 2) {
            await engine.put(Uint8Array.of(5, 5), Uint8Array.of(0));
            await engine.delete(Uint8Array.of(7));
          }
        }
        assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert.equal(await engine.get(Uint8Array.of(7)), undefined);
      } finally {
        await engine.close();
        await dispose();
      }
    });
  }
});
