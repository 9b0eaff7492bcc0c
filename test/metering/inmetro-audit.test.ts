// The audit's verification core against real signed batches of real 0x14 blocks, tampered for real.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createSigningKeyPair,
  decodeInstantaneousResponse,
  encodeInstantaneousResponse,
  type InstantaneousQuantities,
} from '../../src/metering/index.ts';
import {
  type AuditReason,
  type AuditReport,
  auditReadings,
  type BatchId,
  formatAuditReport,
  InmetroBatchSigner,
  isInmetroError,
  type SignedBatch,
  type StoredReading,
} from '../../src/metering/inmetro/index.ts';
import { prng } from '../support/prng.ts';
import { sampleReport, seed } from './protocol-fixture.ts';

const Q = 900_000;
const DAY = 86_400_000;
const FROM = Date.UTC(2026, 0, 15);
const TO = FROM + DAY;
const METER = '00012345';
const OTHERS = ['00067890', '00011111'];
const INMETRO = createSigningKeyPair(seed('inmetro/audit'));
const MALLORY = createSigningKeyPair(seed('mallory'));

function report(meter: string, ts: number, i: number): InstantaneousQuantities {
  return {
    ...sampleReport(meter, ts),
    demand: Math.fround(1000 + i * 3.3),
    voltageA: Math.fround(127 + (i % 7) * 0.1),
    activeEnergyWh: 12_000_000 + i * 250,
  };
}

function valuesOf(block: Uint8Array): Record<string, number> {
  const { meterSerial: _m, timestamp: _t, ...values } = decodeInstantaneousResponse(block);
  return values;
}

/** Signs `blocks` as one batch and returns its rows (with decoded columns) and the batch. */
function signBatch(id: bigint, blocks: Uint8Array[], key = INMETRO.privateKey) {
  const signer = new InmetroBatchSigner({ privateKey: key, signer: 'mdc-1' });
  const { proofs, ...batch } = signer.sign({ batchId: id, createdAt: FROM + DAY + Number(id), blocks });
  const rows = blocks.map((block, leafIndex): StoredReading => {
    const q = decodeInstantaneousResponse(block);
    const meterId = String(Number(q.meterSerial)); // SQL meter_id is a bigint: '12345'
    return {
      meterId,
      ts: q.timestamp,
      block,
      batchId: id,
      leafIndex,
      proof: proofs[leafIndex]!,
      values: valuesOf(block),
    };
  });
  return { batch: batch as SignedBatch, rows };
}

/**
 * A stored day: three meters × 96 intervals, committed in 12 batches of 8 intervals × 3 meters
 * (shuffled, as the MDC commits them), plus one batch with a reading just before and just after.
 */
function storedDay() {
  const random = prng(7);
  const batches = new Map<string, SignedBatch>();
  const rows: StoredReading[] = [];
  const add = (id: bigint, blocks: Uint8Array[]) => {
    const signed = signBatch(id, blocks);
    batches.set(String(id), signed.batch);
    rows.push(...signed.rows);
  };
  for (let b = 0; b < 12; b++) {
    const blocks: Uint8Array[] = [];
    for (let k = 1; k <= 8; k++) {
      const i = b * 8 + k;
      for (const m of [METER, ...OTHERS])
        blocks.push(encodeInstantaneousResponse(report(m, FROM + i * Q, i)));
    }
    blocks.sort(() => random() - 0.5);
    add(BigInt(b + 1), blocks);
  }
  add(100n, [
    encodeInstantaneousResponse(report(METER, FROM, 0)),
    encodeInstantaneousResponse(report(METER, TO + Q, 97)),
  ]);
  return { rows, batches };
}

function audit(
  rows: StoredReading[],
  batches: Map<string, SignedBatch>,
  publicKey = INMETRO.publicKey,
): AuditReport {
  return auditReadings({
    publicKey,
    meterId: METER,
    from: FROM,
    to: TO,
    readings: rows,
    batches: (id: BatchId) => batches.get(String(id)),
  });
}

