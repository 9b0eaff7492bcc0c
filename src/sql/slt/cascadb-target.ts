import { createMemoryEngine, type StorageEngine } from '../../kvs/index.ts';
import { openDatabase } from '../database.ts';
import type { SltTarget } from './slt-runner.ts';

/**
 * A fresh CascaDB database as a sqllogictest target: one session on `engine` (default: a new
 * memory engine). Closing it closes the database and the engine.
 *
 * @example
 * const report = await runSltFile(path, () => openCascadbSltTarget());
 */
export async function openCascadbSltTarget(engine: StorageEngine = createMemoryEngine()): Promise<SltTarget> {
  const db = await openDatabase({ engine });
  const session = db.session();
  return {
    execute: async (sql, { signal }) => {
      const result = await session.query(sql, [], signal ? { signal } : {});
      return { columns: result.columns.length, rows: result.rows };
    },
    close: async () => {
      await db.close();
      await engine.close();
    },
  };
}
