// The MDC's ingestion core (MdcIngest) against hostile and faulty input: forged meters, wrong MDC
// key, tampered, replayed and reordered envelopes, duplicate readings, invalid readings, malformed
// messages and a failing store. Real keys, real envelopes, a real encrypted CascaDB store.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { IngestResult } from '../../src/metering/ingest-wire.ts';
import { EnvelopeWorker } from '../../src/metering/mdc/envelope-worker.ts';
import { ReadingStore } from '../../src/metering/mdc/reading-store.ts';
import {
  createSigningKeyPair,
  encodeRegistersResponse,
  sealData,
} from '../../src/metering/protocol/index.ts';
import { G, type IngestRig, openIngestRig, Q, removeFleet, T } from './mdc-ingest-fixture.ts';

const M1 = '00000001';
const M2 = '00000002';

/** Status and refusal code (payload as text) of each result. */
function outcome(results: readonly IngestResult[]): string[] {
  return results.map((r) =>
    r.status === 'refused' || r.status === 'retry' ? `${r.status}:${r.payload.toString('latin1')}` : r.status,
  );
}

/** Makes `ReadingStore.prototype.insertBatch` throw on its `nth` call from now (1-based), once. */
function failInsertBatch(nth: number, error: Error): { calls(): number; restore(): void } {
  const original = ReadingStore.prototype.insertBatch;
  let calls = 0;
  ReadingStore.prototype.insertBatch = async function (this: ReadingStore, ...args) {
    calls += 1;
    if (calls === nth) throw error;
    return original.apply(this, args);
  };
  return {
    calls: () => calls,
    restore: () => {
      ReadingStore.prototype.insertBatch = original;
    },
  };
}

/** The error a store raises, with a stable code. */
function storeError(code: string): Error {
  return Object.assign(new Error('simulated store failure'), { code });
}

after(removeFleet);

