// CascaDB against SQLite (better-sqlite3) and the local PostgreSQL, same schema, data and queries:
// batched inserts per second, primary-key point selects per second, and a primary-key prefix scan
// of one meter's month (2,880 rows) in rows per second. Prints JSON with the ratios.
// CascaDB runs as the goal defines it (LMDB + secure store, AES-256-GCM blocks; one writer, so
// commits block: see LmdbEngineOptions.blockingCommits), and, to show where its time goes, with
// commits on lmdb's write thread, with its block cache off (every block read is decrypted and
// authenticated again), with LMDB page encryption on as well (as `securecloud sql serve` runs it),
// and without the secure store. Commits are durable on every system: LMDB synced (overlappingSync off),
// SQLite WAL + synchronous=FULL, PostgreSQL's default synchronous_commit.
// Usage: npm run bench -- cascadb [--meters N] [--batch B] [--points P] [--scans S] [--pg URL]
//        [--block-bytes N] [--cache-bytes N] [--rounds R] [--systems KEY,KEY...]
// Two phases: the goal's comparison (cascadb, sqlite, postgresql), then CascaDB's variants for the
// breakdown (cascadb again and the four variants). In each phase the systems are measured in R
// interleaved rounds (see measureAll); figures are medians.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import {
  createKeyring,
  createLmdbEngine,
  createSecureStore,
  DEFAULT_BLOCK_BYTES,
  type StorageEngine,
} from '../src/kvs/index.ts';
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
const BLOCK_BYTES = arg('block-bytes', DEFAULT_BLOCK_BYTES);
const CACHE_BYTES = arg('cache-bytes', 64 * 1024 * 1024);
const ROUNDS = arg('rounds', 9);
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

type CascadbMode = 'secure' | 'secure-async-commits' | 'secure-no-cache' | 'secure-page-encryption' | 'plain';

