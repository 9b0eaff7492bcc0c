/**
 * The PostgreSQL the storage tests use: `KVS_TEST_POSTGRES_URL`, or the local server's `test`
 * database. Each engine gets a table of its own, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { createPostgresEngine, dropPostgresTable } from '../../src/kvs/postgres-engine.ts';
import type { EngineUnderTest } from './engine-contract.ts';

export const POSTGRES_URL = process.env.KVS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let counter = 0;

/** A table name no other run or test uses. */
export function uniqueTable(): string {
  counter++;
  return `kvs_test_${process.pid}_${counter}_${randomBytes(3).toString('hex')}`;
}

/** Why PostgreSQL cannot be used, or undefined when it can. */
export async function postgresUnavailable(): Promise<string | undefined> {
  const table = uniqueTable();
  try {
    const engine = await createPostgresEngine({
      url: POSTGRES_URL,
      table,
      pool: { max: 1, connectionTimeoutMs: 3000 },
    });
    await engine.close();
    await dropPostgresTable({ url: POSTGRES_URL, table });
    return undefined;
  } catch (err) {
    return `PostgreSQL not reachable at ${POSTGRES_URL}: ${(err as Error).message}`;
  }
}

/** A PostgreSQL engine on a fresh table, dropped by `dispose`. */
export async function postgresUnderTest(): Promise<EngineUnderTest> {
  const table = uniqueTable();
  const engine = await createPostgresEngine({ url: POSTGRES_URL, table, pool: { max: 4 } });
  return { engine, dispose: () => dropPostgresTable({ url: POSTGRES_URL, table }) };
}
