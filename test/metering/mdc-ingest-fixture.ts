// A real MDC ingestion core for the tests of MdcIngest: a provisioned fleet, the MDC identity, an
// encrypted CascaDB (LMDB) reading store in a temporary directory, and meters running the real
// handshake against it. No mocks: every envelope is sealed, opened and stored for real.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshKeyPair } from '../../src/crypto/index.ts';
import { decodeResult, type IngestResult } from '../../src/metering/ingest-wire.ts';
import { type AuditReport, auditReadings, type SignedBatch } from '../../src/metering/inmetro/index.ts';
import { MdcIngest, type MdcIngestOptions } from '../../src/metering/mdc/ingest.ts';
import { openMdcDatabase } from '../../src/metering/mdc/mdc-service.ts';
import { ReadingStore } from '../../src/metering/mdc/reading-store.ts';
import {
  decodeReceiptCommand,
  encodeInstantaneousResponse,
  type InstantaneousQuantities,
  MeterEndpoint,
  type Receipt,
} from '../../src/metering/protocol/index.ts';
import {
  ed25519FromSeed,
  MeterKeyFile,
  MeterRegistry,
  meterIdOf,
  provisionMeters,
} from '../../src/metering/provisioning.ts';
import { loadHouseholdProfiles } from '../../src/metering/simulator/household-data.ts';
import { type CustomerModel, createCustomerModel } from '../../src/metering/simulator/model.ts';

/** Meters provisioned for the tests (ids 00000001 to 00000004). */
export const METERS = 4;
/** 15 minutes. */
export const Q = 900_000;
/** The MDC clock of every rig at start: 3 minutes past an interval end. */
export const T = Date.UTC(2026, 0, 15, 12, 3, 0);
/** The last interval end at or before {@link T}. */
export const G = Date.UTC(2026, 0, 15, 12, 0, 0);

interface Fleet {
  readonly dir: string;
  readonly registry: MeterRegistry;
  readonly keys: MeterKeyFile;
  readonly identity: KeyObject;
  readonly mdcPublicKey: KeyObject;
  readonly model: CustomerModel;
}

let fleet: Promise<Fleet> | undefined;

/** Provisions the fleet once per test file (random keys; a few ms). */
function sharedFleet(): Promise<Fleet> {
  fleet ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sc-mdc-ingest-fleet-'));
    await provisionMeters({ dir, count: METERS });
    const identity = ed25519FromSeed(await readFile(join(dir, 'mdc.key')));
    return {
      dir,
      registry: await MeterRegistry.load(join(dir, 'registry.bin')),
      keys: await MeterKeyFile.load(join(dir, 'meters.keys')),
      identity,
      mdcPublicKey: createPublicKey(identity),
      model: createCustomerModel({
        meters: METERS,
        seed: 11,
        profiles: await loadHouseholdProfiles({ households: 2 }),
      }),
    };
  })();
  return fleet;
}

/** Removes the shared fleet's directory (call once, in `after`). */
export async function removeFleet(): Promise<void> {
  if (fleet === undefined) return;
  const f = await fleet;
  f.keys.destroy();
  await rm(f.dir, { recursive: true, force: true });
  fleet = undefined;
}

/** One MDC ingestion core over a fresh database. */
export interface IngestRig {
  /** The current ingestion core (replaced by {@link restart}). */
  readonly ingest: MdcIngest;
  readonly store: ReadingStore;
  readonly registry: MeterRegistry;
  readonly mdcPublicKey: KeyObject;
  readonly inmetroPublicKey: KeyObject;
  /** The shared clock of the MDC and of the meters made by {@link meter}. */
  now(): number;
  setNow(t: number): void;
  /** Meter `index` (0-based; id `index + 1`) with its provisioned key, unless overridden. */
  meter(
    index: number,
    o?: { privateKey?: KeyObject; mdcPublicKey?: KeyObject; meterId?: string },
  ): MeterEndpoint;
  /** A meter that completed the handshake with this MDC. */
  connect(index: number): Promise<MeterEndpoint>;
  /** The model's report of meter `index` for the interval ending at `intervalEnd`, with overrides. */
  report(
    index: number,
    intervalEnd: number,
    patch?: Partial<InstantaneousQuantities>,
  ): InstantaneousQuantities;
  /** The model's 0x14 response block (see {@link report}). */
  block(index: number, intervalEnd: number, patch?: Partial<InstantaneousQuantities>): Uint8Array;
  /** `ingest.handle`, results decoded. */
  handle(messages: readonly Uint8Array[]): Promise<IngestResult[]>;
  /** Opens the sealed receipt of a stored/duplicate result at its meter. */
  receipt(meter: MeterEndpoint, result: IngestResult): Receipt;
  /** Audits a meter's stored readings over (from, to] with the INMETRO public key. */
  audit(meterId: string, from: number, to: number): Promise<AuditReport>;
  /** The refusal counters as a plain object. */
  refusals(): Record<string, number>;
  /** Replaces the ingestion core by a new one over the same store (an MDC restart); returns the sessions restored. */
  restart(): Promise<number>;
  close(): Promise<void>;
}

