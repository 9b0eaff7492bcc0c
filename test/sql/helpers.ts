/** Shared helpers of the SQL tests: databases on each engine, and result shorthands. */

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createKeyring,
  createLmdbEngine,
  createMemoryEngine,
  createSecureStore,
  type StorageEngine,
} from '../../src/kvs/index.ts';
import { type Database, openDatabase } from '../../src/sql/database.ts';
import type { Session } from '../../src/sql/session.ts';

/** A database on a fresh engine, and how to dispose of both. */
export interface TestDatabase {
  readonly db: Database;
  readonly session: Session;
  readonly engine: StorageEngine;
  close(): Promise<void>;
}

/**
 * The engines every SQL feature is tested on: memory, LMDB, and the secure store over LMDB with
 * blocking commits (the CascaDB bench's set-up; transactions commit through its `batchSorted`).
 */
export const ENGINES = ['memory', 'lmdb', 'secure'] as const;
export type EngineName = (typeof ENGINES)[number];

export async function openTestDatabase(kind: EngineName = 'memory'): Promise<TestDatabase> {
  let dir: string | undefined;
  let engine: StorageEngine;
  if (kind === 'memory') engine = createMemoryEngine();
  else {
    dir = await mkdtemp(join(tmpdir(), 'cascadb-test-'));
    engine = await createLmdbEngine({ path: dir, blockingCommits: kind === 'secure' });
    if (kind === 'secure') {
      const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
      engine = createSecureStore(engine, keyring, { namespace: 'sql-test' });
    }
  }
  const db = await openDatabase({ engine });
  return {
    db,
    session: db.session(),
    engine,
    async close() {
      await db.close();
      await engine.close();
      if (dir !== undefined) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs `sql` and returns its rows. */
export async function rows(s: Session, sql: string, params: readonly unknown[] = []): Promise<unknown[][]> {
  return (await s.query(sql, params)).rows;
}

/** Runs several statements in order. */
export async function exec(s: Session, ...sqls: string[]): Promise<void> {
  for (const sql of sqls) await s.query(sql);
}

/** The EXPLAIN lines of a statement, joined with newlines. */
export async function explain(s: Session, sql: string, params: readonly unknown[] = []): Promise<string> {
  return (await rows(s, `EXPLAIN ${sql}`, params)).map((r) => r[0]).join('\n');
}
