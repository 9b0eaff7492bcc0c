/**
 * Runs the engine contract against every engine: memory, LMDB (plain and with page encryption),
 * PostgreSQL (a table per test, dropped after; skipped loudly when unreachable, except in CI), and
 * the secure store over memory and over encrypted LMDB.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { createKeyring } from '../../src/kvs/keyring.ts';
import { createLmdbEngine } from '../../src/kvs/lmdb-engine.ts';
import { createMemoryEngine } from '../../src/kvs/memory-engine.ts';
import { createSecureStore } from '../../src/kvs/secure-store.ts';
import { type EngineUnderTest, runEngineContract } from './engine-contract.ts';
import { postgresUnavailable, postgresUnderTest } from './postgres-test-db.ts';

async function lmdbUnderTest(encrypted: boolean): Promise<EngineUnderTest> {
  const path = await mkdtemp(join(tmpdir(), 'kvs-lmdb-'));
  const engine = await createLmdbEngine({ path, ...(encrypted && { encryptionKey: randomBytes(32) }) });
  return { engine, dispose: () => rm(path, { recursive: true, force: true }) };
}

async function secureUnderTest(inner: EngineUnderTest): Promise<EngineUnderTest> {
  const keyring = createKeyring({ keys: [{ id: 7, key: randomBytes(32) }] });
  return {
    engine: createSecureStore(inner.engine, keyring, { namespace: 'contract' }),
    dispose: async () => {
      keyring.destroy();
      await inner.dispose();
    },
  };
}

runEngineContract('memory', async () => ({ engine: createMemoryEngine(), dispose: async () => undefined }));
runEngineContract('lmdb', () => lmdbUnderTest(false));
runEngineContract('lmdb (encrypted pages)', () => lmdbUnderTest(true));
runEngineContract('secure store over memory', () =>
  secureUnderTest({ engine: createMemoryEngine(), dispose: async () => undefined }),
);
runEngineContract('secure store over encrypted lmdb', async () => secureUnderTest(await lmdbUnderTest(true)));

const unavailable = await postgresUnavailable();
if (unavailable === undefined || process.env.CI === 'true') {
  runEngineContract('postgres', postgresUnderTest);
} else {
  describe('StorageEngine contract: postgres', () => {
    it('runs against a reachable PostgreSQL', (t) => {
      t.skip(unavailable);
    });
  });
}
