// CascaDB against SQLite (better-sqlite3) and the local PostgreSQL, same schema, data and queries:
// batched inserts per second, primary-key point selects per second, and a primary-key prefix scan
// of one meter's month (2,880 rows) in rows per second. Prints JSON with the ratios.
// Usage: npm run bench -- cascadb [--meters N] [--batch B] [--points P] [--scans S] [--pg URL]
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createKeyring, createLmdbEngine, createSecureStore, type StorageEngine } from '../src/kvs/index.ts';
import { openDatabase } from '../src/sql/database.ts';
import { prng } from '../test/support/prng.ts';

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const METERS = arg('meters', 20);
const BATCH = arg('batch', 500);
const POINTS = arg('points', 20_000);
const SCANS = arg('scans', 20);
const PG_URL = process.argv.includes('--pg')
  ? process.argv[process.argv.indexOf('--pg') + 1]!
  : 'postgres://postgres@127.0.0.1:5432/test';
const ATTRS = 30;
const PER_METER = 2880; // 30 days of 15-minute readings
const START_US = Date.UTC(2024, 2, 1) * 1000;
const STEP_US = 15 * 60 * 1_000_000;

const ATTR_COLS = Array.from({ length: ATTRS }, (_, i) => `a${i + 1}`);
const CREATE = `CREATE TABLE reading (meter_id bigint NOT NULL, ts timestamp NOT NULL, ${ATTR_COLS.map((c) => `${c} double precision`).join(', ')}, PRIMARY KEY (meter_id, ts))`;
const PLACEHOLDERS = (n: number, offset = 0) =>
  Array.from({ length: n }, (_, i) => `$${offset + i + 1}`).join(', ');
const INSERT = `INSERT INTO reading VALUES (${PLACEHOLDERS(ATTRS + 2)})`;
const POINT = 'SELECT * FROM reading WHERE meter_id = $1 AND ts = $2';
const SCAN = 'SELECT * FROM reading WHERE meter_id = $1 AND ts >= $2 AND ts < $3';

interface Reading {
  meter: number;
  us: number;
  attrs: number[];
}

function makeData(): Reading[] {
  const rand = prng(42);
  const out: Reading[] = [];
  for (let m = 1; m <= METERS; m++) {
    for (let i = 0; i < PER_METER; i++) {
      out.push({
        meter: m,
        us: START_US + i * STEP_US,
        attrs: Array.from({ length: ATTRS }, () => Math.round(rand() * 1e6) / 1000),
      });
    }
  }
  return out;
}

/** The three systems, behind one interface. */
interface Target {
  readonly name: string;
  insert(batch: readonly Reading[]): Promise<void>;
  point(meter: number, us: number): Promise<number>;
  scan(meter: number, fromUs: number, toUs: number): Promise<number>;
  close(): Promise<void>;
}

const isoTs = (us: number) => new Date(us / 1000).toISOString().replace('T', ' ').replace('Z', '');

async function cascadb(dir: string, encrypted = true): Promise<Target> {
  const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
  const lmdb = await createLmdbEngine({ path: dir });
  const engine: StorageEngine = encrypted ? createSecureStore(lmdb, keyring, { namespace: 'bench' }) : lmdb;
  const db = await openDatabase({ engine });
  const s = db.session();
  await s.query(CREATE);
  const insert = await s.prepare(INSERT);
  const point = await s.prepare(POINT);
  const scan = await s.prepare(SCAN);
  return {
    name: encrypted
      ? 'cascadb (lmdb, secure store: AES-256-GCM)'
      : 'cascadb (lmdb, no encryption: for the breakdown only)',
    async insert(batch) {
      await s.query('BEGIN');
      for (const r of batch) await insert.query([r.meter, BigInt(r.us), ...r.attrs]);
      await s.query('COMMIT');
    },
    async point(meter, us) {
      return (await point.query([meter, BigInt(us)])).rows.length;
    },
    async scan(meter, fromUs, toUs) {
      return (await scan.query([meter, BigInt(fromUs), BigInt(toUs)])).rows.length;
    },
    async close() {
      await db.close();
      await engine.close();
    },
  };
}

interface SqliteStatement {
  run(...a: unknown[]): unknown;
  get(...a: unknown[]): unknown;
  all(...a: unknown[]): unknown[];
  raw(on: boolean): SqliteStatement;
}