async function cascadb(dir: string, mode: CascadbMode = 'secure'): Promise<Target> {
  const keyring = createKeyring({ keys: [{ id: 1, key: randomBytes(32) }] });
  const pages = mode === 'secure-page-encryption';
  // One writer waiting for each commit: commits on this thread (see LmdbEngineOptions), except in
  // the variant that shows what lmdb's own write thread costs.
  const blockingCommits = mode !== 'secure-async-commits' && !pages;
  const lmdb = await createLmdbEngine({
    path: dir,
    blockingCommits,
    ...(pages && { encryptionKey: randomBytes(32) }),
  });
  const cacheBytes = mode === 'secure-no-cache' ? 0 : CACHE_BYTES;
  const engine: StorageEngine =
    mode === 'plain'
      ? lmdb
      : createSecureStore(lmdb, keyring, { namespace: 'bench', blockBytes: BLOCK_BYTES, cacheBytes });
  const db = await openDatabase({ engine });
  const s = db.session();
  await s.query(CREATE);
  const insert = await s.prepare(INSERT);
  const point = await s.prepare(POINT);
  const scan = await s.prepare(SCAN);
  return {
    name:
      mode === 'plain'
        ? 'cascadb (lmdb, no encryption: for the breakdown only)'
        : `cascadb (lmdb${pages ? ' with page encryption, as `sql serve` runs it' : ''}, ${blockingCommits ? 'blocking commits' : "commits on lmdb's write thread"}, secure store: AES-256-GCM blocks of ${BLOCK_BYTES} bytes, block cache ${cacheBytes === 0 ? 'off' : `${cacheBytes} bytes`})`,
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

/** Each figure's samples, one per round. */
type Samples = { [K in keyof Figures]: number[] };

/** The systems in round `r`'s order: rotated, so that none always runs first (or last). */
function rotated<T>(items: readonly T[], r: number): T[] {
  const k = r % Math.max(1, items.length);
  return [...items.slice(k), ...items.slice(0, k)];
}

async function timed(f: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await f();
  return (performance.now() - start) / 1000;
}

/**
 * Measures every system in ROUNDS interleaved rounds: after an untimed warm-up (the first two
 * batches into every system), round r inserts its share of the rest into each system in turn,
 * starting with a different system each round; then the point selects and scans are shared out
 * the same way. A burst of load from other work on the machine then hits one round of each
 * system alike rather than one system's whole figure; each figure is the median of its rounds.
 */
async function measureAll(
  targets: readonly [string, Target][],
  data: readonly Reading[],
): Promise<Map<string, Samples>> {
  const samples = new Map<string, Samples>(
    targets.map(([key]) => [
      key,
      { insertRowsPerSecond: [], pointSelectsPerSecond: [], scanRowsPerSecond: [] },
    ]),
  );
  // Untimed warm-up: the first batches into every system, so that no system pays alone for
  // compiling the code the others share (the three CascaDB variants) by going first.
  const warmup = Math.min(2 * BATCH, data.length);
  for (const [, t] of targets) {
    for (let i = 0; i < warmup; i += BATCH) await t.insert(data.slice(i, Math.min(i + BATCH, warmup)));
  }
  const rest = data.slice(warmup);
  const perRound = Math.ceil(rest.length / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    const chunk = rest.slice(r * perRound, (r + 1) * perRound);
    if (chunk.length === 0) continue;
    for (const [key, t] of rotated(targets, r)) {
      const seconds = await timed(async () => {
        for (let i = 0; i < chunk.length; i += BATCH) await t.insert(chunk.slice(i, i + BATCH));
      });
      samples.get(key)!.insertRowsPerSecond.push(chunk.length / seconds);
    }
  }
  const pickFrom = (seed: number) => {
    const rand = prng(seed);
    return () => data[Math.floor(rand() * data.length)]!;
  };
  for (const [, t] of targets) {
    const pick = pickFrom(7);
    for (let i = 0; i < 1000; i++) await t.point(pick().meter, pick().us);
  }
  const points = Math.ceil(POINTS / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [key, t] of rotated(targets, r)) {
      const pick = pickFrom(100 + r);
      let found = 0;
      const seconds = await timed(async () => {
        for (let i = 0; i < points; i++) {
          const row = pick();
          found += await t.point(row.meter, row.us);
        }
      });
      if (found !== points) throw new Error(`${t.name}: ${found} of ${points} point selects found their row`);
      samples.get(key)!.pointSelectsPerSecond.push(points / seconds);
    }
  }
  const end = START_US + PER_METER * STEP_US;
  for (const [, t] of targets) await t.scan(1, START_US, end);
  const scans = Math.ceil(SCANS / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    for (const [key, t] of rotated(targets, r)) {
      let rows = 0;
      const seconds = await timed(async () => {
        for (let i = 0; i < scans; i++) rows += await t.scan(((r * scans + i) % METERS) + 1, START_US, end);
      });
      if (rows !== scans * PER_METER)
        throw new Error(`${t.name}: scans returned ${rows} rows, expected ${scans * PER_METER}`);
      samples.get(key)!.scanRowsPerSecond.push(rows / seconds);
    }
  }
  return samples;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const summary = (s: Samples): Figures => ({
  insertRowsPerSecond: median(s.insertRowsPerSecond),
  pointSelectsPerSecond: median(s.pointSelectsPerSecond),
  scanRowsPerSecond: median(s.scanRowsPerSecond),
});

/** Each figure's lowest and highest round, rounded. */
const spread = (s: Samples) =>
  Object.fromEntries(
    Object.entries(s).map(([k, xs]) => [k, [Math.round(Math.min(...xs)), Math.round(Math.max(...xs))]]),
  );

/** Each figure of every round, in the order of the rounds, rounded. */
const perRound = (s: Samples) =>
  Object.fromEntries(Object.entries(s).map(([k, xs]) => [k, xs.map((x) => Math.round(x))]));

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
  const store = createSecureStore(await createLmdbEngine({ path: dir, blockingCommits: true }), keyring, {
    namespace: 'floor',
    blockBytes: BLOCK_BYTES,
    cacheBytes: CACHE_BYTES,
  });
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
    what: `secure store (blocks of ${BLOCK_BYTES} bytes) over lmdb alone, ${value.length}-byte values, batches of ${BATCH}, block cache ${CACHE_BYTES} bytes`,
    batchedPutsPerSecond: Math.round(putsPerSecond),
    getsPerSecond: Math.round(getsPerSecond),
    scanRowsPerSecond: Math.round(scanRowsPerSecond),
  };
}

type Result = {
  system: string;
  figures?: Figures;
  spread?: Record<string, number[]>;
  rounds?: Record<string, number[]>;
  skipped?: string;
};