/** Opens a rig: fresh database, fresh INMETRO key, clock at {@link T}. */
export async function openIngestRig(
  o: Partial<Pick<MdcIngestOptions, 'limits' | 'envelopeWorker'>> = {},
): Promise<IngestRig> {
  const f = await sharedFleet();
  const dbDir = await mkdtemp(join(tmpdir(), 'sc-mdc-ingest-db-'));
  const { db, engine } = await openMdcDatabase(join(dbDir, 'mdc'), Buffer.alloc(32, 7));
  const store = await ReadingStore.open(db);
  const inmetro = freshKeyPair('ed25519');
  let clock = T;
  const now = () => clock;
  const create = () =>
    new MdcIngest({
      store,
      identity: f.identity,
      registry: f.registry,
      inmetroKey: inmetro.privateKey,
      signer: 'test',
      now,
      ...o,
    });
  let ingest = create();
  const rig: IngestRig = {
    get ingest() {
      return ingest;
    },
    store,
    registry: f.registry,
    mdcPublicKey: f.mdcPublicKey,
    inmetroPublicKey: inmetro.publicKey,
    now,
    setNow: (t) => {
      clock = t;
    },
    meter: (index, m = {}) =>
      new MeterEndpoint({
        meterId: m.meterId ?? meterIdOf(index + 1),
        privateKey: m.privateKey ?? f.keys.privateKey(index),
        mdcPublicKey: m.mdcPublicKey ?? f.mdcPublicKey,
        now,
      }),
    async connect(index) {
      const meter = rig.meter(index);
      const [accepted] = await rig.handle([meter.startHandshake()]);
      if (accepted?.status !== 'accepted') throw new Error(`hello of meter ${index} not accepted`);
      const [established] = await rig.handle([meter.completeHandshake(accepted.payload)]);
      if (established?.status !== 'established') throw new Error(`finish of meter ${index} refused`);
      return meter;
    },
    report: (index, intervalEnd, patch = {}) => ({ ...f.model.report(index, intervalEnd), ...patch }),
    block: (index, intervalEnd, patch) => encodeInstantaneousResponse(rig.report(index, intervalEnd, patch)),
    async handle(messages) {
      const results = await ingest.handle(messages);
      return results.map((r) => decodeResult(r));
    },
    receipt: (meter, result) => decodeReceiptCommand(meter.open(result.payload)),
    async audit(meterId, from, to) {
      const readings = await store.readings(meterId, from, to);
      const batches = new Map<string, SignedBatch>();
      for (const r of readings) {
        const key = String(r.batchId);
        const b = batches.has(key) ? undefined : await store.batch(r.batchId);
        if (b !== undefined) batches.set(key, b);
      }
      return auditReadings({
        publicKey: inmetro.publicKey,
        meterId,
        from,
        to,
        readings,
        batches: (id) => batches.get(String(id)),
      });
    },
    refusals: () => Object.fromEntries(ingest.counters.refusals),
    async restart() {
      ingest.close();
      ingest = create();
      return ingest.restoreSessions();
    },
    async close() {
      ingest.close();
      await db.close();
      await engine.close();
      await rm(dbDir, { recursive: true, force: true });
    },
  };
  return rig;
}