const at = (i: number) => FROM + i * Q;
const rowIndex = (rows: StoredReading[], meter: string, ts: number) =>
  rows.findIndex((r) => r.meterId.padStart(8, '0') === meter && r.ts === ts);

/** Re-encodes a block with other values: a valid CRC, a forged content. */
function forge(block: Uint8Array, change: Partial<InstantaneousQuantities>): Uint8Array {
  return encodeInstantaneousResponse({ ...decodeInstantaneousResponse(block), ...change });
}

function assertOnly(report: AuditReport, reason: AuditReason, times: number[]) {
  assert.equal(report.ok, false);
  assert.deepEqual(report.missing, []);
  assert.deepEqual(report.duplicated, []);
  assert.deepEqual(
    report.altered.map((f) => [f.ts, f.reason]),
    times.map((t) => [t, reason]),
    JSON.stringify(report.altered),
  );
}

describe('auditReadings', () => {
  it('passes a clean day of 96 readings, verifying each batch signature once', () => {
    const { rows, batches } = storedDay();
    const looked: string[] = [];
    const report = auditReadings({
      publicKey: INMETRO.publicKey,
      meterId: '12345',
      from: FROM,
      to: TO,
      readings: rows,
      batches: (id) => {
        looked.push(String(id));
        return batches.get(String(id));
      },
    });
    assert.equal(report.ok, true, formatAuditReport(report));
    assert.equal(report.meterId, METER);
    assert.equal(report.expected, 96);
    assert.equal(report.stored, 96);
    assert.equal(report.verified, 96);
    assert.equal(report.ignored, rows.length - 96, 'other meters, and the readings at from and after to');
    assert.deepEqual(looked.sort(), ['1', '10', '11', '12', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.match(formatAuditReport(report), /OK: 96 of 96 readings verified/);
  });

  it('reports a block that no longer decodes as bad-block', () => {
    const { rows, batches } = storedDay();
    const i = rowIndex(rows, METER, at(10));
    const block = Uint8Array.from(rows[i]!.block);
    block[100]! ^= 0x01; // CRC not fixed
    rows[i] = { ...rows[i]!, block };
    const report = audit(rows, batches);
    assertOnly(report, 'bad-block', [at(10)]);
    assert.match(report.altered[0]!.detail, /ERR_BLOCK_CRC/);
  });

  it('reports an altered block with a valid CRC and matching columns as bad-proof', () => {
    const { rows, batches } = storedDay();
    const i = rowIndex(rows, METER, at(11));
    const block = forge(rows[i]!.block, { activeEnergyWh: 11_000_000 });
    rows[i] = { ...rows[i]!, block, values: valuesOf(block) };
    assertOnly(audit(rows, batches), 'bad-proof', [at(11)]);
  });

  it('reports an altered proof, a swapped leaf index and an index beyond the batch as bad-proof', () => {
    const { rows, batches } = storedDay();
    const [a, b, c] = [12, 13, 14].map((k) => rowIndex(rows, METER, at(k)));
    const proof = Uint8Array.from(rows[a!]!.proof);
    proof[5]! ^= 0x80;
    rows[a!] = { ...rows[a!]!, proof };
    rows[b!] = { ...rows[b!]!, leafIndex: (rows[b!]!.leafIndex + 1) % 24 };
    rows[c!] = { ...rows[c!]!, leafIndex: 24 };
    const report = audit(rows, batches);
    assertOnly(report, 'bad-proof', [at(12), at(13), at(14)]);
    assert.match(report.altered[2]!.detail, /leaf index 24 is outside batch 2 of 24/);
  });

  it("reports another meter's reading moved under the audited meter as wrong-meter", () => {
    const { rows, batches } = storedDay();
    const mine = rowIndex(rows, METER, at(20));
    const theirs = rows[rowIndex(rows, OTHERS[0]!, at(20))]!;
    rows[mine] = { ...theirs, meterId: METER };
    const report = audit(rows, batches);
    assertOnly(report, 'wrong-meter', [at(20)]);
    assert.match(report.altered[0]!.detail, /from meter 00067890, the row says 00012345/);
  });

  it('reports an older reading replayed into another interval as wrong-time', () => {
    const { rows, batches } = storedDay();
    const older = rows[rowIndex(rows, METER, at(30))]!;
    rows[rowIndex(rows, METER, at(31))] = { ...older, ts: at(31) };
    assertOnly(audit(rows, batches), 'wrong-time', [at(31)]);
  });

  it('reports a signed reading stored between two interval ends as off-grid', () => {
    const { rows, batches } = storedDay();
    const ts = at(40) + 7 * 60_000;
    const extra = signBatch(50n, [encodeInstantaneousResponse(report(METER, ts, 40))]);
    batches.set('50', extra.batch);
    rows.push(...extra.rows);
    const report_ = audit(rows, batches);
    assertOnly(report_, 'off-grid', [ts]);
    assert.equal(report_.stored, 97);
  });

  it('reports a row naming a batch that is not stored as unknown-batch', () => {
    const { rows, batches } = storedDay();
    const i = rowIndex(rows, METER, at(50));
    rows[i] = { ...rows[i]!, batchId: 999n };
    assertOnly(audit(rows, batches), 'unknown-batch', [at(50)]);
  });

  it('reports a batch re-signed with another key as wrong-key', () => {
    const { rows, batches } = storedDay();
    // Mallory alters one reading of batch 3 and re-signs the whole batch with her own key.
    const inBatch = rows.filter((r) => r.batchId === 3n).sort((x, y) => x.leafIndex - y.leafIndex);
    const target = inBatch.findIndex((r) => r.meterId === '12345' && r.ts === at(17));
    const blocks = inBatch.map((r, k) => (k === target ? forge(r.block, { demand: 1 }) : r.block));
    const forged = signBatch(3n, blocks, MALLORY.privateKey);
    batches.set('3', forged.batch);
    for (const row of forged.rows) rows[rowIndex(rows, row.meterId.padStart(8, '0'), row.ts)] = row;
    const report = audit(rows, batches);
    assertOnly(report, 'wrong-key', [17, 18, 19, 20, 21, 22, 23, 24].map(at));
    assert.match(report.altered[0]!.detail, /signed with key [0-9a-f]{16}…, the audit key is/);
  });

  it('reports a batch whose root was replaced by a recomputed one as bad-batch-signature', () => {
    const { rows, batches } = storedDay();
    // An insider alters a reading, recomputes the tree and the proofs, and writes the new root.
    const inBatch = rows.filter((r) => r.batchId === 4n).sort((x, y) => x.leafIndex - y.leafIndex);
    const target = inBatch.findIndex((r) => r.meterId === '12345' && r.ts === at(25));
    const blocks = inBatch.map((r, k) => (k === target ? forge(r.block, { activeEnergyWh: 1 }) : r.block));
    const recomputed = signBatch(4n, blocks, MALLORY.privateKey);
    batches.set('4', { ...batches.get('4')!, root: recomputed.batch.root });
    for (const row of recomputed.rows) rows[rowIndex(rows, row.meterId.padStart(8, '0'), row.ts)] = row;
    const report = audit(rows, batches);
    assertOnly(report, 'bad-batch-signature', [25, 26, 27, 28, 29, 30, 31, 32].map(at));
  });

  it('reports every reading as wrong-key when audited with another key', () => {
    const { rows, batches } = storedDay();
    const report = audit(rows, batches, MALLORY.publicKey);
    assert.equal(report.altered.length, 96);
    assert.ok(report.altered.every((f) => f.reason === 'wrong-key'));
  });

  it('reports a decoded column that differs from the signed block as column-mismatch', () => {
    const { rows, batches } = storedDay();
    const [a, b] = [60, 61].map((k) => rowIndex(rows, METER, at(k)));
    rows[a!] = {
      ...rows[a!]!,
      values: { ...rows[a!]!.values, activeEnergyWh: rows[a!]!.values!.activeEnergyWh! - 1 },
    };
    // A float column that differs from the float32 only below float32 precision still differs.
    const v = rows[b!]!.values!.voltageA!;
    rows[b!] = { ...rows[b!]!, values: { ...rows[b!]!.values, voltageA: v + 1e-9 } };
    const report = audit(rows, batches);
    assertOnly(report, 'column-mismatch', [at(60), at(61)]);
    assert.match(
      report.altered[0]!.detail,
      /column activeEnergyWh holds 12014999, the signed block says 12015000/,
    );
  });

  it('finds missing intervals and duplicated rows and formats them compactly', () => {
    const { rows, batches } = storedDay();
    const drop = new Set([...[1, 2, 3, 4, 5, 6, 7, 8].map(at), at(50)]);
    const kept = rows.filter((r) => !(r.meterId === '12345' && drop.has(r.ts)));
    kept.push(rows[rowIndex(rows, METER, at(70))]!);
    const report = audit(kept, batches);
    assert.equal(report.ok, false);
    assert.deepEqual(report.missing, [...drop]);
    assert.deepEqual(report.duplicated, [at(70)]);
    assert.deepEqual(report.altered, []);
    assert.equal(report.stored, 96 - 9 + 1);
    assert.equal(report.verified, report.stored, 'a duplicate of a genuine reading verifies');
    const text = formatAuditReport(report);
    assert.match(text, /NOT OK: 9 missing, 1 duplicated, 0 altered/);
    assert.match(text, /missing: 2026-01-15T00:15Z…2026-01-15T02:00Z \(8\), 2026-01-15T12:30Z/);
    assert.match(text, /duplicated: 2026-01-15T17:30Z/);
  });

  it('lists at most maxItems findings in the text', () => {
    const { rows, batches } = storedDay();
    const report = audit(rows, batches, MALLORY.publicKey);
    const text = formatAuditReport(report, { maxItems: 3 });
    assert.equal(text.split('\n').filter((l) => l.includes('wrong-key:')).length, 3);
    assert.match(text, /… 93 more altered readings/);
  });

  it('expects nothing over an empty range and everything over several days', () => {
    const { rows, batches } = storedDay();
    const empty = auditReadings({
      publicKey: INMETRO.publicKey,
      meterId: METER,
      from: FROM,
      to: FROM,
      readings: rows,
      batches: (id) => batches.get(String(id)),
    });
    assert.equal(empty.expected, 0);
    assert.equal(empty.ok, true);
    const twoDays = auditReadings({
      publicKey: INMETRO.publicKey,
      meterId: METER,
      from: FROM,
      to: TO + DAY,
      readings: rows,
      batches: (id) => batches.get(String(id)),
    });
    assert.equal(twoDays.expected, 192);
    assert.equal(twoDays.missing.length, 95, 'the second day holds one reading (00:15)');
    assert.match(formatAuditReport(twoDays), /missing: 2026-01-16T00:30Z…2026-01-17T00:00Z \(95\)/);
  });

  it('refuses a range off the grid or backwards, and misuse of meter ids and column names', () => {
    const { rows, batches } = storedDay();
    const base = {
      publicKey: INMETRO.publicKey,
      meterId: METER,
      from: FROM,
      to: TO,
      readings: rows,
      batches: (id: BatchId) => batches.get(String(id)),
    };
    const range = (e: unknown) => isInmetroError(e, 'ERR_INMETRO_AUDIT_RANGE');
    assert.throws(() => auditReadings({ ...base, from: FROM + 60_000 }), range);
    assert.throws(
      () => auditReadings({ ...base, to: TO - 1 }),
      /to 2026-01-15T23:59:59.999Z is not on the 15-minute grid; use 2026-01-15T23:45:00.000Z or 2026-01-16T00:00:00.000Z/,
    );
    assert.throws(() => auditReadings({ ...base, from: TO, to: FROM }), /before it starts/);
    assert.throws(() => auditReadings({ ...base, meterId: 'meter-1' }), TypeError);
    const i = rowIndex(rows, METER, at(5));
    rows[i] = { ...rows[i]!, values: { voltage_a: 1 } };
    assert.throws(() => auditReadings(base), /values.voltage_a is not a decoded column/);
  });
});