/** `--systems a,b`: only these systems (by key), in either phase. */
const ONLY = process.argv.includes('--systems')
  ? new Set(process.argv[process.argv.indexOf('--systems') + 1]!.split(','))
  : undefined;

/** Opens the phase's systems, measures them interleaved (measureAll), closes them. */
async function phase(
  systems: readonly [string, () => Promise<Target | string>][],
  data: readonly Reading[],
): Promise<Record<string, Result>> {
  const results: Record<string, Result> = {};
  const open: [string, Target][] = [];
  try {
    for (const [key, make] of systems.filter(([key]) => ONLY === undefined || ONLY.has(key))) {
      const t = await make();
      if (typeof t === 'string') {
        process.stderr.write(`skipping ${key}: ${t}\n`);
        results[key] = { system: key, skipped: t };
      } else open.push([key, t]);
    }
    if (open.length === 0) return results;
    const samples = await measureAll(open, data);
    for (const [key, t] of open) {
      const s = samples.get(key)!;
      results[key] = { system: t.name, figures: round(summary(s)), spread: spread(s), rounds: perRound(s) };
    }
  } finally {
    for (const [, t] of open) await t.close();
  }
  return results;
}

/** Each variant's figures over the phase's own CascaDB figures. */
function relative(results: Record<string, Result>) {
  const base = results.cascadb?.figures;
  if (base === undefined) return undefined;
  const r = (x: number, y: number) => Number((x / y).toFixed(2));
  return Object.fromEntries(
    Object.entries(results)
      .filter(([key, v]) => key !== 'cascadb' && v.figures !== undefined)
      .map(([key, v]) => [
        key,
        {
          insert: r(v.figures!.insertRowsPerSecond, base.insertRowsPerSecond),
          pointSelect: r(v.figures!.pointSelectsPerSecond, base.pointSelectsPerSecond),
          scan: r(v.figures!.scanRowsPerSecond, base.scanRowsPerSecond),
        },
      ]),
  );
}

async function main(): Promise<void> {
  const data = makeData();
  const dir = await mkdtemp(join(tmpdir(), 'cascadb-bench-'));
  let results: Record<string, Result>;
  let breakdown: Record<string, Result>;
  let floor: Awaited<ReturnType<typeof storeFloor>>;
  try {
    floor = await storeFloor(join(dir, 'floor'));
    // The goal's comparison: CascaDB as the goal defines it, SQLite and PostgreSQL, interleaved.
    results = await phase(
      [
        ['cascadb', () => cascadb(join(dir, 'cascadb'))],
        ['sqlite', () => sqlite(dir)],
        ['postgresql', () => postgres()],
      ],
      data,
    );
    // The breakdown, in a phase of its own: the goal's three systems then share each round's
    // time window only with each other (a round takes half as long, so a burst of other load hits
    // them more alike), and no deployment runs the variants side by side with the database.
    breakdown = await phase(
      [
        ['cascadb', () => cascadb(join(dir, 'breakdown-cascadb'))],
        ['cascadbAsyncCommits', () => cascadb(join(dir, 'cascadb-async'), 'secure-async-commits')],
        ['cascadbNoBlockCache', () => cascadb(join(dir, 'cascadb-no-cache'), 'secure-no-cache')],
        ['cascadbPageEncryption', () => cascadb(join(dir, 'cascadb-pages'), 'secure-page-encryption')],
        ['cascadbUnencrypted', () => cascadb(join(dir, 'cascadb-plain'), 'plain')],
      ],
      data,
    );
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
        rounds: ROUNDS,
        figures: 'median of the rounds (spread: lowest and highest round; rounds: each, in order)',
        blockBytes: BLOCK_BYTES,
        cacheBytes: CACHE_BYTES,
        pointSelects: POINTS,
        scans: { count: SCANS, rowsEach: PER_METER },
        results,
        cascadbOverSqlite: ratios(c, results.sqlite?.figures, 0.5),
        cascadbOverPostgresql: ratios(c, results.postgresql?.figures, 2),
        breakdown: {
          what: "CascaDB's variants, measured together in a second phase; ratios over that phase's own CascaDB",
          results: breakdown,
          overCascadb: relative(breakdown),
        },
        storeFloor: floor,
      },
      null,
      2,
    )}\n`,
  );
}

await main();