interface SqliteDb {
  pragma(s: string): unknown;
  exec(s: string): void;
  prepare(s: string): SqliteStatement;
  transaction<A extends unknown[]>(f: (...a: A) => void): (...a: A) => void;
  close(): void;
}

async function sqlite(dir: string): Promise<Target | string> {
  let Database: new (path: string) => SqliteDb;
  try {
    Database = createRequire(import.meta.url)('better-sqlite3');
  } catch (err) {
    return `better-sqlite3 cannot load (optional dependency, built from source at install): ${(err as Error).message}`;
  }
  const db = new Database(join(dir, 'bench.sqlite'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(CREATE.replace(/\$\d+/g, '?').replace('timestamp', 'integer'));
  const insert = db.prepare(INSERT.replace(/\$\d+/g, '?'));
  // Rows as arrays, like the other two systems return them.
  const point = db.prepare(POINT.replace(/\$\d+/g, '?')).raw(true);
  const scan = db.prepare(SCAN.replace(/\$\d+/g, '?')).raw(true);
  const insertMany = db.transaction((batch: readonly Reading[]) => {
    for (const r of batch) insert.run(r.meter, r.us, ...r.attrs);
  });
  return {
    name: 'sqlite (better-sqlite3, WAL, synchronous=FULL)',
    async insert(batch) {
      insertMany(batch);
    },
    async point(meter, us) {
      return point.get(meter, us) === undefined ? 0 : 1;
    },
    async scan(meter, fromUs, toUs) {
      return scan.all(meter, fromUs, toUs).length;
    },
    async close() {
      db.close();
    },
  };
}

async function postgres(): Promise<Target | string> {
  const client = new pg.Client({ connectionString: PG_URL });
  try {
    await client.connect();
  } catch (err) {
    return `PostgreSQL not reachable at ${PG_URL}: ${(err as Error).message}`;
  }
  await client.query('DROP TABLE IF EXISTS reading');
  await client.query(CREATE);
  const rowsPerInsert = Math.min(BATCH, Math.floor(65535 / (ATTRS + 2)));
  return {
    name: 'postgresql 15 (pg over loopback TCP, multi-row INSERT)',
    async insert(batch) {
      await client.query('BEGIN');
      for (let i = 0; i < batch.length; i += rowsPerInsert) {
        const chunk = batch.slice(i, i + rowsPerInsert);
        const values = chunk.map((_, j) => `(${PLACEHOLDERS(ATTRS + 2, j * (ATTRS + 2))})`).join(', ');
        await client.query(
          `INSERT INTO reading VALUES ${values}`,
          chunk.flatMap((r) => [r.meter, isoTs(r.us), ...r.attrs]),
        );
      }
      await client.query('COMMIT');
    },
    async point(meter, us) {
      return (
        (await client.query({ name: 'point', text: POINT, values: [meter, isoTs(us)], rowMode: 'array' }))
          .rowCount ?? 0
      );
    },
    async scan(meter, fromUs, toUs) {
      const q = {
        name: 'scan',
        text: SCAN,
        values: [meter, isoTs(fromUs), isoTs(toUs)],
        rowMode: 'array' as const,
      };
      return (await client.query(q)).rowCount ?? 0;
    },
    async close() {
      await client.query('DROP TABLE IF EXISTS reading');
      await client.end();
    },
  };
}

interface Figures {
  insertRowsPerSecond: number;
  pointSelectsPerSecond: number;
  scanRowsPerSecond: number;
}

async function measure(t: Target, data: readonly Reading[]): Promise<Figures> {
  let start = performance.now();
  for (let i = 0; i < data.length; i += BATCH) await t.insert(data.slice(i, i + BATCH));
  const insertRowsPerSecond = data.length / ((performance.now() - start) / 1000);
  const rand = prng(7);
  const pick = () => data[Math.floor(rand() * data.length)]!;
  for (let i = 0; i < 1000; i++) await t.point(pick().meter, pick().us);
  start = performance.now();
  let found = 0;
  for (let i = 0; i < POINTS; i++) {
    const r = pick();
    found += await t.point(r.meter, r.us);
  }
  const pointSelectsPerSecond = POINTS / ((performance.now() - start) / 1000);
  if (found !== POINTS) throw new Error(`${t.name}: ${found} of ${POINTS} point selects found their row`);
  const end = START_US + PER_METER * STEP_US;
  await t.scan(1, START_US, end);
  start = performance.now();
  let rows = 0;
  for (let i = 0; i < SCANS; i++) rows += await t.scan((i % METERS) + 1, START_US, end);
  const scanRowsPerSecond = rows / ((performance.now() - start) / 1000);
  if (rows !== SCANS * PER_METER)
    throw new Error(`${t.name}: scans returned ${rows} rows, expected ${SCANS * PER_METER}`);
  return { insertRowsPerSecond, pointSelectsPerSecond, scanRowsPerSecond };
}

const round = (f: Figures): Figures => ({
  insertRowsPerSecond: Math.round(f.insertRowsPerSecond),
  pointSelectsPerSecond: Math.round(f.pointSelectsPerSecond),
  scanRowsPerSecond: Math.round(f.scanRowsPerSecond),
});

function ratios(a: Figures, b: Figures | undefined, goal: number) {
  if (b === undefined) return undefined;
  const r = (x: number, y: number) => Number((x / y).toFixed(2));
  const out = {
    insert: r(a.insertRowsPerSecond, b.insertRowsPerSecond),
    pointSelect: r(a.pointSelectsPerSecond, b.pointSelectsPerSecond),
    scan: r(a.scanRowsPerSecond, b.scanRowsPerSecond),
  };
  return { ...out, goal, meetsGoal: Object.values(out).every((x) => x >= goal) };
}

/**
 * What the secure store over lmdb costs per entry by itself (no SQL): the ceiling CascaDB's
 * figures cannot pass, and the share of them that is encryption.
 */
async function storeFloor(dir: string) {
  const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
  const store = createSecureStore(await createLmdbEngine({ path: dir }), keyring, { namespace: 'floor' });
  const n = 20_000;
  const keys = Array.from({ length: n }, (_, i) => {
    const k = Buffer.alloc(12);
    k.writeUInt32BE(i, 8);
    return k;
  });
  const value = randomBytes(8 * ATTRS + 40);
  let start = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    await store.batch(keys.slice(i, i + BATCH).map((key) => ({ type: 'put' as const, key, value })));
  }
  const putsPerSecond = n / ((performance.now() - start) / 1000);
  start = performance.now();
  for (const k of keys) await store.get(k);
  const getsPerSecond = n / ((performance.now() - start) / 1000);
  start = performance.now();
  let rows = 0;
  for await (const _ of store.scan({})) rows++;
  const scanRowsPerSecond = rows / ((performance.now() - start) / 1000);
  await store.close();
  return {
    what: `secure store over lmdb alone, ${value.length}-byte values`,
    batchedPutsPerSecond: Math.round(putsPerSecond),
    getsPerSecond: Math.round(getsPerSecond),
    scanRowsPerSecond: Math.round(scanRowsPerSecond),
  };
}

async function main(): Promise<void> {
  const data = makeData();
  const dir = await mkdtemp(join(tmpdir(), 'cascadb-bench-'));
  const results: Record<string, { system: string; figures?: Figures; skipped?: string }> = {};
  let floor: Awaited<ReturnType<typeof storeFloor>>;
  try {
    floor = await storeFloor(join(dir, 'floor'));
    const targets: [string, () => Promise<Target | string>][] = [
      ['cascadb', () => cascadb(join(dir, 'cascadb'))],
      ['cascadbUnencrypted', () => cascadb(join(dir, 'cascadb-plain'), false)],
      ['sqlite', () => sqlite(dir)],
      ['postgresql', () => postgres()],
    ];
    for (const [key, open] of targets) {
      const t = await open();
      if (typeof t === 'string') {
        process.stderr.write(`skipping ${key}: ${t}\n`);
        results[key] = { system: key, skipped: t };
        continue;
      }
      try {
        results[key] = { system: t.name, figures: round(await measure(t, data)) };
      } finally {
        await t.close();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const c = results.cascadb?.figures;
  if (c === undefined) throw new Error('CascaDB produced no figures');
  process.stdout.write(
    `${JSON.stringify(
      {
        benchmark: 'cascadb',
        node: process.version,
        rows: data.length,
        meters: METERS,
        batch: BATCH,
        pointSelects: POINTS,
        scans: { count: SCANS, rowsEach: PER_METER },
        results,
        storeFloor: floor,
        cascadbOverSqlite: ratios(c, results.sqlite?.figures, 0.5),
        cascadbOverPostgresql: ratios(c, results.postgresql?.figures, 2),
      },
      null,
      2,
    )}\n`,
  );
}

await main();