// Every test runs twice: envelopes opened and receipts sealed on the calling thread, and in the
// envelope worker thread (the MDC service's default).
for (const mode of ['calling thread', 'envelope worker'] as const) {
  describe(`MdcIngest (${mode})`, () => {
    let rig: IngestRig;
    let worker: EnvelopeWorker | undefined;
    before(async () => {
      if (mode === 'envelope worker') worker = await EnvelopeWorker.start();
    });
    after(async () => {
      await worker?.close();
    });
    beforeEach(async () => {
      rig = await openIngestRig(worker === undefined ? {} : { envelopeWorker: worker });
    });
    afterEach(async () => {
      await rig.close();
    });

    it('stores a report once, answers a sealed stored receipt and persists the session', async () => {
      const meter = await rig.connect(0);
      assert.equal(rig.ingest.sessionCount, 1);
      const envelope = meter.seal(rig.block(0, G));
      const [r] = await rig.handle([envelope]);
      assert.equal(r?.status, 'stored');
      assert.equal(r.meterId, M1);
      assert.deepEqual(rig.receipt(meter, r), {
        readerSerial: '000001',
        status: 'stored',
        timestamp: G,
        counter: 1,
      });
      assert.equal(await rig.store.countReadings(), 1);
      const [row] = await rig.store.readings(M1, G - Q, G);
      assert.deepEqual(Buffer.from(row?.block ?? []), Buffer.from(rig.block(0, G)));
      const audit = await rig.audit(M1, G - Q, G);
      assert.equal(audit.ok, true, JSON.stringify(audit));
      assert.equal(audit.verified, 1);
      const sessions = [];
      for await (const s of rig.store.sessions()) sessions.push(s.meterId);
      assert.deepEqual(sessions, [M1]);
      const c = rig.ingest.counters;
      assert.deepEqual([c.stored, c.duplicates, c.handshakes, c.batches, c.retries], [1, 0, 1, 1, 0]);
      assert.deepEqual(rig.refusals(), {});
    });

    it('refuses hellos of forged meters: a wrong key for a known id, and an id not in the registry', async () => {
      const wrongKey = rig.meter(0, { privateKey: createSigningKeyPair().privateKey });
      const unknown = rig.meter(0, { meterId: '00000099', privateKey: createSigningKeyPair().privateKey });
      const results = await rig.handle([wrongKey.startHandshake(), unknown.startHandshake()]);
      assert.deepEqual(outcome(results), ['refused:ERR_METER_SIGNATURE', 'refused:ERR_METER_UNKNOWN']);
      assert.deepEqual(
        results.map((r) => r.meterId),
        [M1, '00000099'],
      );
      assert.equal(rig.ingest.sessionCount, 0);
      assert.deepEqual(rig.refusals(), { ERR_METER_SIGNATURE: 1, ERR_METER_UNKNOWN: 1 });
      // The forgery did not consume the real meter's hello time: the real meter connects.
      await rig.connect(0);
      assert.equal(rig.ingest.sessionCount, 1);
    });

    it('refuses a hello made for another MDC key with ERR_MDC_KEY', async () => {
      const other = createSigningKeyPair().publicKey;
      const meter = rig.meter(1, { mdcPublicKey: other });
      const results = await rig.handle([meter.startHandshake()]);
      assert.deepEqual(outcome(results), ['refused:ERR_MDC_KEY']);
      assert.equal(results[0]?.meterId, M2);
      assert.equal(rig.ingest.sessionCount, 0);
      assert.deepEqual(rig.refusals(), { ERR_MDC_KEY: 1 });
    });

    it('refuses a tampered envelope without burning its counter', async () => {
      const meter = await rig.connect(0);
      const envelope = Buffer.from(meter.seal(rig.block(0, G)));
      for (const at of [22, 150, envelope.length - 1]) {
        const tampered = Buffer.from(envelope);
        tampered[at]! ^= 0x01;
        assert.deepEqual(
          outcome(await rig.handle([tampered])),
          ['refused:ERR_ENVELOPE_TAMPERED'],
          `byte ${at}`,
        );
      }
      assert.equal(await rig.store.countReadings(), 0);
      assert.deepEqual(outcome(await rig.handle([envelope])), ['stored']);
      assert.deepEqual(rig.refusals(), { ERR_ENVELOPE_TAMPERED: 3 });
      assert.equal(rig.ingest.counters.stored, 1);
    });

    it('refuses an envelope replayed in a later batch with ERR_ENVELOPE_REPLAYED', async () => {
      const meter = await rig.connect(0);
      const envelope = meter.seal(rig.block(0, G));
      assert.deepEqual(outcome(await rig.handle([envelope])), ['stored']);
      assert.deepEqual(outcome(await rig.handle([envelope])), ['refused:ERR_ENVELOPE_REPLAYED']);
      assert.equal(await rig.store.countReadings(), 1);
      assert.deepEqual(rig.refusals(), { ERR_ENVELOPE_REPLAYED: 1 });
      assert.deepEqual([rig.ingest.counters.stored, rig.ingest.counters.duplicates], [1, 0]);
    });

    it('refuses a replay in a batch that overlaps the first one (handled before the first is answered)', async () => {
      const meter = await rig.connect(0);
      const envelope = meter.seal(rig.block(0, G));
      const [first, second] = await Promise.all([
        rig.handle([envelope]),
        rig.handle([Buffer.from(envelope)]),
      ]);
      assert.deepEqual(
        [...outcome(first!), ...outcome(second!)],
        ['stored', 'refused:ERR_ENVELOPE_REPLAYED'],
      );
      assert.equal(await rig.store.countReadings(), 1);
      assert.deepEqual(rig.refusals(), { ERR_ENVELOPE_REPLAYED: 1 });
    });

    it('opens a report whose session a finish in the overlapping batch before establishes', async () => {
      const meter = rig.meter(1);
      const [accepted] = await rig.handle([meter.startHandshake()]);
      const finish = meter.completeHandshake(accepted!.payload);
      const envelope = meter.seal(rig.block(1, G));
      const [established, stored] = await Promise.all([rig.handle([finish]), rig.handle([envelope])]);
      assert.deepEqual([...outcome(established!), ...outcome(stored!)], ['established', 'stored']);
      assert.deepEqual(rig.receipt(meter, stored![0]!), {
        readerSerial: '000001',
        status: 'stored',
        timestamp: G,
        counter: 1,
      });
    });

    it('answers overlapping batches in full, receipts sealed with consecutive counters in batch order', async () => {
      const meter = await rig.connect(0);
      const envelopes = Array.from({ length: 6 }, (_, i) => meter.seal(rig.block(0, G - (5 - i) * Q)));
      const batches = await Promise.all([0, 2, 4].map((k) => rig.handle(envelopes.slice(k, k + 2))));
      assert.deepEqual(
        batches.flatMap((b) => outcome(b)),
        Array(6).fill('stored'),
      );
      // Each receipt opens at the meter and acknowledges its own report (counter and interval).
      const receipts = batches.flat().map((r) => rig.receipt(meter, r));
      assert.deepEqual(
        receipts.map((r) => [r.counter, r.timestamp]),
        envelopes.map((_, i) => [i + 1, G - (5 - i) * Q]),
      );
      assert.equal(await rig.store.countReadings(), 6);
    });

    it('refuses a tampered envelope in an overlapping batch without affecting the other', async () => {
      const meter = await rig.connect(0);
      const good = meter.seal(rig.block(0, G - Q));
      const bad = Buffer.from(meter.seal(rig.block(0, G)));
      bad[40]! ^= 1;
      const [a, b] = await Promise.all([rig.handle([good]), rig.handle([bad])]);
      assert.deepEqual([...outcome(a!), ...outcome(b!)], ['stored', 'refused:ERR_ENVELOPE_TAMPERED']);
      assert.deepEqual(rig.refusals(), { ERR_ENVELOPE_TAMPERED: 1 });
    });

    it('stores the first of two copies of one envelope in a batch and refuses the second as replayed', async () => {
      const meter = await rig.connect(0);
      const envelope = meter.seal(rig.block(0, G));
      const results = await rig.handle([envelope, Buffer.from(envelope)]);
      assert.deepEqual(outcome(results), ['stored', 'refused:ERR_ENVELOPE_REPLAYED']);
      assert.equal(await rig.store.countReadings(), 1);
      assert.deepEqual(rig.refusals(), { ERR_ENVELOPE_REPLAYED: 1 });
    });

    it('refuses an envelope below the 64-counter window with ERR_ENVELOPE_REORDERED', async () => {
      const meter = await rig.connect(0);
      // Counter c carries the interval ending (70 - c) quarter-hours before G: distinct readings.
      const envelopes = Array.from({ length: 70 }, (_, i) => meter.seal(rig.block(0, G - (69 - i) * Q)));
      assert.deepEqual(outcome(await rig.handle([envelopes[69]!])), ['stored']); // counter 70
      const late = await rig.handle([envelopes[4]!, envelopes[5]!]); // counters 5 and 6: <= 70 - 64
      assert.deepEqual(outcome(late), ['refused:ERR_ENVELOPE_REORDERED', 'refused:ERR_ENVELOPE_REORDERED']);
      const inWindow = await rig.handle([envelopes[6]!, envelopes[68]!]); // counters 7 and 69
      assert.deepEqual(outcome(inWindow), ['stored', 'stored']);
      assert.equal(await rig.store.countReadings(), 3);
      assert.deepEqual(rig.refusals(), { ERR_ENVELOPE_REORDERED: 2 });
    });

    it('answers the same reading under two counters with a duplicate receipt and stores it once', async () => {
      const meter = await rig.connect(0);
      const first = rig.block(0, G);
      const changed = rig.block(0, G, { demand: Math.fround(rig.report(0, G).demand + 1) });
      assert.notDeepEqual(Buffer.from(first), Buffer.from(changed));
      const e1 = meter.seal(first);
      const e2 = meter.seal(changed);
      const same = await rig.handle([e1, e2]);
      assert.deepEqual(outcome(same), ['stored', 'duplicate']);
      assert.deepEqual(rig.receipt(meter, same[0]!), {
        readerSerial: '000001',
        status: 'stored',
        timestamp: G,
        counter: 1,
      });
      assert.deepEqual(rig.receipt(meter, same[1]!), {
        readerSerial: '000001',
        status: 'duplicate',
        timestamp: G,
        counter: 2,
      });
      // In a later batch, under a third counter: the store already has it.
      const later = await rig.handle([meter.seal(changed)]);
      assert.deepEqual(outcome(later), ['duplicate']);
      assert.deepEqual(rig.receipt(meter, later[0]!), {
        readerSerial: '000001',
        status: 'duplicate',
        timestamp: G,
        counter: 3,
      });
      const rows = await rig.store.readings(M1, G - Q, G);
      assert.equal(rows.length, 1);
      assert.deepEqual(Buffer.from(rows[0]!.block), Buffer.from(first), 'the first copy is the one stored');
      assert.equal((await rig.audit(M1, G - Q, G)).ok, true);
      const c = rig.ingest.counters;
      assert.deepEqual([c.stored, c.duplicates], [1, 2]);
      assert.deepEqual(rig.refusals(), {});
    });

    it('refuses readings off the 15-minute grid, too far in the future or too old with ERR_READING_INVALID', async () => {
      const meter = await rig.connect(0);
      const offGrid = rig.block(0, G, { timestamp: G + 60_000 });
      const future = rig.block(0, G + Q); // 12 min after the MDC clock (limit 10 min)
      const old = rig.block(0, G - 36 * 96 * Q); // 36 days (limit 35)
      const results = await rig.handle([meter.seal(offGrid), meter.seal(future), meter.seal(old)]);
      assert.deepEqual(outcome(results), [
        'refused:ERR_READING_INVALID',
        'refused:ERR_READING_INVALID',
        'refused:ERR_READING_INVALID',
      ]);
      assert.equal(await rig.store.countReadings(), 0);
      assert.deepEqual(rig.refusals(), { ERR_READING_INVALID: 3 });
      // Exactly 10 minutes ahead is still accepted.
      rig.setNow(G + Q - 10 * 60_000);
      assert.deepEqual(outcome(await rig.handle([meter.seal(future)])), ['stored']);
      rig.setNow(T);
    });

    it('refuses a report block with another command code with ERR_BLOCK_CODE', async () => {
      const meter = await rig.connect(0);
      const registers = encodeRegistersResponse({
        meterSerial: M1,
        timestamp: G,
        activeImportWh: 1_000,
        activeExportWh: 0,
        reactiveInductiveVarh: 10,
        reactiveCapacitiveVarh: 0,
        maxDemandW: 1_500,
        maxDemandTime: G - 4 * Q,
      });
      const results = await rig.handle([meter.seal(registers)]);
      assert.deepEqual(outcome(results), ['refused:ERR_BLOCK_CODE']);
      assert.equal(results[0]?.meterId, M1);
      assert.equal(await rig.store.countReadings(), 0);
      assert.deepEqual(rig.refusals(), { ERR_BLOCK_CODE: 1 });
    });

    it('refuses an envelope whose block names another meter with ERR_METER_MISMATCH', async () => {
      const meter = await rig.connect(0);
      await rig.connect(1);
      const results = await rig.handle([meter.seal(rig.block(1, G))]);
      assert.deepEqual(outcome(results), ['refused:ERR_METER_MISMATCH']);
      assert.equal(results[0]?.meterId, M1);
      assert.equal(await rig.store.countReadings(), 0);
      assert.deepEqual(rig.refusals(), { ERR_METER_MISMATCH: 1 });
    });

    it('refuses envelopes of unknown sessions with ERR_SESSION_UNKNOWN', async () => {
      await rig.connect(0);
      const key = randomBytes(32);
      const results = await rig.handle([
        // A meter that has a session, under another session id.
        sealData('dataUp', key, M1, 'deadbeefdeadbeef', 1, rig.block(0, G)),
        // A meter that never ran a handshake.
        sealData('dataUp', key, M2, '0123456789abcdef', 1, rig.block(1, G)),
      ]);
      assert.deepEqual(outcome(results), ['refused:ERR_SESSION_UNKNOWN', 'refused:ERR_SESSION_UNKNOWN']);
      assert.deepEqual(
        results.map((r) => r.meterId),
        [M1, M2],
      );
      assert.deepEqual(rig.refusals(), { ERR_SESSION_UNKNOWN: 2 });
    });

    it('refuses malformed messages and messages of the down direction with ERR_ENVELOPE_MALFORMED', async () => {
      const meter = await rig.connect(0);
      const envelope = Buffer.from(meter.seal(rig.block(0, G)));
      const badVersion = Buffer.from(envelope);
      badVersion[0] = 2;
      const badType = Buffer.from(envelope);
      badType[1] = 9;
      const down = sealData('dataDown', randomBytes(32), M1, meter.sessionId!, 1, new Uint8Array(66));
      const accept = Buffer.alloc(110);
      accept[0] = 1;
      accept[1] = 2;
      const zeroCounter = Buffer.from(envelope);
      zeroCounter.fill(0, 14, 22);
      const messages = [
        envelope.subarray(0, envelope.length - 1), // too short
        Buffer.concat([envelope, Buffer.alloc(1)]), // too long
        badVersion,
        badType,
        Buffer.alloc(1),
        down,
        accept,
        zeroCounter,
      ];
      const results = await rig.handle(messages);
      assert.deepEqual(outcome(results), Array(messages.length).fill('refused:ERR_ENVELOPE_MALFORMED'));
      assert.equal(results[0]?.meterId, M1);
      assert.equal(results[4]?.meterId, '00000000');
      assert.deepEqual(rig.refusals(), { ERR_ENVELOPE_MALFORMED: messages.length });
      // None of this burned the counter of the genuine envelope.
      assert.deepEqual(outcome(await rig.handle([envelope])), ['stored']);
    });

    it('answers each message of a mixed batch in order and counts refusals by code', async () => {
      const m1 = await rig.connect(0);
      const m2 = await rig.connect(1);
      const forged = rig.meter(2, { privateKey: createSigningKeyPair().privateKey });
      const a = m1.seal(rig.block(0, G));
      const tampered = Buffer.from(m2.seal(rig.block(1, G - Q)));
      tampered[40]! ^= 0x80;
      const messages = [
        a,
        forged.startHandshake(),
        tampered,
        m2.seal(rig.block(1, G)),
        a,
        m1.seal(rig.block(0, G)),
        m1.seal(rig.block(0, G, { timestamp: G - 1000 })),
        Buffer.from(tampered),
        rig.meter(3).startHandshake(),
      ];
      const results = await rig.handle(messages);
      assert.deepEqual(outcome(results), [
        'stored',
        'refused:ERR_METER_SIGNATURE',
        'refused:ERR_ENVELOPE_TAMPERED',
        'stored',
        'refused:ERR_ENVELOPE_REPLAYED',
        'duplicate',
        'refused:ERR_READING_INVALID',
        'refused:ERR_ENVELOPE_TAMPERED',
        'accepted',
      ]);
      assert.deepEqual(
        results.map((r) => r.meterId),
        [M1, '00000003', M2, M2, M1, M1, M1, M2, '00000004'],
      );
      assert.deepEqual(rig.refusals(), {
        ERR_METER_SIGNATURE: 1,
        ERR_ENVELOPE_TAMPERED: 2,
        ERR_ENVELOPE_REPLAYED: 1,
        ERR_READING_INVALID: 1,
      });
      const c = rig.ingest.counters;
      assert.deepEqual([c.stored, c.duplicates, c.retries], [2, 1, 0]);
      assert.equal(await rig.store.countReadings(), 2);
    });

    it('answers retry to a whole batch whose store fails, and a resent batch stores each reading once', async () => {
      const m1 = await rig.connect(0);
      const m2 = await rig.connect(1);
      const tampered = Buffer.from(m1.seal(rig.block(0, G - 3 * Q)));
      tampered[100]! ^= 0x04;
      const batch = [
        m1.seal(rig.block(0, G - Q)),
        m1.seal(rig.block(0, G)),
        m2.seal(rig.block(1, G)),
        m2.seal(rig.block(1, G)), // the same reading under another counter
        tampered,
      ];
      const fault = failInsertBatch(1, storeError('ERR_TEST_STORE'));
      let failed: IngestResult[];
      try {
        failed = await rig.handle(batch);
      } finally {
        fault.restore();
      }
      assert.equal(fault.calls(), 1);
      assert.deepEqual(outcome(failed), [
        'retry:ERR_TEST_STORE',
        'retry:ERR_TEST_STORE',
        'retry:ERR_TEST_STORE',
        'retry:ERR_TEST_STORE',
        'refused:ERR_ENVELOPE_TAMPERED',
      ]);
      assert.deepEqual(
        failed.map((r) => r.meterId),
        [M1, M1, M2, M2, M1],
      );
      assert.equal(await rig.store.countReadings(), 0);
      let c = rig.ingest.counters;
      assert.deepEqual([c.stored, c.duplicates, c.retries, c.batches], [0, 0, 1, 0]);

      // The counters were not recorded: the same envelopes open again and are stored now.
      const resent = await rig.handle(batch);
      assert.deepEqual(outcome(resent), [
        'stored',
        'stored',
        'stored',
        'duplicate',
        'refused:ERR_ENVELOPE_TAMPERED',
      ]);
      assert.deepEqual(rig.receipt(m2, resent[3]!), {
        readerSerial: '000001',
        status: 'duplicate',
        timestamp: G,
        counter: 2,
      });
      // A third delivery is a replay of every envelope.
      const again = await rig.handle(batch.slice(0, 4));
      assert.deepEqual(outcome(again), Array(4).fill('refused:ERR_ENVELOPE_REPLAYED'));
      assert.equal(await rig.store.countReadings(), 3);
      assert.equal((await rig.store.readings(M1, G - 2 * Q, G)).length, 2);
      assert.equal((await rig.store.readings(M2, G - 2 * Q, G)).length, 1);
      assert.equal((await rig.audit(M1, G - 2 * Q, G)).ok, true);
      const audit2 = await rig.audit(M2, G - Q, G);
      assert.equal(audit2.ok, true, JSON.stringify(audit2));
      c = rig.ingest.counters;
      assert.deepEqual([c.stored, c.duplicates, c.retries, c.batches], [3, 1, 1, 1]);
      assert.deepEqual(rig.refusals(), { ERR_ENVELOPE_TAMPERED: 2, ERR_ENVELOPE_REPLAYED: 4 });
    });

    it('rolls back a transaction that fails after a first signed batch of 256 readings was written', async () => {
      const meters = [await rig.connect(0), await rig.connect(1), await rig.connect(2)];
      // 3 meters × 86 intervals = 258 readings: two signed batches (256 + 2).
      const batch: Uint8Array[] = [];
      for (let k = 0; k < 86; k++) {
        for (const [i, m] of meters.entries()) batch.push(m.seal(rig.block(i, G - k * Q)));
      }
      const fault = failInsertBatch(2, new Error('disk full'));
      let failed: IngestResult[];
      try {
        failed = await rig.handle(batch);
      } finally {
        fault.restore();
      }
      assert.equal(fault.calls(), 2, 'the first signed batch was written inside the transaction');
      assert.deepEqual(new Set(outcome(failed)), new Set(['retry:store-failed']));
      assert.equal(await rig.store.countReadings(), 0);
      assert.equal(rig.ingest.counters.stored, 0);

      const resent = await rig.handle(batch);
      assert.deepEqual(new Set(outcome(resent)), new Set(['stored']));
      assert.equal(await rig.store.countReadings(), 258);
      const from = G - 86 * Q;
      for (const id of [M1, M2, '00000003']) {
        const audit = await rig.audit(id, from, G);
        assert.equal(audit.ok, true, `${id}: ${JSON.stringify({ ...audit, missing: audit.missing.length })}`);
        assert.equal(audit.verified, 86);
      }
      assert.deepEqual([rig.ingest.counters.stored, rig.ingest.counters.retries], [258, 1]);
    });

    it('deduplicates against the store after a restart, whose replay window starts empty', async () => {
      const meter = await rig.connect(0);
      const old = [
        meter.seal(rig.block(0, G - 2 * Q)),
        meter.seal(rig.block(0, G - Q)),
        meter.seal(rig.block(0, G)),
      ];
      assert.deepEqual(outcome(await rig.handle(old)), ['stored', 'stored', 'stored']);
      assert.equal(await rig.restart(), 1);
      assert.equal(rig.ingest.sessionCount, 1);
      // The restored session opens the old envelopes again; the store still answers them duplicate.
      const replayed = await rig.handle(old);
      assert.deepEqual(outcome(replayed), ['duplicate', 'duplicate', 'duplicate']);
      assert.deepEqual(
        replayed.map((r) => rig.receipt(meter, r).timestamp),
        [G - 2 * Q, G - Q, G],
      );
      // A reading older than the latest stored one but not itself stored is stored.
      const fresh = await rig.handle([meter.seal(rig.block(0, G - 3 * Q)), meter.seal(rig.block(0, G))]);
      assert.deepEqual(outcome(fresh), ['stored', 'duplicate']);
      assert.equal(await rig.store.countReadings(), 4);
      assert.equal((await rig.audit(M1, G - 4 * Q, G)).ok, true);
      const c = rig.ingest.counters;
      assert.deepEqual([c.stored, c.duplicates, c.handshakes], [1, 4, 0]);
    });

    it('answers retry to a finish whose session could not be persisted, and establishes it when resent', async () => {
      const meter = rig.meter(0);
      const [accepted] = await rig.handle([meter.startHandshake()]);
      assert.equal(accepted?.status, 'accepted');
      const finish = meter.completeHandshake(accepted.payload);
      const envelope = meter.seal(rig.block(0, G));
      const fault = failInsertBatch(1, storeError('ERR_TEST_STORE'));
      let failed: IngestResult[];
      try {
        failed = await rig.handle([finish, envelope]);
      } finally {
        fault.restore();
      }
      assert.deepEqual(outcome(failed), ['retry:ERR_TEST_STORE', 'retry:ERR_TEST_STORE']);
      assert.equal(rig.ingest.counters.handshakes, 0);
      const resent = await rig.handle([finish, envelope]);
      assert.deepEqual(outcome(resent), ['established', 'stored']);
      assert.equal(rig.ingest.counters.handshakes, 1);
      const sessions: string[] = [];
      for await (const s of rig.store.sessions()) sessions.push(s.meterId);
      assert.deepEqual(sessions, [M1], 'the session is persisted');
    });
  });
}
