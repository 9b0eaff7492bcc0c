// CascaDB over the PostgreSQL wire protocol against the local PostgreSQL, both through
// node-postgres with its defaults (unnamed extended-protocol statements, text format): primary-key
// point selects per second and batched inserts (BEGIN, N prepared INSERTs, COMMIT) in rows per
// second, with 1 and 16 concurrent clients. The CascaDB server (LMDB + secure store) runs in a
// child process, as PostgreSQL's backends run apart from the clients. Prints JSON with the ratios.
// Usage: npm run bench -- cascadb-server [--points P] [--batches B] [--batch N] [--pg URL]
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createKeyring, createLmdbEngine, createSecureStore } from '../src/kvs/index.ts';
import { openDatabase } from '../src/sql/index.ts';
import { startPgServer } from '../src/sql/server/index.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const POINTS = arg('points', 20_000);
const BATCHES = arg('batches', 48);
const WARMUP = 3000;
const BATCH = arg('batch', 100);
const PG_URL = process.argv.includes('--pg')
  ? process.argv[process.argv.indexOf('--pg') + 1]!
  : 'postgres://postgres@127.0.0.1:5432/test';
const ROWS = 2000;
const TABLE = 'bench_wire';

interface Target {
  readonly name: string;
  readonly config: pg.ClientConfig;
}

async function clients(t: Target, n: number): Promise<pg.Client[]> {
  const out: pg.Client[] = [];
  for (let i = 0; i < n; i++) {
    const c = new pg.Client(t.config);
    await c.connect();
    out.push(c);
  }
  return out;
}

async function setup(t: Target): Promise<void> {
  const [c] = await clients(t, 1);
  await c!.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await c!.query(
    `CREATE TABLE ${TABLE} (id bigint PRIMARY KEY, ts timestamp, v double precision, note text)`,
  );
  for (let i = 0; i < ROWS; i += 500) {
    const values = Array.from(
      { length: 500 },
      (_, j) => `(${i + j}, '2024-03-01 00:00:00', ${j / 7}, 'row ${i + j}')`,
    );
    await c!.query(`INSERT INTO ${TABLE} VALUES ${values.join(', ')}`);
  }
  // Warm-up (JIT, caches) so that the measured runs are steady state.
  for (let i = 0; i < WARMUP; i++) await c!.query(`SELECT * FROM ${TABLE} WHERE id = $1`, [i % ROWS]);
  await c!.end();
}

async function timed(
  n: number,
  cs: pg.Client[],
  work: (c: pg.Client, i: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    cs.map(async (c) => {
      for (let i = next++; i < n; i = next++) await work(c, i);
    }),
  );
  return Number(process.hrtime.bigint() - start) / 1e9;
}

async function measure(
  t: Target,
  concurrency: number,
): Promise<{ pointSelectsPerS: number; insertRowsPerS: number }> {
  const cs = await clients(t, concurrency);
  const selectS = await timed(POINTS, cs, async (c, i) => {
    const r = await c.query(`SELECT * FROM ${TABLE} WHERE id = $1`, [(i * 7919) % ROWS]);
    if (r.rows.length !== 1) throw new Error(`${t.name}: point select found ${r.rows.length} rows`);
  });
  const base = 1_000_000 * concurrency;
  const insertS = await timed(BATCHES, cs, async (c, b) => {
    await c.query('BEGIN');
    for (let j = 0; j < BATCH; j++) {
      await c.query(`INSERT INTO ${TABLE} VALUES ($1, $2, $3, $4)`, [
        base + b * BATCH + j,
        '2024-03-02 00:00:00',
        j,
        'x',
      ]);
    }
    await c.query('COMMIT');
  });
  await Promise.all(cs.map((c) => c.end()));
  return {
    pointSelectsPerS: Math.round(POINTS / selectS),
    insertRowsPerS: Math.round((BATCHES * BATCH) / insertS),
  };
}

async function reachable(config: pg.ClientConfig): Promise<boolean> {
  const c = new pg.Client(config);
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

/** The child: opens a fresh encrypted database, serves it, prints the port, stops on stdin end. */
async function serveChild(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cascadb-wire-bench-'));
  const lmdb = await createLmdbEngine({ path: dir });
  const engine = createSecureStore(lmdb, createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] }), {
    namespace: 'bench',
  });
  const db = await openDatabase({ engine });
  const server = await startPgServer(db, { port: 0, auth: { trust: true } });
  process.stdout.write(`${server.port}\n`);
  process.stdin.resume();
  process.stdin.on('end', async () => {
    await server.close({ deadlineMs: 2000 });
    await db.close();
    await lmdb.close();
    await rm(dir, { recursive: true, force: true });
    process.exit(0);
  });
}

if (process.argv.includes('--serve-child')) {
  await serveChild();
} else {
  await main();
}

async function startChild(): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve-child'],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('exit', (code) => reject(new Error(`the CascaDB server child exited with ${code}`)));
  });
  return { port, child };
}

async function main(): Promise<void> {
  const { port, child } = await startChild();
  const cascadb: Target = {
    name: 'cascadb',
    config: { host: '127.0.0.1', port, user: 'bench', database: 'cascadb' },
  };
  const postgres: Target = { name: 'postgresql', config: { connectionString: PG_URL } };
  const havePg = await reachable(postgres.config);
  if (!havePg) process.stderr.write(`PostgreSQL at ${PG_URL} is unreachable: measuring CascaDB only\n`);

  const results: Record<string, Record<string, unknown>> = {};
  try {
    for (const t of havePg ? [cascadb, postgres] : [cascadb]) {
      await setup(t);
      results[t.name] = { c1: await measure(t, 1), c16: await measure(t, 16) };
    }
    const ratio = (k: 'c1' | 'c16', f: 'pointSelectsPerS' | 'insertRowsPerS'): number | null => {
      if (!havePg) return null;
      const a = (results.cascadb![k] as Record<string, number>)[f]!;
      const b = (results.postgresql![k] as Record<string, number>)[f]!;
      return Math.round((a / b) * 100) / 100;
    };
    const out = {
      benchmark: 'cascadb-server',
      points: POINTS,
      insertRows: BATCHES * BATCH,
      batch: BATCH,
      results,
      ratiosCascadbVsPostgresql: {
        pointSelects: { c1: ratio('c1', 'pointSelectsPerS'), c16: ratio('c16', 'pointSelectsPerS') },
        inserts: { c1: ratio('c1', 'insertRowsPerS'), c16: ratio('c16', 'insertRowsPerS') },
      },
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    if (havePg) {
      const c = new pg.Client(postgres.config);
      await c.connect();
      await c.query(`DROP TABLE IF EXISTS ${TABLE}`);
      await c.end();
    }
  } finally {
    child.stdin!.end();
    await new Promise((r) => child.once('exit', r));
  }
}
