/**
 * The MDC's tables in CascaDB: `reading` (one row per meter and 15-minute interval, keyed
 * (meter_id, ts), with the decoded 0x14 fields, the meter's original block and its INMETRO proof),
 * `reading_batch` (the signed Merkle batches) and `meter_session` (established sessions, so that a
 * restarted MDC serves meters without new handshakes; the store seals every value).
 */

import type { Database, PreparedStatement, Session } from '../../sql/index.ts';
import type { BatchId, SignedBatch, StoredReading } from '../inmetro/index.ts';
import {
  INSTANTANEOUS_FLOAT_FIELDS,
  type InstantaneousQuantities,
  type MdcSessionRecord,
} from '../protocol/index.ts';

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const FLOAT_NAMES = INSTANTANEOUS_FLOAT_FIELDS.map((f) => f.name);
const FLOAT_COLUMNS = FLOAT_NAMES.map(snake);

/** DDL of the MDC's tables (idempotent). */
export const READING_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS reading (
    meter_id BIGINT NOT NULL,
    ts TIMESTAMP NOT NULL,
    ${FLOAT_COLUMNS.map((c) => `${c} DOUBLE PRECISION NOT NULL`).join(',\n    ')},
    active_energy_wh BIGINT NOT NULL,
    reactive_energy_varh BIGINT NOT NULL,
    block BYTEA NOT NULL,
    batch_id BIGINT NOT NULL,
    leaf INTEGER NOT NULL,
    proof BYTEA NOT NULL,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (meter_id, ts))`,
  `CREATE TABLE IF NOT EXISTS reading_batch (
    batch_id BIGINT PRIMARY KEY,
    signer TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    count INTEGER NOT NULL,
    root BYTEA NOT NULL,
    key_id TEXT NOT NULL,
    signature BYTEA NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS meter_session (
    meter_id BIGINT PRIMARY KEY,
    session_id TEXT NOT NULL,
    established_at BIGINT NOT NULL,
    last_hello BIGINT NOT NULL,
    up_key BYTEA NOT NULL,
    down_key BYTEA NOT NULL)`,
];

const READING_COLUMNS = [
  'meter_id',
  'ts',
  ...FLOAT_COLUMNS,
  'active_energy_wh',
  'reactive_energy_varh',
  'block',
  'batch_id',
  'leaf',
  'proof',
  'received_at',
];

/** A reading ready to be stored. */
export interface ReadingRow {
  readonly q: InstantaneousQuantities;
  readonly block: Uint8Array;
  readonly leaf: number;
  readonly proof: Uint8Array;
}

/** Typed access to the MDC's tables. One instance per MDC process (it owns the database). */
export class ReadingStore {
  readonly #db: Database;
  readonly #s: Session;
  readonly #exists: PreparedStatement;
  readonly #insert: PreparedStatement;
  readonly #insertBatch: PreparedStatement;
  readonly #upsertSession: PreparedStatement;
  #nextBatch: bigint;

  private constructor(
    db: Database,
    s: Session,
    st: {
      exists: PreparedStatement;
      insert: PreparedStatement;
      batch: PreparedStatement;
      session: PreparedStatement;
    },
    nextBatch: bigint,
  ) {
    this.#db = db;
    this.#s = s;
    this.#exists = st.exists;
    this.#insert = st.insert;
    this.#insertBatch = st.batch;
    this.#upsertSession = st.session;
    this.#nextBatch = nextBatch;
  }

  /** Creates the tables if needed and prepares the statements. */
  static async open(db: Database): Promise<ReadingStore> {
    const s = db.session();
    for (const ddl of READING_SCHEMA) await s.query(ddl);
    const exists = await s.prepare('SELECT 1 FROM reading WHERE meter_id = $1 AND ts = $2');
    const insert = await s.prepare(
      `INSERT INTO reading (${READING_COLUMNS.join(', ')}) VALUES (${READING_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`,
    );
    const batch = await s.prepare(
      'INSERT INTO reading_batch (batch_id, signer, created_at, count, root, key_id, signature) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    );
    const session = await s.prepare(
      `INSERT INTO meter_session (meter_id, session_id, established_at, last_hello, up_key, down_key)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (meter_id) DO UPDATE SET session_id = excluded.session_id, established_at = excluded.established_at,
         last_hello = excluded.last_hello, up_key = excluded.up_key, down_key = excluded.down_key`,
    );
    const max = await s.query('SELECT max(batch_id) AS m FROM reading_batch');
    const m = max.rows[0]?.[0];
    const next = typeof m === 'bigint' ? m + 1n : 1n;
    return new ReadingStore(db, s, { exists, insert, batch, session }, next);
  }

  /** The id the next batch gets. */
  nextBatchId(): bigint {
    return this.#nextBatch;
  }

  /** Runs `fn` in one transaction (serializable; this process owns the store). */
  async transaction<T>(fn: () => Promise<T>): Promise<T> {
    await this.#s.query('BEGIN');
    try {
      const out = await fn();
      await this.#s.query('COMMIT');
      return out;
    } catch (err) {
      await this.#s.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  /** True when a reading of that meter and interval is stored. */
  async exists(meterId: string, ts: number): Promise<boolean> {
    const r = await this.#exists.query([Number(meterId), ts]);
    return r.rows.length > 0;
  }

  /** Inserts readings and their signed batch (call inside {@link transaction}). */
  async insertBatch(
    batch: SignedBatch & { batchId: bigint },
    rows: readonly ReadingRow[],
    receivedAt: number,
  ): Promise<void> {
    for (const r of rows) {
      const q = r.q as unknown as Record<string, number>;
      const params: unknown[] = [Number(q.meterSerial), q.timestamp];
      for (const name of FLOAT_NAMES) params.push(q[name]);
      params.push(
        r.q.activeEnergyWh,
        r.q.reactiveEnergyVarh,
        r.block,
        batch.batchId,
        r.leaf,
        r.proof,
        receivedAt,
      );
      await this.#insert.query(params);
    }
    await this.#insertBatch.query([
      batch.batchId,
      batch.signer,
      batch.createdAt,
      batch.count,
      batch.root,
      batch.keyId,
      batch.signature,
    ]);
    this.#nextBatch = batch.batchId + 1n;
  }

  /** Persists an established session (keys are sealed by the secure store under the table's key). */
  async saveSession(r: MdcSessionRecord): Promise<void> {
    await this.#upsertSession.query([
      Number(r.meterId),
      r.sessionId,
      r.establishedAt,
      r.lastHelloTime,
      r.up,
      r.down,
    ]);
  }

  /** Every persisted session (at start-up). */
  async *sessions(): AsyncGenerator<MdcSessionRecord> {
    for await (const row of this.#db
      .session()
      .stream(
        'SELECT meter_id, session_id, established_at, last_hello, up_key, down_key FROM meter_session',
      )) {
      const [meter, sessionId, establishedAt, lastHello, up, down] = row as [
        bigint,
        string,
        bigint,
        bigint,
        Uint8Array,
        Uint8Array,
      ];
      yield {
        meterId: String(meter).padStart(8, '0'),
        sessionId,
        establishedAt: Number(establishedAt),
        lastHelloTime: Number(lastHello),
        up,
        down,
      };
    }
  }

  /** Number of stored readings (a full scan; for tests, status and audits of small ranges). */
  async countReadings(): Promise<number> {
    const r = await this.#db.session().query('SELECT count(*) FROM reading');
    return Number(r.rows[0]?.[0] ?? 0);
  }

  /** A meter's readings over (from, to], as the audit needs them. */
  async readings(meterId: string, from: number, to: number): Promise<StoredReading[]> {
    const cols = [
      'ts',
      ...FLOAT_COLUMNS,
      'active_energy_wh',
      'reactive_energy_varh',
      'block',
      'batch_id',
      'leaf',
      'proof',
    ];
    const r = await this.#db
      .session()
      .query(
        `SELECT ${cols.join(', ')} FROM reading WHERE meter_id = $1 AND ts > $2 AND ts <= $3 ORDER BY ts`,
        [Number(meterId), from, to],
      );
    return r.rows.map((row) => {
      const values: Record<string, number> = {};
      FLOAT_NAMES.forEach((name, i) => {
        values[name] = row[1 + i] as number;
      });
      const n = 1 + FLOAT_NAMES.length;
      values.activeEnergyWh = Number(row[n]);
      values.reactiveEnergyVarh = Number(row[n + 1]);
      return {
        meterId: meterId.padStart(8, '0'),
        ts: parseTimestamp(row[0] as string),
        block: row[n + 2] as Uint8Array,
        batchId: row[n + 3] as bigint,
        leafIndex: row[n + 4] as number,
        proof: row[n + 5] as Uint8Array,
        values,
      };
    });
  }

  /** A stored batch. */
  async batch(batchId: BatchId): Promise<SignedBatch | undefined> {
    const r = await this.#db
      .session()
      .query(
        'SELECT batch_id, signer, created_at, count, root, key_id, signature FROM reading_batch WHERE batch_id = $1',
        [BigInt(batchId)],
      );
    const row = r.rows[0];
    if (row === undefined) return undefined;
    return {
      batchId: row[0] as bigint,
      signer: row[1] as string,
      createdAt: Number(row[2]),
      count: row[3] as number,
      root: row[4] as Uint8Array,
      keyId: row[5] as string,
      signature: row[6] as Uint8Array,
    };
  }
}

/** A CascaDB TIMESTAMP result (`YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC) in UTC ms. */
export function parseTimestamp(s: string): number {
  return Date.parse(`${s.replace(' ', 'T')}Z`);
}
